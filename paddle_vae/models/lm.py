"""The like-for-like language model: the VAE's decoder with no encoder and no z.

Same embedding, decoder LSTM (input size embed_dim instead of embed_dim +
latent_size), dropout and output layer as `VAESeq2SeqModel`, started from a
zero state. Its NLL is exact, so it is the number a VAE's IW-NLL must match
for the latent to come for free. It keeps the VAE's training interface
(`forward` returns a zero `kl_loss`), so the same loss, trainer, bundles and
evaluation serve both; `is_lm` tells the estimators that there is no posterior.
With `decoder="transformer"` the decoder is the VAE-Transformer's, with no memory.
`LMInferModel` generates from it as `VAESeq2SeqInferModel` does from the VAE, from a zero state instead of z.
"""
from typing import Any, Dict, List, Optional

import paddle
import paddle.nn as nn

from ..config import MAX_POSITIONS
from .decoding import Generates
from .vae import LSTMDecoder, drop_words
from .transformer import TransformerDecoder


class LSTMLanguageModel(nn.Layer):
    is_lm = True

    def __init__(self, embed_dim: int, hidden_size: int, vocab_size: int, num_layers: int = 1,
                 init_scale: float = 0.1, PAD_ID: int = 0, dec_dropout: float = 0.0, word_dropout: float = 0.0,
                 UNK_ID: int = 3, decoder: str = "lstm",
                 transformer: Optional[Dict[str, Any]] = None, max_positions: int = MAX_POSITIONS,
                 tie_embeddings: bool = False):
        super().__init__()
        self.embed_dim, self.hidden_size, self.latent_size = embed_dim, hidden_size, 0
        self.vocab_size, self.num_layers = vocab_size, num_layers
        self.PAD_ID, self.UNK_ID, self.word_dropout = PAD_ID, UNK_ID, word_dropout
        self.kl_true = None
        if decoder == "transformer":  # a decoder-only Transformer: causal self-attention, no memory
            self.decoder = TransformerDecoder(vocab_size, embed_dim, 0, init_scale=init_scale, max_len=max_positions,
                                              **(transformer or {}))
        else:
            self.decoder = LSTMDecoder(vocab_size, embed_dim, hidden_size, 0, num_layers, init_scale, dec_dropout,
                                       tie_embeddings)

    def trg_mask(self, trg: paddle.Tensor) -> paddle.Tensor:
        return paddle.cast(trg != self.PAD_ID, "float32")

    def decode_logits(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: None = None, return_hidden: bool = False) -> paddle.Tensor:
        """Logits at non-pad positions, [num_words, V], as the VAE's fused decoder returns them."""
        return self.decoder.forward_fused(trg, trg_length, trg_mask, None, None, return_hidden)

    def forward(self, src, src_length, trg, trg_length):
        trg_mask = self.trg_mask(trg)
        if self.training and self.word_dropout > 0:
            trg = drop_words(trg, self.word_dropout, self.PAD_ID, self.UNK_ID)
        kl_loss = paddle.zeros([], dtype="float32")
        self.kl_true = kl_loss
        return kl_loss, self.decode_logits(trg, trg_length, trg_mask), trg_mask


class LMInferModel(Generates, LSTMLanguageModel):
    """Generation from the language model: forward(start_ids) returns ids [B, T] for B sentences.

    `start_ids` [B, 1] holds one <bos> per sentence; the LM has no z, so this is what says how many. Its
    samples are the baseline a VAE's prior samples are read beside."""

    def __init__(self, embed_dim: int, hidden_size: int, vocab_size: int, num_layers: int = 1,
                 init_scale: float = 0.1, PAD_ID: int = 0, start_token: int = 1, end_token: int = 2,
                 beam_size: int = 1, max_out_len: int = 100, decode_strategy: str = "sampling",
                 temperature: float = 1.0, dec_dropout: float = 0.0, decoder: str = "lstm",
                 transformer: Optional[Dict[str, Any]] = None, tie_embeddings: bool = False):
        super().__init__(embed_dim, hidden_size, vocab_size, num_layers, init_scale, PAD_ID, dec_dropout,
                         decoder=decoder, transformer=transformer, max_positions=max(MAX_POSITIONS, max_out_len),
                         tie_embeddings=tie_embeddings)
        self.decoder_kind = decoder
        self.init_generation(vocab_size, PAD_ID, start_token, end_token, beam_size, max_out_len, decode_strategy,
                             temperature)

    def initial_cell_states(self, batch_size: int) -> List:
        """The decoder cell's states at step 0: zero LSTM (h, c) per layer, or the Transformer's empty caches."""
        if self.decoder_kind == "transformer":
            return self.decoder.initial_cell_states(batch_size, max_steps=self.max_out_len)
        zeros = paddle.zeros([batch_size, self.hidden_size], dtype="float32")
        return [[zeros, zeros] for _ in range(self.num_layers)]

    def forward(self, start_ids: paddle.Tensor) -> paddle.Tensor:
        return self.generate(self.initial_cell_states(start_ids.shape[0]))
