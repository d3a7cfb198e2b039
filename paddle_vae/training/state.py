"""Where a training is (`TrainState`, every bundle's train_state.json) and the rule that judges each
epoch's dev NLL (`PlateauRule`): keep the best, decay the LR on a plateau, stop early.

Texar's vae_text rule (`--lr_decay plateau`): after `--decay_patience` epochs without a better dev NLL,
rewind to the best-dev weights and optimizer state and go on at `--lr_decay_factor` times the rate; the
`--max_decays`-th plateau ends the run. `--patience` ends it after that many epochs without a better dev NLL.
The rule only counts and decides, in the `TrainState`, so a resumed run decides as the uninterrupted one
would; the trainer does the rewinding, saving and stopping.

train_state.json is plain keys (the fields, plus the learning rate "lr"): a JSON written before a field
existed loads with that field's default, and keys this version does not know are ignored.
"""
import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


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

    def count_step(self, loss: float, tokens: int, seconds: float) -> None:
        """One more training step done."""
        self.global_step += 1
        self.batch_in_epoch += 1
        self.train_seconds += seconds
        self.train_tokens += tokens
        self.last_loss = loss

    def finish_epoch(self, steps_per_epoch: int) -> None:
        """Count the epoch if all its batches ran (a stop can end one part-way; a resumed run finishes it)."""
        if self.batch_in_epoch >= steps_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TrainState":
        """A train_state.json's state; missing keys take their defaults, "lr" and unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self, lr: float) -> Dict[str, Any]:
        """The train_state.json record: every field, plus the learning rate."""
        return dict(dataclasses.asdict(self), lr=lr)


@dataclass
class DevVerdict:
    """What one dev pass calls for; `stops` lists (reason, message) in the order they were reached."""

    improved: bool = False
    decay: bool = False
    stops: List[Tuple[str, str]] = field(default_factory=list)


class PlateauRule:
    """Texar's plateau rule and `--patience`, over each epoch's dev NLL: it only counts and decides, in the
    `TrainState`, so a resumed run decides as the uninterrupted one would; the trainer acts on the verdict."""

    def __init__(self, decay: bool, decay_patience: int, decay_factor: float, max_decays: int,
                 patience: Optional[int]):
        self.decay, self.decay_patience, self.decay_factor = decay, decay_patience, decay_factor
        self.max_decays, self.patience = max_decays, patience

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "PlateauRule":
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
