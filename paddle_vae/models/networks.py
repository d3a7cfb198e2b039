"""Networks from a `ModelConfig`: the training network, or the generation network a bundle rebuilds.

The config's `model` picks the VAE or its like-for-like language model; this is the one place that maps
it onto the classes.
"""
import paddle

from ..config import ModelConfig
from .lm import LMInferModel, LSTMLanguageModel
from .vae import TrainingOptions, VAESeq2SeqInferModel, VAESeq2SeqModel


def build_network(cfg: ModelConfig, options: TrainingOptions = TrainingOptions()) -> paddle.nn.Layer:
    """The training network: the VAE, or with model "lm" its language model. `options` are training-only,
    not part of the saved architecture."""
    return (LSTMLanguageModel if cfg.model == "lm" else VAESeq2SeqModel)(cfg, options)


def build_infer_network(cfg: ModelConfig, **decode) -> paddle.nn.Layer:
    """The generation network (`decode`: beam_size, max_out_len, decode_strategy, temperature): the VAE's,
    which decodes from z, or an LM bundle's, which decodes from nothing."""
    return (LMInferModel if cfg.model == "lm" else VAESeq2SeqInferModel)(cfg, **decode)
