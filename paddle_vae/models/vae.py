"""The LSTM VAE of Bowman et al. 2015, shaped and named like PaddleNLP's vae-seq2seq.

encoder LSTM over src_length -> q(z|x) = N(mean, exp(logvar)) -> z
-> decoder LSTM whose initial state is fc(z) and whose every input step is
[embedding; z] -> output_fc -> logits.

The decoder keeps one set of LSTM weights and two ways to run them: the
fused `nn.LSTM` kernel for teacher forcing (fast), and a step cell over the
same parameters for `nn.RNN` (the reference's shape, `decoder_impl="cell"`)
and for `paddle.nn.dynamic_decode` at generation time.
"""
from typing import Any, Dict, List, Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn import initializer as I

from ..config import MAX_POSITIONS
from .decoding import Generates
from .layers import Linear, TiedOutput
from .transformer import TransformerDecoder


def _uniform(init_scale: float):
    """The reference initialises embeddings and linear weights U(-init_scale, init_scale)."""
    return paddle.ParamAttr(initializer=I.Uniform(-init_scale, init_scale)) if init_scale > 0 else None


def _fixed_scale_batch_norm(latent_size: int, gamma: float) -> nn.BatchNorm1D:
    """BN-VAE (Zhu et al. 2020): batch-normalise the posterior mean with a fixed scale `gamma` (learnt shift),
    which keeps E[KL] >= latent_size * gamma**2 / 2 nats, so the KL cannot collapse to zero."""
    return nn.BatchNorm1D(latent_size, weight_attr=paddle.ParamAttr(initializer=I.Constant(gamma), trainable=False),
                          bias_attr=paddle.ParamAttr(initializer=I.Constant(0.0)))


def drop_words(trg: paddle.Tensor, rate: float, pad_id: int, unk_id: int) -> paddle.Tensor:
    """Bowman et al.'s word dropout: hide decoder input words behind UNK so the decoder must lean on z."""
    not_bos = (paddle.arange(trg.shape[1]) > 0).unsqueeze(0)
    hide = (paddle.rand(trg.shape) < rate) & (trg != pad_id) & not_bos
    return paddle.where(hide, paddle.full_like(trg, unk_id), trg)


class LSTMEncoder(nn.Layer):
    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int, init_scale: float,
                 dropout: float):
        super().__init__()
        self.src_embedder = nn.Embedding(vocab_size, embed_dim, weight_attr=_uniform(init_scale))
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, src: paddle.Tensor, src_length: paddle.Tensor) -> paddle.Tensor:
        """Final (h, c) of every layer, concatenated: [B, 2 * hidden * layers]."""
        emb = self.src_embedder(src)
        if self.dropout is not None:
            emb = self.dropout(emb)
        _, (h, c) = self.lstm(emb, sequence_length=src_length)
        return paddle.concat([paddle.concat([h[i], c[i]], axis=-1) for i in range(h.shape[0])], axis=-1)


class LSTMDecoderCell(nn.RNNCellBase):
    """One decoder step over the fused LSTM's own per-layer cells: [input; z] -> layers -> output.

    The cells are the ones `nn.LSTM` already holds and shares weights with,
    so both paths read the same parameters. Dropout is applied once to each
    layer's output (the reference applied it twice to the top layer).
    """

    def __init__(self, lstm: nn.LSTM, dropout: float):
        super().__init__()
        self._lstm = [lstm]  # a list, so the parameters stay owned (and saved) by the LSTM alone
        self.dropout = dropout
        self.num_layers = lstm.num_layers
        self.hidden_size = lstm.hidden_size

    @property
    def state_shape(self):
        return [[(self.hidden_size,), (self.hidden_size,)] for _ in range(self.num_layers)]

    def forward(self, step_input: paddle.Tensor, states: List, latent_z: Optional[paddle.Tensor] = None):
        lstm = self._lstm[0]
        x = step_input if latent_z is None else paddle.concat([step_input, latent_z], axis=-1)
        new_states = []
        for i in range(self.num_layers):
            x, state = lstm[i].cell(x, states[i])
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, training=lstm.training)
            new_states.append(state)
        return x, new_states


