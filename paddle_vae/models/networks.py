"""Networks from a `ModelConfig`: the training model, or the generation model a bundle rebuilds.

The model classes keep the reference's constructor signatures; this is the one
place that maps a config onto them.
"""
import paddle

from ..config import ModelConfig
from .lm import LMInferModel, LSTMLanguageModel
from .vae import VAESeq2SeqInferModel, VAESeq2SeqModel


def _common(cfg: ModelConfig) -> dict:
    if cfg.decoder == "transformer":  # the Transformer takes tying with its own options
        return dict(decoder=cfg.decoder, transformer=cfg.transformer_kwargs())
    return dict(decoder=cfg.decoder, transformer=None, tie_embeddings=cfg.tie_embeddings)


def build_network(cfg: ModelConfig, decoder_impl: str = "fused", word_dropout: float = 0.0, unk_id: int = 3,
                  free_bits: float = 0.0, fb_mode: str = "batch") -> paddle.nn.Layer:
    """The training network: the VAE, or with model "lm" its like-for-like language model.

    The keyword arguments are training-only options, not part of the saved architecture."""
    if cfg.model == "lm":
        return LSTMLanguageModel(cfg.embed_dim, cfg.hidden_size, cfg.vocab_size, cfg.num_layers, cfg.init_scale,
                                 cfg.pad_id, cfg.dec_dropout, word_dropout, unk_id, **_common(cfg))
    return VAESeq2SeqModel(cfg.embed_dim, cfg.hidden_size, cfg.latent_size, cfg.vocab_size, cfg.num_layers,
                           cfg.init_scale, cfg.pad_id, cfg.enc_dropout, cfg.dec_dropout, decoder_impl, word_dropout,
                           unk_id, free_bits, fb_mode, cfg.bn_vae, **_common(cfg))


def build_infer_network(cfg: ModelConfig, **decode) -> paddle.nn.Layer:
    """The generation network (`decode`: beam_size, max_out_len, decode_strategy, temperature): the VAE's,
    which decodes from z, or an LM bundle's, which decodes from nothing."""
    if cfg.model == "lm":
        return LMInferModel(cfg.embed_dim, cfg.hidden_size, cfg.vocab_size, cfg.num_layers, cfg.init_scale,
                            cfg.pad_id, start_token=cfg.bos_id, end_token=cfg.eos_id, dec_dropout=cfg.dec_dropout,
                            **_common(cfg), **decode)
    return VAESeq2SeqInferModel(cfg.embed_dim, cfg.hidden_size, cfg.latent_size, cfg.vocab_size, cfg.num_layers,
                                cfg.init_scale, cfg.pad_id, start_token=cfg.bos_id, end_token=cfg.eos_id,
                                enc_dropout=cfg.enc_dropout, dec_dropout=cfg.dec_dropout, bn_vae=cfg.bn_vae,
                                **_common(cfg), **decode)
