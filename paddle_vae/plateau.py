"""The rules that judge each epoch's dev NLL: keep the best, decay the LR on a plateau, stop early.

Texar's vae_text rule (`--lr_decay plateau`): after `--decay_patience` epochs
without a better dev NLL, rewind to the best-dev weights and optimizer state
and go on at `--lr_decay_factor` times the rate; the `--max_decays`-th plateau
ends the run. `--patience` ends it after that many epochs without a better dev
NLL. The rule only counts and decides (in the `TrainState`, so a resumed run
decides as the uninterrupted one would); the trainer does the rewinding,
saving and stopping.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .train_state import TrainState


@dataclass
class DevVerdict:
    """What one dev pass calls for; `stops` lists (reason, message) in the order they were reached."""

    improved: bool = False
    decay: bool = False
    stops: List[Tuple[str, str]] = field(default_factory=list)


class PlateauRule:
    def __init__(self, decay: bool, decay_patience: int, decay_factor: float, max_decays: int,
                 patience: Optional[int]):
        self.decay, self.decay_patience, self.decay_factor = decay, decay_patience, decay_factor
        self.max_decays, self.patience = max_decays, patience

    @classmethod
    def from_args(cls, args) -> "PlateauRule":
        return cls(args.lr_decay == "plateau", args.decay_patience, args.lr_decay_factor, args.max_decays,
                   args.patience)

    def judge(self, state: TrainState, dev_nll: float) -> DevVerdict:
        """Count this dev pass into `state` and say what follows from it."""
        if state.best_dev_nll is None or dev_nll < state.best_dev_nll:
            state.best_dev_nll, state.best_step, state.bad_epochs = dev_nll, state.global_step, 0
            return DevVerdict(improved=True)
        state.bad_epochs += 1
        verdict = DevVerdict(decay=self.decay and state.bad_epochs % self.decay_patience == 0)
        if verdict.decay:
            state.num_decays += 1
            if state.num_decays >= self.max_decays:
                verdict.stops.append(("plateau", f"stopping: plateau {state.num_decays} of --max_decays "
                                                 f"{self.max_decays} (best-dev weights restored)"))
        if self.patience is not None and state.bad_epochs >= self.patience:
            verdict.stops.append(("patience", f"early stop: dev NLL has not improved for {state.bad_epochs} "
                                              f"epochs"))
        return verdict
