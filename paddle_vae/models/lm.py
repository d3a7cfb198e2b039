"""The like-for-like language model: the VAE's decoder with no encoder and no z.

Same embedding, decoder (the LSTM's input size embed_dim instead of embed_dim + latent_size), dropout and
output layer as `VAESeq2SeqModel`, started from a zero state. Its NLL is exact, so it is the number a
VAE's IW-NLL must match for the latent to come for free. It keeps the VAE's training interface
(`forward` returns a `VAEOutput` whose KL terms are zero), so the same loss, trainer, bundles and
evaluation serve both; `is_lm` tells the estimators that there is no posterior. With
`decoder="transformer"` the decoder is the VAE-Transformer's, with no memory. `LMInferModel` generates
from it as `VAESeq2SeqInferModel` does from the VAE, from a zero state instead of z.
"""
from typing import List

import paddle
import paddle.nn as nn

from ..config import MAX_POSITIONS, ModelConfig
from .decoding import Generates
from .vae import TrainingOptions, VAEOutput, build_decoder, drop_words


class LSTMLanguageModel(nn.Layer):
    """The language model a VAE is judged against: the VAE's decoder (LSTM or Transformer, by `cfg.decoder`) with
    no z, behind the VAE's training interface, so the same loss, trainer and bundles serve it."""

    is_lm = True
    latent_size = 0

    def __init__(self, cfg: ModelConfig, options: TrainingOptions = TrainingOptions(),
                 max_positions: int = MAX_POSITIONS):
        super().__init__()
        self.config, self.options = cfg, options
        self.vocab_size = cfg.vocab_size
        self.decoder = build_decoder(cfg, 0, max_positions)  # a Transformer is decoder-only: no memory

    def trg_mask(self, trg: paddle.Tensor) -> paddle.Tensor:
        return paddle.cast(trg != self.config.pad_id, "float32")

    def decode_hidden(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: None = None) -> paddle.Tensor:
        """Top-layer outputs at non-pad positions, [num_words, H], as the VAE's `decode_hidden`."""
        return self.decoder.hidden(trg, trg_length, trg_mask, None, None)

    def decode_logits(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: None = None) -> paddle.Tensor:
        """Logits at non-pad positions, [num_words, V], as the VAE's fused decoder returns them."""
        return self.decoder.output_fc(self.decode_hidden(trg, trg_length, trg_mask))

    def forward(self, src: paddle.Tensor, src_length: paddle.Tensor, trg: paddle.Tensor,
                trg_length: paddle.Tensor) -> VAEOutput:
        trg_mask = self.trg_mask(trg)
        options = self.options
        if self.training and options.word_dropout > 0:
            trg = drop_words(trg, options.word_dropout, self.config.pad_id, options.unk_id)
        no_kl = paddle.zeros([], dtype="float32")
        return VAEOutput(no_kl, self.decode_logits(trg, trg_length, trg_mask), trg_mask, no_kl)


class LMInferModel(Generates, LSTMLanguageModel):
    """Generation from the language model: forward(start_ids) returns ids [B, T] for B sentences.

    `start_ids` [B, 1] holds one <bos> per sentence; the LM has no z, so this is what says how many. Its
    samples are the baseline a VAE's prior samples are read beside."""

    def __init__(self, cfg: ModelConfig, *, beam_size: int = 1, max_out_len: int = 100,
                 decode_strategy: str = "sampling", temperature: float = 1.0):
        super().__init__(cfg, max_positions=max(MAX_POSITIONS, max_out_len))
        self.init_generation(cfg, beam_size, max_out_len, decode_strategy, temperature)

    def initial_cell_states(self, batch_size: int) -> List:
        """The decoder cell's states at step 0: zero LSTM (h, c) per layer, or the Transformer's empty caches."""
        if self.config.decoder == "transformer":
            return self.decoder.initial_cell_states(batch_size, max_steps=self.max_out_len)
        zeros = paddle.zeros([batch_size, self.config.hidden_size], dtype="float32")
        return [[zeros, zeros] for _ in range(self.config.num_layers)]

    def forward(self, start_ids: paddle.Tensor) -> paddle.Tensor:
        return self.generate(self.initial_cell_states(start_ids.shape[0]))
