"""The text VAE of Bowman et al. 2015, shaped and named like PaddleNLP's vae-seq2seq.

    encoder (lstm.LSTMEncoder) over src           -> q(z|x) = N(mean, exp(logvar)) -> z
    decoder over [<bos>, words] given z           -> logits of [words, <eos>]

The decoder is the LSTM one (`lstm.LSTMDecoder`: initial state fc(z), z concatenated to every input
step) or Texar's Transformer (`transformer.TransformerDecoder`: z as cross-attention memory).
`VAESeq2SeqModel` is the training network: forward returns a `VAEOutput`, what `CrossEntropyWithKL`
needs. `VAESeq2SeqInferModel` generates from z with `paddle.nn.dynamic_decode(..., latent_z=...)`.
"""
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple

import paddle
import paddle.nn as nn
from paddle.nn import initializer as I

from ..config import MAX_POSITIONS, ModelConfig
from .decoding import Generates
from .layers import Linear
from .lstm import LSTMDecoder, LSTMEncoder, uniform_init
from .transformer import TransformerDecoder

IMPLS = ("fused", "cell")
FB_MODES = ("batch", "sentence")


@dataclass(frozen=True)
class TrainingOptions:
    """How the training network behaves beyond its architecture; none of it is saved in a bundle.

    decoder_impl  "fused" (the LSTM kernel over the batch, logits at non-pad positions) or "cell" (the
                  reference's per-step loop, logits at every padded position); the same weights either way
    word_dropout  Bowman et al.: the share of decoder input words hidden behind UNK (`unk_id`) in training
    free_bits     the KL floor in nats ("batch": per dimension of the batch mean, Kingma et al. 2016;
                  "sentence": each sentence's dimensions under it are dropped, Li et al. 2019) (`fb_mode`)
    """

    decoder_impl: str = "fused"
    word_dropout: float = 0.0
    unk_id: int = 3
    free_bits: float = 0.0
    fb_mode: str = "batch"

    def __post_init__(self):
        if self.fb_mode not in FB_MODES:
            raise ValueError(f"fb_mode must be 'batch' or 'sentence', got {self.fb_mode!r}")
        if self.decoder_impl not in IMPLS:
            raise ValueError(f"decoder_impl must be 'fused' or 'cell', got {self.decoder_impl!r}")


class VAEOutput(NamedTuple):
    """One teacher-forced pass, what `CrossEntropyWithKL` needs. A tuple: `paddle.Model` hands its fields on
    to the loss as loss(*output, label), and the reference's first three fields come first.

    kl_objective  the batch-mean KL term the loss optimises (with free bits in training, the floored one)
    logits        [num_words, V] at the non-pad positions, row-major over (batch, time) ("fused"),
                  or [B, T, V] at every position ("cell")
    trg_mask      [B, T], 1 at the predicted tokens (words and <eos>), 0 at padding
    kl            the batch-mean true KL, detached: what the log and the metrics report
    """

    kl_objective: paddle.Tensor
    logits: paddle.Tensor
    trg_mask: paddle.Tensor
    kl: paddle.Tensor


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


def build_decoder(cfg: ModelConfig, latent_size: int, max_positions: int = MAX_POSITIONS) -> nn.Layer:
    """The config's decoder (`latent_size` 0: the language model's, which has no z)."""
    if cfg.decoder == "transformer":
        return TransformerDecoder(cfg, latent_size, max_len=max_positions)
    return LSTMDecoder(cfg, latent_size)


def z_to_state_layer(cfg: ModelConfig) -> Linear:
    """fc: z -> the LSTM decoder's initial (h, c) of every layer."""
    return Linear(cfg.latent_size, 2 * cfg.hidden_size * cfg.num_layers, weight_attr=uniform_init(cfg.init_scale))


