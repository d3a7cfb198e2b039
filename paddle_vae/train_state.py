"""`TrainState`: where a training is, what it has seen, and what its rules have decided -- the schema of
every bundle's train_state.json.

The JSON is plain keys (the fields, plus the learning rate "lr"), so code
that reads it with `dict.update` keeps working; a JSON written before a field
existed loads with that field's default, and keys this version does not know
are ignored.
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional


@dataclass
class TrainState:
    """The trainer's counters and decisions; everything a resumed run needs besides weights, Adam and LR."""

    global_step: int = 0
    epoch: int = 0  # completed epochs
    batch_in_epoch: int = 0  # batches done in the current epoch (a resumed run skips them)
    train_seconds: float = 0.0
    train_tokens: int = 0
    last_loss: Optional[float] = None
    # the best-dev rule and the plateau rule (see plateau.py)
    best_dev_nll: Optional[float] = None
    best_step: Optional[int] = None
    bad_epochs: int = 0  # epochs since the dev NLL last improved
    num_decays: int = 0
    # remedies (remedies.py)
    decoder_reset: bool = False  # --pretrain_ae_epochs: the decoder was re-initialised
    aggressive: Optional[bool] = None  # --aggressive: None before the phase starts, False once it has ended
    aggressive_best_mi: Optional[float] = None
    aggressive_inner_steps: int = 0

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TrainState":
        """A train_state.json's state; missing keys take their defaults, "lr" and unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self, lr: float) -> Dict[str, Any]:
        """The train_state.json record: every field, plus the learning rate."""
        return dict(dataclasses.asdict(self), lr=lr)
