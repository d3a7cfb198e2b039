"""Self-contained model bundles: a folder that rebuilds its model with no flags.

    BUNDLE/model.safetensors      weights
    BUNDLE/optimizer.safetensors  optimizer tensors (training bundles)
    BUNDLE/config.json        every hyperparameter and special id
    BUNDLE/vocab.txt          one token per line, line index = id
    BUNDLE/train_state.json   step, epoch, anneal, LR and RNG state, for exact resume

A bundle is written to a temporary sibling folder and renamed into place, so
a kill at any moment leaves either the old bundle or the new one.

Tensors are stored as safetensors and everything else as JSON, so loading a
bundle someone shared runs none of their code. Older bundles hold pickles
(`model.pdparams`, `model.pdopt`), which can: they load only when the caller
says it trusts them (`allow_pickle`), and `python -m paddle_vae.bundle
convert OLD NEW` rewrites one in the safe format.
"""
import argparse
import json
import os
import shutil
import sys
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np
from safetensors.numpy import load_file, save

from .files import write_bytes_atomic, write_json_atomic, write_text_atomic
from .errors import CheckpointError, cli_entry
from .layout import upgrade_transformer_keys
from .training.optimizer_state import param_names, rename_optimizer_state, set_optimizer_state

PARAMS_FILE, OPT_FILE = "model.safetensors", "optimizer.safetensors"
PICKLE_PARAMS_FILE, PICKLE_OPT_FILE = "model.pdparams", "model.pdopt"  # the old, unsafe format
CONFIG_FILE, VOCAB_FILE, STATE_FILE = "config.json", "vocab.txt", "train_state.json"
FORMAT_VERSION = 2  # 2: safetensors; 1: pickles (model.pdparams)
MODEL_KEYS = ("embed_dim", "hidden_size", "latent_size", "vocab_size", "num_layers", "init_scale",
              "enc_dropout", "dec_dropout")
REQUIRED_KEYS = MODEL_KEYS + ("pad_id", "bos_id", "eos_id", "unk_token")


def save_tensors(state: Dict[str, Any], path: str) -> None:
    """Tensors to a safetensors file, anything else (a scheduler's scalars) to PATH.json beside it.

    Serialised in memory and written by Python, so a full disk is an OSError naming the file. Through
    numpy: safetensors' own paddle module needs Paddle 3 (it names float8 dtypes at import)."""
    tensors = {k: np.ascontiguousarray(v.numpy()) for k, v in state.items() if _is_tensor(v)}
    write_bytes_atomic(path, save(tensors))
    others = {k: v for k, v in state.items() if not _is_tensor(v)}
    if others:
        write_json_atomic(path + ".json", others)


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "numpy")


def load_tensors(path: str) -> Dict[str, Any]:
    """What `save_tensors` wrote, as CPU tensors; never unpickles."""
    import paddle  # lazy, as everywhere in this module: prepare_corpus and the CLIs' --help import it without Paddle

    state: Dict[str, Any] = {k: paddle.to_tensor(v, place=paddle.CPUPlace()) for k, v in load_file(path).items()}
    if os.path.isfile(path + ".json"):
        with open(path + ".json", encoding="utf-8") as f:
            state.update(json.load(f))
    return state


def _load_pickle(path: str, bundle: str, allow_pickle: bool) -> Dict[str, Any]:
    """An old bundle's pickle, only when the caller trusts it: unpickling can run code its author put there."""
    import paddle

    if not allow_pickle:
        raise CheckpointError(
            f"{bundle} is an old-format bundle ({os.path.basename(path)} is a pickle, which can run code when "
            f"loaded); if you trust its author, convert it once with `python -m paddle_vae.bundle convert "
            f"{bundle} NEW_FOLDER`, or load it as it is with --allow_pickle (allow_pickle=True in Python)")
    warnings.warn(f"unpickling {path}: only do this for bundles you trust", stacklevel=3)
    return paddle.load(path)