class VAESeq2SeqModel(nn.Layer):
    """Training model: forward(src, src_length, trg, trg_length) -> `VAEOutput`."""

    is_lm = False

    def __init__(self, cfg: ModelConfig, options: TrainingOptions = TrainingOptions(),
                 max_positions: int = MAX_POSITIONS):
        super().__init__()
        self.config, self.options = cfg, options
        self.vocab_size, self.latent_size, self.decoder_impl = cfg.vocab_size, cfg.latent_size, options.decoder_impl
        self.encoder = LSTMEncoder(cfg)
        self.distributed_fc = Linear(2 * cfg.hidden_size * cfg.num_layers, 2 * cfg.latent_size,
                                     weight_attr=uniform_init(cfg.init_scale))
        self.mean_bn = _fixed_scale_batch_norm(cfg.latent_size, cfg.bn_vae) if cfg.bn_vae > 0 else None
        if cfg.decoder == "transformer" and options.decoder_impl != "fused":
            raise ValueError("the Transformer decoder has one implementation: decoder_impl 'fused'")
        # The Transformer takes z as cross-attention memory: no initial state, no fc.
        self.fc = z_to_state_layer(cfg) if cfg.decoder == "lstm" else None
        self.decoder = build_decoder(cfg, cfg.latent_size, max_positions)

    # -- encoder -> latent ------------------------------------------------------
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

    def kl_terms(self, z_mean: paddle.Tensor, z_log_var: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """(objective, true): the batch-mean KL the loss optimises, and the true batch-mean KL.

        In training with free bits the objective does not push z all the way to the prior: fb_mode "batch"
        floors each dimension's batch-mean KL at `free_bits` nats; "sentence" drops each sentence's
        dimensions whose KL is under `free_bits` (Li et al. 2019's fb=2, whose threshold is
        target_kl / latent_size). Otherwise, and always in evaluation, the two are the same.
        """
        kl = self.kl_divergence(z_mean, z_log_var, per_dim=True)
        true_kl = paddle.mean(paddle.sum(kl, axis=-1))
        free_bits = self.options.free_bits
        if not (self.training and free_bits > 0):
            return true_kl, true_kl
        if self.options.fb_mode == "sentence":
            kept = paddle.cast(kl > free_bits, kl.dtype)
            return paddle.mean(paddle.sum(kl * kept, axis=-1)), true_kl
        return paddle.sum(paddle.clip(paddle.mean(kl, axis=0), min=free_bits)), true_kl

    # -- decoder ------------------------------------------------------------------
    def initial_states(self, latent_z: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """LSTM decoder (h, c), each [layers, B, hidden], from z."""
        cfg = self.config
        hc = self.fc(latent_z).reshape([-1, cfg.num_layers, 2, cfg.hidden_size])
        hc = paddle.transpose(hc, [2, 1, 0, 3])
        return hc[0], hc[1]

    def decode_hidden(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: paddle.Tensor) -> paddle.Tensor:
        """Teacher-forced top-layer outputs at the non-pad positions, [num_words, H] (the fused pass), which
        `self.decoder.output_fc` scores."""
        init_states = self.initial_states(latent_z) if self.fc is not None else None
        return self.decoder.hidden(trg, trg_length, trg_mask, latent_z, init_states)

    def decode_logits(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: paddle.Tensor) -> paddle.Tensor:
        """Teacher-forced logits: [num_words, V] ("fused") or [B, T, V] ("cell"), as `VAEOutput.logits`."""
        if self.decoder_impl == "cell":
            return self.decoder.forward_cell(trg, latent_z, self.initial_states(latent_z))
        return self.decoder.output_fc(self.decode_hidden(trg, trg_length, trg_mask, latent_z))

    def trg_mask(self, trg: paddle.Tensor) -> paddle.Tensor:
        return paddle.cast(trg != self.config.pad_id, "float32")

    def drop_words(self, trg: paddle.Tensor) -> paddle.Tensor:
        return drop_words(trg, self.options.word_dropout, self.config.pad_id, self.options.unk_id)

    def forward(self, src: paddle.Tensor, src_length: paddle.Tensor, trg: paddle.Tensor,
                trg_length: paddle.Tensor) -> VAEOutput:
        z_mean, z_log_var = self.encode(src, src_length)
        latent_z = self.reparameterize(z_mean, z_log_var)
        kl_objective, true_kl = self.kl_terms(z_mean, z_log_var)
        trg_mask = self.trg_mask(trg)
        if self.training and self.options.word_dropout > 0:
            trg = self.drop_words(trg)
        logits = self.decode_logits(trg, trg_length, trg_mask, latent_z)
        return VAEOutput(kl_objective, logits, trg_mask, true_kl.detach())


class VAESeq2SeqInferModel(Generates, VAESeq2SeqModel):
    """Generation model: decodes from z with `paddle.nn.dynamic_decode(..., latent_z=...)`.

    forward(latent_z) returns ids [B, T] (the best beam for beam search);
    decoding starts at <bos> and stops at <eos>. Generation runs in eval mode, so the config's dropouts
    do nothing here.
    """

    def __init__(self, cfg: ModelConfig, *, beam_size: int = 1, max_out_len: int = 100,
                 decode_strategy: str = "sampling", temperature: float = 1.0):
        super().__init__(cfg, max_positions=max(MAX_POSITIONS, max_out_len))
        self.init_generation(cfg, beam_size, max_out_len, decode_strategy, temperature)

    def sample_prior(self, batch_size: int) -> paddle.Tensor:
        return paddle.normal(shape=[batch_size, self.latent_size])

    def initial_cell_states(self, latent_z: paddle.Tensor) -> List:
        """The decoder cell's states at step 0: LSTM (h, c) per layer from fc(z), or the Transformer's caches."""
        if self.fc is None:
            return self.decoder.initial_cell_states(latent_z, max_steps=self.max_out_len)
        h, c = self.initial_states(latent_z)
        return [[h[i], c[i]] for i in range(self.config.num_layers)]

    def forward(self, latent_z: paddle.Tensor) -> paddle.Tensor:
        return self.generate(self.initial_cell_states(latent_z), latent_z)
