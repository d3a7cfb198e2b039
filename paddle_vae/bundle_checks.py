"""What a bundle's files must be before anything they declare is built or loaded.

A bundle may come from anyone, so reading one must neither run code (it holds
no pickles: safetensors and JSON only) nor take more memory than its
config.json declares, and that declaration must fit the reader's budget. Each
check ends in a CheckpointError of one line naming the file and the field:

- the JSON files are bounded in size and nesting (a deep one would raise
  RecursionError in the parser or in whatever walks it);
- config.json meets `ModelConfig`'s schema, and the parameters it declares,
  at 4 bytes each, fit `max_bytes` (`check_budget`), before the network exists;
- vocab.txt is UTF-8, one distinct token per line, `vocab_size` of them, with
  <pad>, <bos> and <eos> at the configured ids and the unknown token present;
- model.safetensors' header (read without loading the data) lists float32
  tensors only, exactly as many values as config.json declares; the loaded
  values are finite.
  Their names and shapes are checked against the built network (`bundle.load_weights`).
"""
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from .config import ModelConfig
from .errors import CheckpointError

MAX_JSON_BYTES = 2 ** 20  # config.json and train_state.json are a few kB
MAX_JSON_DEPTH = 16  # config.json nests 3 deep (train_args and its lists)
FLOAT_BYTES = 4
SIZE_FIELDS = ("vocab_size", "embed_dim", "hidden_size", "latent_size", "num_layers")
TRANSFORMER_SIZE_FIELDS = ("num_blocks", "ffn_size")


def read_json(path: str, where: str) -> Any:
    """The JSON value in `path` (a file of the bundle `where`), bounded in size and depth."""
    name = os.path.basename(path)
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} is {size:,} bytes, more than a bundle's JSON "
                              f"file may hold ({MAX_JSON_BYTES:,})")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} nests too deeply") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH and isinstance(item, (dict, list)):
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_budget(cfg: ModelConfig, max_bytes: int, where: str) -> None:
    """The weights config.json declares, at float32, must fit `max_bytes`: checked before anything is built."""
    needed = cfg.parameter_count() * FLOAT_BYTES
    if needed <= max_bytes:
        return
    names = SIZE_FIELDS + (TRANSFORMER_SIZE_FIELDS if cfg.decoder == "transformer" else ())
    sizes = ", ".join(f"{name} {getattr(cfg, name)}" for name in names)
    raise CheckpointError(f"checkpoint {where}: config.json's sizes ({sizes}) need {_mib(needed)} of weights, "
                          f"over the {_mib(max_bytes)} limit; if you trust this bundle, raise the limit "
                          f"(--max_bundle_mb, or max_bytes in Python)")


def _mib(n: int) -> str:
    return f"{n / 2 ** 20:,.1f} MiB"


def read_vocab(path: str, cfg: ModelConfig, max_bytes: Optional[int], where: str) -> List[str]:
    """vocab.txt's tokens, one per line ("\\n" or "\\r\\n"), checked against config.json; no larger than
    `max_bytes` (None: a bundle this process wrote)."""
    from .data.corpus import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN

    name = os.path.basename(path)
    if max_bytes is not None and os.path.getsize(path) > max_bytes:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} is larger than the {_mib(max_bytes)} limit")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CheckpointError(f"corrupt checkpoint {where}: {name} is not UTF-8 (line {line})") from None
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()
    tokens = [t[:-1] if t.endswith("\r") else t for t in tokens]
    if len(tokens) != cfg.vocab_size:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} has {len(tokens)} lines, config.json field "
                              f"vocab_size says {cfg.vocab_size}")
    first_line: Dict[str, int] = {}
    for number, token in enumerate(tokens, 1):
        if not token or token.split() != [token]:
            raise CheckpointError(f"corrupt checkpoint {where}: {name} line {number} is not one token: {token!r:.40}")
        if token in first_line:
            raise CheckpointError(f"corrupt checkpoint {where}: {name} line {number} repeats line "
                                  f"{first_line[token]} ({token!r:.40})")
        first_line[token] = number
    for field, special in (("pad_id", PAD_TOKEN), ("bos_id", BOS_TOKEN), ("eos_id", EOS_TOKEN)):
        index = getattr(cfg, field)
        if tokens[index] != special:
            raise CheckpointError(f"corrupt checkpoint {where}: config.json field {field} is {index}, but {name} "
                                  f"line {index + 1} is {tokens[index]!r:.40}, not {special}")
    if cfg.unk_token not in first_line:
        raise CheckpointError(f"corrupt checkpoint {where}: {name} lacks the unknown token {cfg.unk_token!r:.40} "
                              f"(config.json field unk_token)")
    return tokens


def check_tensor_header(path: str, cfg: ModelConfig, where: str) -> None:
    """model.safetensors' header, read without its data: float32 tensors, as many values as declared."""
    from safetensors import safe_open

    name = os.path.basename(path)
    try:
        with safe_open(path, framework="numpy") as f:
            table = {key: (f.get_slice(key).get_dtype(), f.get_slice(key).get_shape()) for key in f.keys()}
    except Exception as exc:  # safetensors raises several types for a truncated or garbled header
        raise CheckpointError(f"corrupt checkpoint {where}: cannot read {name} ({type(exc).__name__})") from None
    total = 0
    for key, (dtype, shape) in table.items():
        if dtype != "F32":
            raise CheckpointError(f"corrupt checkpoint {where}: {name} tensor {key} is {dtype}; bundles hold F32")
        total += int(np.prod(shape, dtype=object))
    if total != cfg.parameter_count():  # before the network is built: a config that inflates it stops here
        raise CheckpointError(f"corrupt checkpoint {where}: {name} holds {total:,} values, config.json's sizes "
                              f"declare {cfg.parameter_count():,}")


def check_finite(arrays: Dict[str, np.ndarray], name: str, where: str) -> None:
    """NaN or Inf weights decode to garbage (or crash sampling): refused by the tensor's name."""
    for key, array in arrays.items():
        if not np.isfinite(array).all():
            raise CheckpointError(f"corrupt checkpoint {where}: {name} tensor {key} holds NaN or Inf values")
