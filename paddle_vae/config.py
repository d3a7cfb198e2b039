"""`ModelConfig`: the one place a network's hyperparameters are listed, with the schema a bundle must meet.

Training builds it from the flags (`from_args`), writes it into every bundle's
config.json (`to_json`), and everything that loads a bundle rebuilds the
network from it (`from_bundle`). A new hyperparameter is a new field here with
a default, so bundles written before it existed still load.

config.json comes from whoever shared the bundle, so `from_bundle` checks it
before anything is built: each field's type (strictly: no bool for an int, no
256.0, no "256"), its range, the known names, the special ids inside the
vocabulary, and (with `parameter_count`) the size the network will take, which
the reader compares with its memory budget. The types and ranges are written
once, in the field annotations, and pydantic checks them.
"""
import argparse
from dataclasses import MISSING, asdict, dataclass, fields
from functools import lru_cache
from typing import Annotated, Any, Dict, List, Literal, Tuple, get_args

from pydantic import ConfigDict, Field, ValidationError, create_model

from .errors import CheckpointError

Decoder = Literal["lstm", "transformer"]
ZPath = Literal["memory", "memory+embed"]  # how z reaches the Transformer decoder (transformer.py)
DECODERS: Tuple[str, ...] = get_args(Decoder)
Z_PATHS: Tuple[str, ...] = get_args(ZPath)
# The Transformer's position table is not saved, so its size only bounds sentence length: --max_len's default
# 1280 tokens, plus <bos> and <eos>.
MAX_POSITIONS = 1282
# Layers and blocks cost Python-side construction time whatever their size, so their number is capped too.
MAX_DEPTH = 256
# The float32 weights a bundle's config.json may declare before a reader builds anything (20x the PTB model);
# from_pretrained's max_bytes and the commands' --max_bundle_mb raise it.
DEFAULT_MAX_BYTES = 2 * 2 ** 30

Size = Annotated[int, Field(ge=1)]
Depth = Annotated[int, Field(ge=1, le=MAX_DEPTH)]
TokenId = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]  # a dropout probability
NonNegative = Annotated[float, Field(ge=0.0)]