def save_bundle(path: str, network, config: Dict[str, Any], vocab_tokens, optimizer=None,
                train_state: Optional[Dict[str, Any]] = None) -> str:
    """Write a complete bundle of `network` (and `optimizer`) to `path`; see `write_bundle`."""
    optimizer_state = None if optimizer is None else rename_optimizer_state(
        optimizer.state_dict(), param_names(network, to_structured=True))
    return write_bundle(path, network.state_dict(), config, vocab_tokens, optimizer_state, train_state)


def write_bundle(path: str, weights: Dict[str, Any], config: Dict[str, Any], vocab_tokens,
                 optimizer_state: Optional[Dict[str, Any]] = None,
                 train_state: Optional[Dict[str, Any]] = None) -> str:
    """Write a bundle's files to a temporary sibling and rename it to `path` only once it is whole."""
    path = os.path.normpath(path)
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        save_tensors(weights, os.path.join(tmp, PARAMS_FILE))
        if optimizer_state is not None:
            save_tensors(optimizer_state, os.path.join(tmp, OPT_FILE))
        write_json_atomic(os.path.join(tmp, CONFIG_FILE), dict(config, format_version=FORMAT_VERSION))
        write_text_atomic(os.path.join(tmp, VOCAB_FILE), "".join(t + "\n" for t in vocab_tokens))
        if train_state is not None:
            write_json_atomic(os.path.join(tmp, STATE_FILE), train_state)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written bundle would hold the space a full disk needs
        raise
    return replace_dir(tmp, path)


def replace_dir(tmp: str, path: str) -> str:
    """Move the finished folder `tmp` to `path`; an older `path` survives as `path.old*` until then."""
    old = f"{path}.old{os.getpid()}"
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def _recover(path: str) -> None:
    """Finish a swap a kill interrupted between its two renames (only the `.old` copy exists)."""
    if os.path.isdir(path):
        return
    parent, name = os.path.split(os.path.normpath(path))
    olds = sorted(f for f in os.listdir(parent or ".") if f.startswith(name + ".old")) if os.path.isdir(
        parent or ".") else []
    if olds:
        os.replace(os.path.join(parent, olds[-1]), path)


