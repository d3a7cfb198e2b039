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
import copy
import json
import os
import re
import shutil
import warnings
from typing import Any, Dict, Optional, Tuple

from .errors import CheckpointError

PARAMS_FILE, OPT_FILE = "model.safetensors", "optimizer.safetensors"
PICKLE_PARAMS_FILE, PICKLE_OPT_FILE = "model.pdparams", "model.pdopt"  # the old, unsafe format
CONFIG_FILE, VOCAB_FILE, STATE_FILE = "config.json", "vocab.txt", "train_state.json"
FORMAT_VERSION = 1
MODEL_KEYS = ("embed_dim", "hidden_size", "latent_size", "vocab_size", "num_layers", "init_scale",
              "enc_dropout", "dec_dropout")
REQUIRED_KEYS = MODEL_KEYS + ("pad_id", "bos_id", "eos_id", "unk_token")


def write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def save_tensors(state: Dict[str, Any], path: str) -> None:
    """Tensors to a safetensors file, anything else (a scheduler's scalars) to PATH.json beside it."""
    from safetensors.paddle import save_file

    tensors = {k: v.contiguous() if hasattr(v, "contiguous") else v for k, v in state.items() if _is_tensor(v)}
    save_file(tensors, path)
    others = {k: v for k, v in state.items() if not _is_tensor(v)}
    if others:
        write_json_atomic(path + ".json", others)


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "numpy")


def load_tensors(path: str) -> Dict[str, Any]:
    """What `save_tensors` wrote; never unpickles."""
    from safetensors.paddle import load_file

    state: Dict[str, Any] = dict(load_file(path))
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
    """Write a complete bundle to `path`, replacing any previous one only once the new one is whole."""
    import paddle

    path = os.path.normpath(path)
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_tensors(network.state_dict(), os.path.join(tmp, PARAMS_FILE))
    if optimizer is not None:
        save_tensors(_rename_optimizer_state(optimizer.state_dict(), _param_names(network, to_structured=True)),
                     os.path.join(tmp, OPT_FILE))
    write_json_atomic(os.path.join(tmp, CONFIG_FILE), dict(config, format_version=FORMAT_VERSION))
    write_text_atomic(os.path.join(tmp, VOCAB_FILE), "".join(t + "\n" for t in vocab_tokens))
    if train_state is not None:
        write_json_atomic(os.path.join(tmp, STATE_FILE), train_state)
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


def _param_names(network, to_structured: bool) -> Dict[str, str]:
    """Paddle keys optimizer state by generated names (`linear_3.w_0`) that depend on how many layers
    the process built before; bundles key it by the stable structured names instead."""
    pairs = [(p.name, key) for key, p in network.named_parameters()]
    return dict(pairs) if to_structured else {key: name for name, key in pairs}


def _rename_optimizer_state(state: Dict[str, Any], names: Dict[str, str]) -> Dict[str, Any]:
    prefixes = sorted(names, key=len, reverse=True)
    renamed = {}
    for key, value in state.items():
        match = next((p for p in prefixes if key.startswith(p + "_")), None)
        renamed[names[match] + key[len(match):] if match else key] = value
    return renamed


_INSTANCE_INDEX = re.compile(r"_\d+$")


def _without_index(key: str) -> str:
    return _INSTANCE_INDEX.sub("", key)


class _IndexFreeState(dict):
    """Optimizer state that ignores the instance index Paddle appends to accumulator names.

    `embedding_0.w_0_moment1_1` and `..._moment1_0` are the same moment of the same parameter: the index
    only counts optimizers built for that parameter before, in that process. A run that replaced its Adam
    (the decoder reset of --pretrain_ae_epochs) or stepped other optimizers first (--aggressive) saves
    other indices than a resumed process generates.
    """

    def __init__(self, state: Dict[str, Any]):
        super().__init__({_without_index(k): v for k, v in state.items()})

    def __contains__(self, key) -> bool:
        return super().__contains__(_without_index(key))

    def __getitem__(self, key):
        return super().__getitem__(_without_index(key))

    def get(self, key, default=None):
        return super().get(_without_index(key), default)

    def pop(self, key, *default):
        return super().pop(_without_index(key), *default)


def _set_optimizer_state(optimizer, state: Dict[str, Any]) -> None:
    """`set_state_dict`, matching accumulators by parameter and kind, whatever their instance index."""
    existing = {_without_index(var.name): var.name for accs in optimizer._accumulators.values()
                for var in accs.values()}
    if existing:  # accumulators already built: give the state their names
        state = {existing.get(_without_index(k), k): v for k, v in state.items()}
    optimizer.set_state_dict(state)
    if not existing:  # built lazily at the next step, under names generated then
        optimizer._accumulators_holder = _IndexFreeState(optimizer._accumulators_holder)


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
        _set_optimizer_state(optimizer, _rename_optimizer_state(state, _param_names(network, to_structured=False)))
    except Exception as exc:
        raise CheckpointError(f"corrupt checkpoint {path}: {os.path.basename(opt_path)} does not fit "
                              f"({type(exc).__name__})") from None
    return True


class MemoryBundle:
    """A bundle's weights and optimizer state held in host memory.

    The plateau rewind restores from it, so no rank reads rank 0's disk: every
    rank evaluates dev itself, reaches the same decisions and keeps its own copy.
    """

    def __init__(self, network, optimizer):
        self.optimizer = optimizer
        self.weights = {k: v.numpy().copy() for k, v in network.state_dict().items()}
        self.optimizer_state = {k: v.numpy().copy() if hasattr(v, "numpy") else copy.deepcopy(v)
                                for k, v in optimizer.state_dict().items()}

    def restore(self, network, optimizer) -> bool:
        """Weights always; optimizer state only into the optimizer it came from (False after a reset)."""
        network.set_state_dict(self.weights)
        if optimizer is not self.optimizer:
            return False
        _set_optimizer_state(optimizer, dict(self.optimizer_state))
        return True


def model_kwargs(config: Dict[str, Any]) -> Dict[str, Any]:
    """Constructor arguments of VAESeq2SeqModel / VAESeq2SeqInferModel from a bundle config."""
    kwargs = {k: config[k] for k in MODEL_KEYS}
    kwargs["PAD_ID"] = config["pad_id"]
    if config.get("bn_vae"):  # BN-VAE bundles hold the batch norm's running statistics
        kwargs["bn_vae"] = config["bn_vae"]
    return kwargs
