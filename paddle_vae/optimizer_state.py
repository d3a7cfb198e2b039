"""Optimizer state that survives a new process: keyed by structured parameter names, matched by kind.

Paddle names Adam's accumulators after generated parameter names
(`linear_3.w_0_moment1_0`) that depend on how many layers and optimizers the
process built before; bundles store them under the network's structured names,
and loading ignores Paddle's per-process instance index.
"""
import copy
import re
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:  # annotations only: this module needs no Paddle at import
    import paddle


def param_names(network: "paddle.nn.Layer", to_structured: bool) -> Dict[str, str]:
    """Paddle keys optimizer state by generated names (`linear_3.w_0`) that depend on how many layers
    the process built before; bundles key it by the stable structured names instead."""
    pairs = [(p.name, key) for key, p in network.named_parameters()]
    return dict(pairs) if to_structured else {key: name for name, key in pairs}


def rename_optimizer_state(state: Dict[str, Any], names: Dict[str, str]) -> Dict[str, Any]:
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


def set_optimizer_state(optimizer: "paddle.optimizer.Optimizer", state: Dict[str, Any]) -> None:
    """`set_state_dict`, matching accumulators by parameter and kind, whatever their instance index."""
    existing = {_without_index(var.name): var.name for accs in optimizer._accumulators.values()
                for var in accs.values()}
    if existing:  # accumulators already built: give the state their names
        state = {existing.get(_without_index(k), k): v for k, v in state.items()}
    optimizer.set_state_dict(state)
    if not existing:  # built lazily at the next step, under names generated then
        optimizer._accumulators_holder = _IndexFreeState(optimizer._accumulators_holder)


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

    def restore(self, network: "paddle.nn.Layer", optimizer: "paddle.optimizer.Optimizer") -> bool:
        """Weights always; optimizer state only into the optimizer it came from (False after a reset)."""
        network.set_state_dict(self.weights)
        if optimizer is not self.optimizer:
            return False
        set_optimizer_state(optimizer, dict(self.optimizer_state))
        return True