class LSTMDecoder(nn.Layer):
    """Embedding, LSTM over [embedding; z] and output layer."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, latent_size: int, num_layers: int,
                 init_scale: float, dropout: float, tie_embeddings: bool = False):
        super().__init__()
        if tie_embeddings and hidden_size != embed_dim:
            raise ValueError(f"tie_embeddings needs hidden_size ({hidden_size}) == embed_dim ({embed_dim})")
        self.trg_embedder = nn.Embedding(vocab_size, embed_dim, weight_attr=_uniform(init_scale))
        self.lstm = nn.LSTM(embed_dim + latent_size, hidden_size, num_layers=num_layers, dropout=dropout)
        self.cell = LSTMDecoderCell(self.lstm, dropout)
        if tie_embeddings:  # the reference's output bias is kept
            self.output_fc = TiedOutput(self.trg_embedder, bias=True)
        else:
            self.output_fc = Linear(hidden_size, vocab_size, weight_attr=_uniform(init_scale))
        self.dropout = dropout

    def embed(self, trg: paddle.Tensor) -> paddle.Tensor:
        emb = self.trg_embedder(trg)
        return F.dropout(emb, self.dropout, training=self.training) if self.dropout > 0 else emb

    def forward_fused(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: paddle.Tensor, init_states: Tuple[paddle.Tensor, paddle.Tensor],
                      return_hidden: bool = False) -> paddle.Tensor:
        """Logits at non-pad positions only, [num_words, V], in row-major (batch, time) order
        (the hidden rows, [num_words, hidden], with `return_hidden`: the metrics' folded scorer)."""
        emb = self.embed(trg)
        if latent_z is not None:  # None: the language model, which has no z
            z = paddle.expand(latent_z.unsqueeze(1), [emb.shape[0], emb.shape[1], latent_z.shape[-1]])
            emb = paddle.concat([emb, z], axis=-1)
        out, _ = self.lstm(emb, initial_states=init_states, sequence_length=trg_length)
        if self.dropout > 0:
            out = F.dropout(out, self.dropout, training=self.training)
        hidden = paddle.gather_nd(out, paddle.nonzero(trg_mask))
        return hidden if return_hidden else self.output_fc(hidden)

    def forward_cell(self, trg: paddle.Tensor, latent_z: paddle.Tensor,
                     init_states: Tuple[paddle.Tensor, paddle.Tensor]) -> paddle.Tensor:
        """The reference's path: a per-step cell loop and logits at every padded position, [B, T, V]."""
        h, c = init_states
        states = [[h[i], c[i]] for i in range(h.shape[0])]
        out, _ = nn.RNN(self.cell)(self.embed(trg), initial_states=states, latent_z=latent_z)
        return self.output_fc(out)


class VAESeq2SeqModel(nn.Layer):
    """Training model: forward(src, src_length, trg, trg_length) -> (kl_loss, dec_output, trg_mask).

    `dec_output` is [B, T, V] logits with decoder_impl="cell" (the reference's
    layout) and [num_words, V] logits at the unmasked positions with the
    default "fused"; `CrossEntropyWithKL` accepts either.
    """

    def __init__(self, embed_dim: int, hidden_size: int, latent_size: int, vocab_size: int, num_layers: int = 1,
                 init_scale: float = 0.1, PAD_ID: int = 0, enc_dropout: float = 0.0, dec_dropout: float = 0.0,
                 decoder_impl: str = "fused", word_dropout: float = 0.0, UNK_ID: int = 3, free_bits: float = 0.0,
                 fb_mode: str = "batch", bn_vae: float = 0.0, decoder: str = "lstm",
                 transformer: Optional[Dict[str, Any]] = None, max_positions: int = MAX_POSITIONS,
                 tie_embeddings: bool = False):
        super().__init__()
        if fb_mode not in ("batch", "sentence"):
            raise ValueError(f"fb_mode must be 'batch' or 'sentence', got {fb_mode!r}")
        if decoder_impl not in ("fused", "cell"):
            raise ValueError(f"decoder_impl must be 'fused' or 'cell', got {decoder_impl!r}")
        self.embed_dim, self.hidden_size, self.latent_size = embed_dim, hidden_size, latent_size
        self.vocab_size, self.num_layers = vocab_size, num_layers
        self.PAD_ID, self.UNK_ID = PAD_ID, UNK_ID
        self.word_dropout, self.free_bits, self.fb_mode = word_dropout, free_bits, fb_mode
        self.kl_true: Optional[paddle.Tensor] = None  # batch-mean true KL of the last forward, for logging
        self.decoder_impl = decoder_impl
        self.encoder = LSTMEncoder(vocab_size, embed_dim, hidden_size, num_layers, init_scale, enc_dropout)
        self.distributed_fc = Linear(2 * hidden_size * num_layers, 2 * latent_size,
                                     weight_attr=_uniform(init_scale))
        self.mean_bn = _fixed_scale_batch_norm(latent_size, bn_vae) if bn_vae > 0 else None
        self.decoder_kind = decoder
        if decoder == "transformer":  # z enters as cross-attention memory: no initial state, no fc
            if decoder_impl != "fused":
                raise ValueError("the Transformer decoder has one implementation: decoder_impl 'fused'")
            self.fc = None
            self.decoder = TransformerDecoder(vocab_size, embed_dim, latent_size, init_scale=init_scale,
                                              max_len=max_positions, **(transformer or {}))
            return
        self.fc = Linear(latent_size, 2 * hidden_size * num_layers, weight_attr=_uniform(init_scale))
        self.decoder = LSTMDecoder(vocab_size, embed_dim, hidden_size, latent_size, num_layers, init_scale,
                                   dec_dropout, tie_embeddings)

    def encode(self, src: paddle.Tensor, src_length: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Posterior parameters (mean, logvar), each [B, latent_size]."""
        z_mean, z_log_var = paddle.split(self.distributed_fc(self.encoder(src, src_length)), 2, axis=-1)
        if self.mean_bn is not None:
            z_mean = self.mean_bn(z_mean)
        return z_mean, z_log_var

    @staticmethod
    def reparameterize(z_mean: paddle.Tensor, z_log_var: paddle.Tensor, num_samples: Optional[int] = None
                       ) -> paddle.Tensor:
        shape = z_mean.shape if num_samples is None else [num_samples] + z_mean.shape
        eps = paddle.normal(shape=shape)
        return z_mean + paddle.exp(0.5 * z_log_var) * eps

    @staticmethod
    def kl_divergence(z_mean: paddle.Tensor, z_log_var: paddle.Tensor, per_dim: bool = False) -> paddle.Tensor:
        """KL(q(z|x) || N(0, I)) per sentence, [B] (or [B, latent_size] with per_dim)."""
        kl = -0.5 * (1.0 + z_log_var - z_mean * z_mean - paddle.exp(z_log_var))
        return kl if per_dim else paddle.sum(kl, axis=-1)

    def kl_objective(self, z_mean: paddle.Tensor, z_log_var: paddle.Tensor) -> paddle.Tensor:
        """Batch-mean KL; in training with free bits, z is not pushed all the way to the prior.

        fb_mode "batch" floors each dimension's batch-mean KL at `free_bits` nats (Kingma et al. 2016);
        "sentence" drops each sentence's dimensions whose KL is under `free_bits` (Li et al. 2019's fb=2,
        whose threshold is target_kl / latent_size). Evaluation always gets the true KL; `kl_true` keeps
        it for the training log.
        """
        kl = self.kl_divergence(z_mean, z_log_var, per_dim=True)
        true_kl = paddle.mean(paddle.sum(kl, axis=-1))
        self.kl_true = true_kl.detach()
        if not (self.training and self.free_bits > 0):
            return true_kl
        if self.fb_mode == "sentence":
            kept = paddle.cast(kl > self.free_bits, kl.dtype)
            return paddle.mean(paddle.sum(kl * kept, axis=-1))
        return paddle.sum(paddle.clip(paddle.mean(kl, axis=0), min=self.free_bits))

    def initial_states(self, latent_z: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """LSTM decoder (h, c), each [layers, B, hidden], from z."""
        hc = self.fc(latent_z).reshape([-1, self.num_layers, 2, self.hidden_size])
        hc = paddle.transpose(hc, [2, 1, 0, 3])
        return hc[0], hc[1]

    def decode_logits(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: paddle.Tensor, return_hidden: bool = False) -> paddle.Tensor:
        """Teacher-forced logits (or, fused decoder only, the hidden rows that the output layer would score)."""
        if self.decoder_kind == "transformer":
            return self.decoder.forward_fused(trg, trg_length, trg_mask, latent_z, None, return_hidden)
        init_states = self.initial_states(latent_z)
        if self.decoder_impl == "cell":
            return self.decoder.forward_cell(trg, latent_z, init_states)
        return self.decoder.forward_fused(trg, trg_length, trg_mask, latent_z, init_states, return_hidden)

    def trg_mask(self, trg: paddle.Tensor) -> paddle.Tensor:
        return paddle.cast(trg != self.PAD_ID, "float32")

    def drop_words(self, trg: paddle.Tensor) -> paddle.Tensor:
        return drop_words(trg, self.word_dropout, self.PAD_ID, self.UNK_ID)

    def forward(self, src, src_length, trg, trg_length):
        z_mean, z_log_var = self.encode(src, src_length)
        latent_z = self.reparameterize(z_mean, z_log_var)
        kl_loss = self.kl_objective(z_mean, z_log_var)
        trg_mask = self.trg_mask(trg)
        if self.training and self.word_dropout > 0:
            trg = self.drop_words(trg)
        dec_output = self.decode_logits(trg, trg_length, trg_mask, latent_z)
        return kl_loss, dec_output, trg_mask


class VAESeq2SeqInferModel(Generates, VAESeq2SeqModel):
    """Generation model: decodes from z with `paddle.nn.dynamic_decode(..., latent_z=...)`.

    forward(latent_z) returns ids [B, T] (the best beam for beam search);
    decoding starts at <bos> and stops at <eos>.
    """

    def __init__(self, embed_dim: int, hidden_size: int, latent_size: int, vocab_size: int, num_layers: int = 1,
                 init_scale: float = 0.1, PAD_ID: int = 0, start_token: int = 1, end_token: int = 2,
                 beam_size: int = 1, max_out_len: int = 100, decode_strategy: str = "sampling",
                 temperature: float = 1.0, enc_dropout: float = 0.0, dec_dropout: float = 0.0, bn_vae: float = 0.0,
                 decoder: str = "lstm", transformer: Optional[Dict[str, Any]] = None,
                 tie_embeddings: bool = False):
        # The dropouts are accepted so a bundle's config builds either model; generation runs in eval mode.
        super().__init__(embed_dim, hidden_size, latent_size, vocab_size, num_layers, init_scale, PAD_ID,
                         enc_dropout, dec_dropout, bn_vae=bn_vae, decoder=decoder, transformer=transformer,
                         max_positions=max(MAX_POSITIONS, max_out_len), tie_embeddings=tie_embeddings)
        self.init_generation(vocab_size, PAD_ID, start_token, end_token, beam_size, max_out_len, decode_strategy,
                             temperature)

    def sample_prior(self, batch_size: int) -> paddle.Tensor:
        return paddle.normal(shape=[batch_size, self.latent_size])

    def initial_cell_states(self, latent_z: paddle.Tensor) -> List:
        """The decoder cell's states at step 0: LSTM (h, c) per layer from fc(z), or the Transformer's caches."""
        if self.decoder_kind == "transformer":
            return self.decoder.initial_cell_states(latent_z, max_steps=self.max_out_len)
        h, c = self.initial_states(latent_z)
        return [[h[i], c[i]] for i in range(self.num_layers)]

    def forward(self, latent_z):
        return self.generate(self.initial_cell_states(latent_z), latent_z)