@dataclass
class ModelConfig:
    """The hyperparameters that decide a network, as every bundle's config.json stores them; the annotations are
    the schema `from_bundle` holds a shared bundle to, so a type or range is written once."""
    vocab_size: Size
    embed_dim: Size = 256
    hidden_size: Size = 256
    latent_size: Size = 32
    num_layers: Depth = 1
    init_scale: NonNegative = 0.1
    enc_dropout: Rate = 0.0
    dec_dropout: Rate = 0.0
    pad_id: TokenId = 0
    bos_id: TokenId = 1
    eos_id: TokenId = 2
    unk_token: Annotated[str, Field(min_length=1)] = "<unk>"
    model: Literal["vae", "lm"] = "vae"  # "lm": the decoder alone, the like-for-like language model
    bn_vae: NonNegative = 0.0
    decoder: Decoder = "lstm"
    # The Transformer decoder (Texar's VAE-Transformer); unused by the LSTM.
    num_blocks: Depth = 3
    num_heads: Size = 8
    ffn_size: Size = 1024
    trans_dropout: Rate = 0.2
    z_path: ZPath = "memory"
    # The output layer reads the decoder's embedding table, transposed (Press & Wolf 2017; Texar's vae_text).
    tie_embeddings: bool = False
    # Bias on the Transformer's attention projections (Texar's have none).
    attn_bias: bool = True

    # What a resumed bundle must agree on: the fields that decide which weights exist and their shapes.
    SHAPE = ("embed_dim", "hidden_size", "latent_size", "num_layers", "model", "decoder", "num_blocks", "num_heads",
             "ffn_size", "z_path", "tie_embeddings", "attn_bias")
    # Fields every bundle has carried since the first format; the others default to the value of their time.
    REQUIRED = ("vocab_size", "embed_dim", "hidden_size", "latent_size", "num_layers", "init_scale", "enc_dropout",
                "dec_dropout", "pad_id", "bos_id", "eos_id", "unk_token")

    @classmethod
    def from_args(cls, args: argparse.Namespace, vocab_size: int, pad_id: int, bos_id: int, eos_id: int,
                  unk_token: str) -> "ModelConfig":
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**dict(values, vocab_size=vocab_size, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id,
                          unk_token=unk_token))

    @classmethod
    def from_bundle(cls, config: Any) -> "ModelConfig":
        """From a bundle's config.json, checked; CheckpointError naming the first field that is off."""
        if not isinstance(config, dict):
            raise CheckpointError(f"config.json holds a {type(config).__name__}, not an object")
        missing = [k for k in cls.REQUIRED if k not in config]
        if missing:
            raise CheckpointError(f"config.json lacks {', '.join(missing)}")
        try:
            values = _schema().model_validate(config)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"])
            message = error["msg"][:1].lower() + error["msg"][1:]
            raise CheckpointError(f"config.json field {name}: {message}, got "
                                  f"{_short(error.get('input'))}") from None
        cfg = cls(**dict(values))
        cfg._check_consistency()
        return cfg

    def _check_consistency(self) -> None:
        """The rules that tie fields together, which the per-field schema cannot state."""
        for name in ("pad_id", "bos_id", "eos_id"):
            if getattr(self, name) >= self.vocab_size:
                raise CheckpointError(f"config.json field {name}: {getattr(self, name)} is outside the vocabulary "
                                      f"(vocab_size {self.vocab_size})")
        if len({self.pad_id, self.bos_id, self.eos_id}) < 3:
            raise CheckpointError(f"config.json fields pad_id, bos_id, eos_id must differ, got {self.pad_id}, "
                                  f"{self.bos_id}, {self.eos_id}")
        if self.unk_token.split() != [self.unk_token]:
            raise CheckpointError(f"config.json field unk_token: must be one token (no spaces), got "
                                  f"{_short(self.unk_token)}")
        if self.decoder == "transformer" and (self.embed_dim % self.num_heads or self.embed_dim % 2):
            raise CheckpointError(f"config.json field embed_dim: {self.embed_dim} must be even and divisible by "
                                  f"num_heads ({self.num_heads}) for the transformer decoder")
        if self.tie_embeddings and self.decoder == "lstm" and self.hidden_size != self.embed_dim:
            raise CheckpointError(f"config.json field tie_embeddings: the LSTM's hidden_size ({self.hidden_size}) "
                                  f"must equal embed_dim ({self.embed_dim})")

    def parameter_count(self) -> int:
        """Floats in the network's state dict, i.e. in its bundle: known before the network is built.

        Paddle's nn.LSTM lists each weight under two names (`weight_ih_l0` and `0.cell.weight_ih`) and a
        bundle stores both, so they count twice; BN-VAE's running mean and variance count too.
        tests/test_bundle_safety.py checks this against built networks of every kind."""
        E, H, Z, V, L = self.embed_dim, self.hidden_size, self.latent_size, self.vocab_size, self.num_layers
        vae = self.model == "vae"

        def linear(n_in: int, n_out: int, bias: bool = True) -> int:
            return n_in * n_out + (n_out if bias else 0)

        def lstm(n_in: int) -> int:
            return 2 * (4 * H * (n_in + H + 2) + (L - 1) * 4 * H * (2 * H + 2))

        encoder = V * E + lstm(E) + linear(2 * H * L, 2 * Z) + (4 * Z if self.bn_vae > 0 else 0)
        count = encoder if vae else 0
        if self.decoder == "lstm":
            out = V if self.tie_embeddings else linear(H, V)
            return count + (linear(Z, 2 * H * L) if vae else 0) + V * E + lstm(E + (Z if vae else 0)) + out
        attention = linear(E, E, self.attn_bias)
        block = 4 * E + 4 * attention + (2 * attention if vae else 0) + linear(E, self.ffn_size) + \
            linear(self.ffn_size, E)
        out = 0 if self.tie_embeddings else E * V
        return count + (linear(Z, E) if vae else 0) + V * E + self.num_blocks * block + 2 * E + out

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


@lru_cache(maxsize=1)
def _schema():
    """A strict pydantic model of ModelConfig's fields (built on first use: only readers of bundles need it)."""
    return create_model("ModelConfigSchema", __config__=ConfigDict(strict=True, extra="ignore", allow_inf_nan=False),
                        **{f.name: (f.type, ... if f.default is MISSING else f.default) for f in fields(ModelConfig)})


def _short(value: Any) -> str:
    """A value for a one-line message: cut short, whatever its size or depth."""
    import reprlib

    shown = reprlib.Repr()
    shown.maxstring, shown.maxother, shown.maxlevel = 40, 40, 2
    return shown.repr(value)


def inference_options(config: Dict[str, Any]) -> Tuple[str, bool, int]:
    """(tokenizer, lowercase, max_len) from config.json's `train_args`, the record of the training's flags,
    checked; a bundle without that record (an untrained model's) reads whitespace-split text."""
    from .data.tokenizers import TOKENIZERS

    train_args = config.get("train_args", {})
    if not isinstance(train_args, dict):
        raise CheckpointError(f"config.json field train_args: must be an object, got {_short(train_args)}")
    tokenizer, lowercase = train_args.get("tokenizer", "whitespace"), train_args.get("lowercase", False)
    max_len = train_args.get("max_len", MAX_POSITIONS - 2)
    if tokenizer not in TOKENIZERS:
        raise CheckpointError(f"config.json field train_args.tokenizer: must be one of {', '.join(TOKENIZERS)}, "
                              f"got {_short(tokenizer)}")
    if not isinstance(lowercase, bool):
        raise CheckpointError(f"config.json field train_args.lowercase: must be true or false, got {_short(lowercase)}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise CheckpointError(f"config.json field train_args.max_len: must be a positive integer, got "
                              f"{_short(max_len)}")
    return tokenizer, lowercase, max_len
