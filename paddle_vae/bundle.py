"""Self-contained model bundles: a folder that rebuilds its model with no flags.

    BUNDLE/model.safetensors      weights
    BUNDLE/optimizer.safetensors  optimizer tensors (training bundles)
    BUNDLE/config.json        every hyperparameter and special id
    BUNDLE/vocab.txt          one token per line, line index = id
    BUNDLE/train_state.json   step, epoch, anneal, LR and RNG state, for exact resume

A bundle is written to a temporary sibling folder and renamed into place, so
a kill at any moment leaves either the old bundle or the new one.

Tensors are stored as safetensors and everything else as JSON, so loading a
bundle someone shared runs none of their code, and reading checks every file
before anything is built from it (`bundle_checks`). Reading never changes the
disk: putting back a bundle a killed writer left half-swapped is the next
writer's job (`files.clean_leftovers`). The first format held pickles
(`model.pdparams`, `model.pdopt`); loading refuses them, and `python -m
paddle_vae.bundle convert OLD NEW`, the one place that unpickles, rewrites a
trusted one in the safe format.
"""
import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from safetensors.numpy import load_file, save

from .files import OutputKind, publish_dir, write_bytes_atomic, write_json_atomic, write_text_atomic
from .bundle_checks import check_budget, check_finite, check_tensor_header, read_json, read_vocab
from .config import DEFAULT_MAX_BYTES, ModelConfig, inference_options
from .errors import CheckpointError, cli_entry
from .optimizer_state import param_names, rename_optimizer_state, set_optimizer_state

if TYPE_CHECKING:  # annotations only: this module imports Paddle lazily
    import paddle

PARAMS_FILE, OPT_FILE = "model.safetensors", "optimizer.safetensors"
PICKLE_PARAMS_FILE, PICKLE_OPT_FILE = "model.pdparams", "model.pdopt"  # the old, unsafe format
CONFIG_FILE, VOCAB_FILE, STATE_FILE = "config.json", "vocab.txt", "train_state.json"
FORMAT_VERSION = 2  # 2: safetensors; 1: pickles (model.pdparams)
# What a bundle folder may hold: `save_pretrained` and export replace only such a folder (with overwrite).
BUNDLE = OutputKind("bundle", CONFIG_FILE, frozenset(
    {PARAMS_FILE, OPT_FILE, PARAMS_FILE + ".json", OPT_FILE + ".json", CONFIG_FILE, VOCAB_FILE, STATE_FILE,
     PICKLE_PARAMS_FILE, PICKLE_OPT_FILE}))


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


def _load_arrays(path: str, where: str) -> Dict[str, np.ndarray]:
    try:
        return load_file(path)
    except Exception as exc:  # safetensors raises several types for a truncated or garbled file
        raise CheckpointError(f"corrupt checkpoint {where}: cannot read {os.path.basename(path)} "
                              f"({type(exc).__name__})") from None


def _to_tensors(arrays: Dict[str, np.ndarray]) -> Dict[str, Any]:
    import paddle  # lazy, as everywhere in this module: prepare_corpus and the CLIs' --help import it without Paddle

    return {k: paddle.to_tensor(v, place=paddle.CPUPlace()) for k, v in arrays.items()}


def load_tensors(path: str, where: Optional[str] = None) -> Dict[str, Any]:
    """What `save_tensors` wrote, as CPU tensors; never unpickles. The JSON beside it may add values, never
    replace a tensor. `where` is the bundle folder the errors name."""
    where = where or os.path.dirname(path)
    state = _to_tensors(_load_arrays(path, where))
    if os.path.isfile(path + ".json"):
        others = read_json(path + ".json", where)
        if not isinstance(others, dict) or set(others) & set(state):
            raise CheckpointError(f"corrupt checkpoint {where}: {os.path.basename(path)}.json may only add values "
                                  f"beside the tensors, and it replaces one (or is not an object)")
        state.update(others)
    return state


def save_bundle(path: str, network: "paddle.nn.Layer", config: Dict[str, Any], vocab_tokens: Sequence[str],
                optimizer: Optional["paddle.optimizer.Optimizer"] = None,
                train_state: Optional[Dict[str, Any]] = None) -> str:
    """Write a complete bundle of `network` (and `optimizer`) to `path`; see `write_bundle`."""
    optimizer_state = None if optimizer is None else rename_optimizer_state(
        optimizer.state_dict(), param_names(network, to_structured=True))
    return write_bundle(path, network.state_dict(), config, vocab_tokens, optimizer_state, train_state)


