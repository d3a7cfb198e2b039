"""`ModelConfig`: the one place a network's hyperparameters are listed.

Training builds it from the flags (`from_args`), writes it into every bundle's
config.json (`to_json`), and everything that loads a bundle rebuilds the
network from it (`from_bundle`). A new hyperparameter is a new field here with
a default, which also lets older bundles, written before it existed, load.
"""
import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List

from .errors import CheckpointError

DECODERS = ("lstm", "transformer")
Z_PATHS = ("memory", "memory+embed")  # how z reaches the Transformer decoder (transformer.py)
# The Transformer's position table is not saved, so its size only bounds sentence length: --max_len's default
# 1280 tokens, plus <bos> and <eos>.
MAX_POSITIONS = 1282


@dataclass
class ModelConfig:
    vocab_size: int
    embed_dim: int = 256
    hidden_size: int = 256
    latent_size: int = 32
    num_layers: int = 1
    init_scale: float = 0.1
    enc_dropout: float = 0.0
    dec_dropout: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    unk_token: str = "<unk>"
    model: str = "vae"  # "lm": the decoder alone, the like-for-like language model
    bn_vae: float = 0.0
    decoder: str = "lstm"
    # The Transformer decoder (Texar's VAE-Transformer); unused by the LSTM.
    num_blocks: int = 3
    num_heads: int = 8
    ffn_size: int = 1024
    trans_dropout: float = 0.2
    z_path: str = "memory"
    # The output layer reads the decoder's embedding table, transposed (Press & Wolf 2017; Texar's vae_text).
    tie_embeddings: bool = False
    # Bias on the Transformer's attention projections (Texar's have none).
    attn_bias: bool = True

    # What a resumed bundle must agree on: the fields that decide which weights exist and their shapes.
    SHAPE = ("embed_dim", "hidden_size", "latent_size", "num_layers", "model", "decoder", "num_blocks", "num_heads",
             "ffn_size", "z_path", "tie_embeddings", "attn_bias")

    @classmethod
    def from_args(cls, args: argparse.Namespace, vocab_size: int, pad_id: int, bos_id: int, eos_id: int,
                  unk_token: str) -> "ModelConfig":
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**dict(values, vocab_size=vocab_size, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id,
                          unk_token=unk_token))

    @classmethod
    def from_bundle(cls, config: Dict[str, Any]) -> "ModelConfig":
        """From a bundle's config.json; keys it predates take their defaults (the values of that time)."""
        names = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in config.items() if k in names})
        if cfg.decoder not in DECODERS:
            raise CheckpointError(f"unknown decoder {cfg.decoder!r} in the bundle's config (known: {DECODERS})")
        return cfg

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    def shape_mismatches(self, other: "ModelConfig") -> List[str]:
        """`--name value (bundle: value)` for each SHAPE field that differs: one cannot resume as the other."""
        return [f"--{k} {getattr(self, k)} (bundle: {getattr(other, k)})" for k in self.SHAPE
                if getattr(self, k) != getattr(other, k)]

    def transformer_kwargs(self) -> Dict[str, Any]:
        return dict(num_blocks=self.num_blocks, num_heads=self.num_heads, ffn_size=self.ffn_size,
                    dropout=self.trans_dropout, z_path=self.z_path,
                    tie_embeddings=self.tie_embeddings, attn_bias=self.attn_bias)