def read_bundle(path: str, allow_pickle: bool = False
                ) -> Tuple[Dict[str, Any], list, Dict[str, Any], Optional[Dict[str, Any]]]:
    """(config, vocab tokens, state_dict, train_state or None); CheckpointError if anything is off.

    An old pickle bundle is refused unless `allow_pickle` (see the module docstring)."""
    if not path:
        raise CheckpointError("no checkpoint folder given")
    _recover(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint folder not found: {path}")
    legacy = not os.path.isfile(os.path.join(path, PARAMS_FILE)) and os.path.isfile(
        os.path.join(path, PICKLE_PARAMS_FILE))
    params_file = PICKLE_PARAMS_FILE if legacy else PARAMS_FILE
    for name in (params_file, CONFIG_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(path, name)):
            raise CheckpointError(f"incomplete checkpoint {path}: {name} is missing")
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"corrupt checkpoint {path}: {CONFIG_FILE} is not valid JSON ({exc})") from None
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise CheckpointError(f"corrupt checkpoint {path}: {CONFIG_FILE} lacks {', '.join(missing)}")
    with open(os.path.join(path, VOCAB_FILE), encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if len(tokens) != config["vocab_size"]:
        raise CheckpointError(f"corrupt checkpoint {path}: {VOCAB_FILE} has {len(tokens)} tokens, "
                              f"config says vocab_size {config['vocab_size']}")
    if legacy:
        state_dict = _load_pickle(os.path.join(path, PICKLE_PARAMS_FILE), path, allow_pickle)
    else:
        try:
            state_dict = load_tensors(os.path.join(path, PARAMS_FILE))
        except Exception as exc:  # safetensors raises several types for a truncated or garbled file
            raise CheckpointError(f"corrupt checkpoint {path}: cannot read {params_file} ({type(exc).__name__})"
                                  ) from None
    if not isinstance(state_dict, dict) or not state_dict:
        raise CheckpointError(f"corrupt checkpoint {path}: {params_file} holds no weights")
    state_dict = upgrade_transformer_keys(state_dict)
    train_state = None
    state_path = os.path.join(path, STATE_FILE)
    if os.path.isfile(state_path):
        try:
            with open(state_path, encoding="utf-8") as f:
                train_state = json.load(f)
        except ValueError:
            raise CheckpointError(f"corrupt checkpoint {path}: {STATE_FILE} is not valid JSON") from None
    return config, tokens, state_dict, train_state


def load_weights(network, state_dict: Dict[str, Any], path: str) -> None:
    """set_state_dict only warns on a mismatch; a bundle that does not fit is an error here."""
    own = network.state_dict()
    for key, param in own.items():
        if key not in state_dict:
            raise CheckpointError(f"checkpoint {path} does not fit the model: weight {key} is missing")
        if list(state_dict[key].shape) != list(param.shape):
            raise CheckpointError(f"checkpoint {path} does not fit the model: {key} has shape "
                                  f"{list(state_dict[key].shape)}, the model needs {list(param.shape)}")
    network.set_state_dict(state_dict)


def load_optimizer(optimizer, path: str, network, allow_pickle: bool = False) -> bool:
    """The bundle's optimizer state into `optimizer`; False when the bundle has none."""
    opt_path = os.path.join(path, OPT_FILE)
    legacy = os.path.join(path, PICKLE_OPT_FILE)
    if not os.path.isfile(opt_path):
        if not os.path.isfile(legacy):
            return False
        state = _load_pickle(legacy, path, allow_pickle)
    else:
        try:
            state = load_tensors(opt_path)
        except Exception as exc:
            raise CheckpointError(f"corrupt checkpoint {path}: cannot read {OPT_FILE} ({type(exc).__name__})"
                                  ) from None
    try:
        state = upgrade_transformer_keys(state)
        set_optimizer_state(optimizer, rename_optimizer_state(state, param_names(network, to_structured=False)))
    except Exception as exc:
        raise CheckpointError(f"corrupt checkpoint {path}: {os.path.basename(opt_path)} does not fit "
                              f"({type(exc).__name__})") from None
    return True


def convert(old: str, new: str) -> str:
    """Rewrite a trusted old-format (pickle) bundle as a safe one; the old folder is left as it was."""
    import paddle

    if os.path.exists(new):
        raise CheckpointError(f"{new} already exists; choose a new folder for the converted bundle")
    config, tokens, state_dict, train_state = read_bundle(old, allow_pickle=True)
    optimizer_state = None
    if os.path.isfile(os.path.join(old, PICKLE_OPT_FILE)):
        pickled = _load_pickle(os.path.join(old, PICKLE_OPT_FILE), old, allow_pickle=True)
        optimizer_state = {k: paddle.to_tensor(v) if hasattr(v, "shape") and not _is_tensor(v) else v
                           for k, v in pickled.items()}
    return write_bundle(new, state_dict, config, tokens, optimizer_state, train_state)


def main(argv=None) -> int:
    """`python -m paddle_vae.bundle convert OLD NEW`: an old pickle bundle you trust, as a safe bundle."""
    p = argparse.ArgumentParser(prog="python -m paddle_vae.bundle", description=main.__doc__)
    p.add_argument("action", choices=["convert"])
    p.add_argument("old", help="the old-format bundle folder (it is unpickled: only for bundles you trust)")
    p.add_argument("new", help="a new folder for the converted bundle")

    @cli_entry
    def run(argv):
        args = p.parse_args(argv)
        print(f"wrote {convert(args.old, args.new)}")
        return 0

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