def write_bundle(path: str, weights: Dict[str, Any], config: Dict[str, Any], vocab_tokens: Sequence[str],
                 optimizer_state: Optional[Dict[str, Any]] = None,
                 train_state: Optional[Dict[str, Any]] = None) -> str:
    """Write a bundle's files to a temporary sibling and swap it in for `path` only once it is whole
    (`files.publish_dir`); config.json, which marks a finished bundle, is written last."""
    def fill(tmp: str) -> None:
        save_tensors(weights, os.path.join(tmp, PARAMS_FILE))
        if optimizer_state is not None:
            save_tensors(optimizer_state, os.path.join(tmp, OPT_FILE))
        write_text_atomic(os.path.join(tmp, VOCAB_FILE), "".join(t + "\n" for t in vocab_tokens))
        if train_state is not None:
            write_json_atomic(os.path.join(tmp, STATE_FILE), train_state)
        write_json_atomic(os.path.join(tmp, CONFIG_FILE), dict(config, format_version=FORMAT_VERSION))

    return publish_dir(path, fill, BUNDLE)


def _pickle_refusal(path: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is an old-format bundle ({PICKLE_PARAMS_FILE} is a pickle, which can run code when loaded); if "
        f"you trust its author, convert it once with `python -m paddle_vae.bundle convert {path} NEW_FOLDER`")


def read_config(path: str, max_bytes: Optional[int] = DEFAULT_MAX_BYTES
                ) -> Tuple[Dict[str, Any], ModelConfig, List[str]]:
    """(config.json, its checked ModelConfig, vocab tokens) of bundle `path`: every check that needs no
    weights, including the memory budget (`max_bytes`; None for a bundle this process wrote itself)."""
    config = read_json(os.path.join(path, CONFIG_FILE), path)
    try:
        cfg = ModelConfig.from_bundle(config)
        inference_options(config)
        if config.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{CONFIG_FILE} field format_version: this paddle_vae reads format "
                                  f"{FORMAT_VERSION}, got {config.get('format_version')!r:.40}")
    except CheckpointError as exc:
        raise CheckpointError(f"corrupt checkpoint {path}: {exc}") from None
    if max_bytes is not None:
        check_budget(cfg, max_bytes, path)
    return config, cfg, read_vocab(os.path.join(path, VOCAB_FILE), cfg, max_bytes, path)


def read_bundle(path: str, max_bytes: Optional[int] = DEFAULT_MAX_BYTES
                ) -> Tuple[Dict[str, Any], List[str], Dict[str, Any], Optional[Dict[str, Any]]]:
    """(config, vocab tokens, state_dict, train_state or None); a one-line CheckpointError if anything is off.

    Everything is checked before it is built or loaded (see `bundle_checks`): the weights config.json declares
    must fit `max_bytes` (default 2 GiB), and the tensors must be finite float32 within that declaration."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise CheckpointError(f"no checkpoint folder given ({path!r:.40})")
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint folder not found: {path}")
    if not os.path.isfile(os.path.join(path, PARAMS_FILE)) and os.path.isfile(os.path.join(path, PICKLE_PARAMS_FILE)):
        raise _pickle_refusal(path)
    for name in (PARAMS_FILE, CONFIG_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(path, name)):
            raise CheckpointError(f"incomplete checkpoint {path}: {name} is missing")
    config, cfg, tokens = read_config(path, max_bytes)
    weights = os.path.join(path, PARAMS_FILE)
    if os.path.exists(weights + ".json"):  # a network's state is all tensors; a sidecar could only replace some
        raise CheckpointError(f"corrupt checkpoint {path}: {PARAMS_FILE}.json does not belong in a bundle")
    check_tensor_header(weights, cfg, path)
    arrays = _load_arrays(weights, path)
    if not arrays:
        raise CheckpointError(f"corrupt checkpoint {path}: {PARAMS_FILE} holds no weights")
    check_finite(arrays, PARAMS_FILE, path)
    train_state = None
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        train_state = read_json(os.path.join(path, STATE_FILE), path)
        lr = train_state.get("lr") if isinstance(train_state, dict) else None
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
            raise CheckpointError(f"corrupt checkpoint {path}: {STATE_FILE} field lr must be a positive number")
    return config, tokens, _to_tensors(arrays), train_state


def load_weights(network: "paddle.nn.Layer", state_dict: Dict[str, Any], path: str) -> None:
    """set_state_dict only warns on a mismatch; a bundle that does not fit, by name or shape, is an error here."""
    own = network.state_dict()
    for key, param in own.items():
        if key not in state_dict:
            raise CheckpointError(f"checkpoint {path} does not fit the model: weight {key} is missing")
        if list(state_dict[key].shape) != list(param.shape):
            raise CheckpointError(f"checkpoint {path} does not fit the model: {key} has shape "
                                  f"{list(state_dict[key].shape)}, the model needs {list(param.shape)}")
    unknown = sorted(set(state_dict) - set(own))
    if unknown:
        raise CheckpointError(f"checkpoint {path} does not fit the model: it has no weight {unknown[0]!r:.80}")
    network.set_state_dict(state_dict)


def load_optimizer(optimizer: "paddle.optimizer.Optimizer", path: str, network: "paddle.nn.Layer") -> bool:
    """The bundle's optimizer state into `optimizer`; False when the bundle has none.

    Adam keeps two moments per weight and a few scalars, so a file much larger than the network's parameters
    is refused before it is read."""
    opt_path = os.path.join(path, OPT_FILE)
    if not os.path.isfile(opt_path):
        return False
    params = network.parameters()
    limit = 2 * 4 * sum(int(np.prod(p.shape)) for p in params) + 4096 * len(params) + 2 ** 20
    if os.path.getsize(opt_path) > limit:
        raise CheckpointError(f"corrupt checkpoint {path}: {OPT_FILE} is larger than Adam's state for this model")
    state = load_tensors(opt_path, path)
    try:
        set_optimizer_state(optimizer, rename_optimizer_state(state, param_names(network, to_structured=False)))
    except Exception as exc:
        raise CheckpointError(f"corrupt checkpoint {path}: {OPT_FILE} does not fit ({type(exc).__name__})") from None
    return True


def convert(old: str, new: str) -> str:
    """Rewrite a trusted old-format (pickle) bundle as a safe one; the old folder is left as it was.

    The one place that unpickles: only run it on a bundle whose author you trust. The result is checked as
    any bundle is (its config, vocabulary, dtypes, values and fit to the network) before it is written."""
    import paddle

    from .models.networks import build_infer_network

    if os.path.exists(new):
        raise CheckpointError(f"{new} already exists; choose a new folder for the converted bundle")
    for name in (PICKLE_PARAMS_FILE, CONFIG_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(old, name)):
            raise CheckpointError(f"{old} is not an old-format bundle: {name} is missing")
    config, cfg, tokens = read_config(old, max_bytes=None)

    def unpickle(name: str) -> Dict[str, Any]:
        state = paddle.load(os.path.join(old, name))
        if not isinstance(state, dict):
            raise CheckpointError(f"corrupt checkpoint {old}: {name} holds a {type(state).__name__}, not a dict")
        return {k: paddle.to_tensor(v) if hasattr(v, "shape") and not _is_tensor(v) else v for k, v in state.items()}

    weights = unpickle(PICKLE_PARAMS_FILE)
    for key, value in weights.items():
        if not _is_tensor(value) or value.dtype != paddle.float32:
            raise CheckpointError(f"corrupt checkpoint {old}: weight {key} is not a float32 tensor")
    check_finite({k: v.numpy() for k, v in weights.items()}, PICKLE_PARAMS_FILE, old)
    load_weights(build_infer_network(cfg), weights, old)
    optimizer_state = unpickle(PICKLE_OPT_FILE) if os.path.isfile(os.path.join(old, PICKLE_OPT_FILE)) else None
    train_state = read_json(os.path.join(old, STATE_FILE), old) if os.path.isfile(os.path.join(old, STATE_FILE)) \
        else None
    return write_bundle(new, weights, config, tokens, optimizer_state, train_state)


def main(argv: Optional[List[str]] = None) -> int:
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
