"""The training loop's hapi callbacks and stop control, composed by `trainer.Trainer`.

    VAETrainCallback  anneal, reseeding and logging; reports steps, epochs and dev passes to its `TrainingRun`
    VAEProgBar        Paddle's progress bar with the values VAEs are judged by
    TrainControl      what the batch samplers consult to end an epoch early
    StopOnSignals     SIGINT / SIGTERM ask for a step bundle and a clean stop

Library code: the callbacks get the few things they use (the run as a `TrainingRun`, the hapi loss), and
this module never imports `train` or the trainer.
"""
import signal
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

import paddle
from paddle.callbacks import Callback, ProgBarLogger

from ..errors import PaddleVAEError
from ..models.loss import HapiLoss
from ..runtime import step_seed

if TYPE_CHECKING:  # annotations only: at run time this module never imports the trainer
    from .trainer import Trainer


class TrainingDiverged(PaddleVAEError):
    """The loss became NaN or infinite."""


class VAEProgBar(ProgBarLogger):
    """Paddle's progress bar, also showing the values VAEs are judged by.

    A resumed run calls `fit` for the remaining epochs only, so Paddle would number them from 1
    ("Epoch 2/12" at epoch 30 of 40); `first_epoch` (the epochs already done) makes the header count
    the run's own epochs. A dev pass that a stop left empty prints nothing.
    """

    EXTRA = ["rec", "kl", "kl_weight", "lr", "tokens/s"]

    def __init__(self, log_freq: int = 1, verbose: int = 2, first_epoch: int = 0):
        super().__init__(log_freq=log_freq, verbose=verbose)
        self.first_epoch = first_epoch

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.train_metrics = list(self.train_metrics) + self.EXTRA

    def on_epoch_begin(self, epoch: Optional[int] = None, logs: Optional[Dict] = None) -> None:
        epochs, self.epochs = self.epochs, None  # Paddle prints its header only when `epochs` is set
        super().on_epoch_begin(epoch, logs)
        self.epochs = epochs
        if epochs and self._is_print():
            print(f"Epoch {self.first_epoch + epoch + 1}/{self.first_epoch + epochs}")

    def on_eval_end(self, logs: Optional[Dict] = None) -> None:
        """A stop (signal or step budget) empties the dev pass after it; Paddle would still print its
        "Eval samples: 0" line, which reads as if the dev set were empty."""
        if getattr(self, "evaled_samples", 1):  # the count ProgBarLogger keeps (2.6 and 3.x)
            super().on_eval_end(logs)


class TrainControl:
    """What the batch samplers consult to end an epoch early (step budget, signal, divergence)."""

    def __init__(self, max_steps: Optional[int]):
        self.max_steps = max_steps
        self.stop = False
        self.signal_name: Optional[str] = None
        self.bundle_written = False  # the signal's step bundle is written; nothing more runs

    def stop_on_signal(self, trainer: "Trainer") -> None:
        """Write the step bundle the signal asked for and end training (once)."""
        if self.signal_name is not None and not self.bundle_written:
            trainer.save_step_bundle()
            self.bundle_written = True
            self.request_stop(trainer.model)

    def request_stop(self, model: paddle.Model) -> None:
        self.stop = True
        model.stop_training = True  # paddle.Model.fit checks this after each epoch's dev pass


class BoundedLoader:
    """Wraps a DataLoader so iteration ends as soon as `should_stop()` says so."""

    def __init__(self, loader, should_stop):
        self.loader, self.should_stop = loader, should_stop

    def __iter__(self):
        for batch in self.loader:
            if self.should_stop():
                return
            yield batch

    def __len__(self) -> int:
        return len(self.loader)


class LogWindow:
    """Means over the steps since the last log record.

    A single batch would mislead: batches are length-sorted inside a 20-batch
    window, so every 200th batch is the longest of its window.
    """

    def __init__(self):
        self.steps = 0
        self.sums: Dict[str, float] = {}
        self.words = 0
        self.seconds = 0.0

    def add(self, words: int, seconds: float, **values: float) -> None:
        self.steps += 1
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.words += words
        self.seconds += seconds

    def means(self) -> Dict[str, float]:
        n = max(self.steps, 1)
        return {**{k: v / n for k, v in self.sums.items()}, "tokens/s": self.words / max(self.seconds, 1e-9)}


class TrainingRun(Protocol):
    """What `VAETrainCallback` asks of the run it serves (`trainer.Trainer` implements it). The run owns its
    counters, bundles and stop rules; the callback reseeds, times and logs, and reports what hapi did."""

    @property
    def global_step(self) -> int:
        """Steps done so far: the anneal's and the reseeding's clock."""

    def count_step(self, loss: float, tokens: int, seconds: float) -> None:
        """One more step done (raises `TrainingDiverged` on a NaN or infinite loss)."""

    def after_step(self) -> None:
        """What the new step count calls for: a step bundle, a stop at --max_steps or on a signal."""

    def finish_epoch(self) -> None:
        """hapi's epoch ended (after a stop, a part of one)."""

    def dev_done(self, dev_nll: float, dev_ppl: float) -> None:
        """A dev pass finished: the best bundle, the plateau rule, and a signal's stop."""

    def log_event(self, kind: str, **values: Any) -> None:
        """A train_log.jsonl record."""

    def lr(self) -> float:
        """The optimizer's current learning rate."""


class VAETrainCallback(Callback):
    """Anneal and reseed before each step, log the loss's terms after it, and report steps, epochs and dev
    passes to the run. `loss` is the hapi loss, whose `terms` are the step's (`models.loss.HapiLoss`)."""

    def __init__(self, run: TrainingRun, loss: HapiLoss, seed: int, log_freq: int, world_size: int = 1,
                 log_kl_objective: bool = False):
        super().__init__()
        self.run, self.loss, self.seed, self.log_freq = run, loss, seed, log_freq
        self.world_size, self.log_kl_objective = world_size, log_kl_objective
        self.window = LogWindow()

    # -- train steps --------------------------------------------------------
    def on_train_batch_begin(self, step, logs=None):
        step = self.run.global_step
        self.loss.loss.train()
        self.loss.loss.set_step(step)
        paddle.seed(step_seed(self.seed, step))
        self._tic = time.time()

    def on_train_batch_end(self, step, logs=None):
        terms, dt = self.loss.terms, time.time() - self._tic
        loss_value = float(terms.loss)
        words = int(terms.num_words) * self.world_size
        self.run.count_step(loss_value, words, dt)
        # "kl" is the true KL; with free bits the floored term the loss used is logged as "kl_objective"
        values = {"loss": loss_value, "rec": float(terms.rec), "kl": float(terms.kl)}
        if self.log_kl_objective:
            values["kl_objective"] = float(terms.kl_objective)
        extra = {"rec": values["rec"], "kl": values["kl"], "kl_weight": terms.kl_weight, "lr": self.run.lr(),
                 "tokens/s": words / max(dt, 1e-9)}
        if logs is not None:
            logs.update(extra)
        self.window.add(words, dt, **values)
        if self.run.global_step % self.log_freq == 0:
            self.run.log_event("step", **self.window.means(), kl_weight=extra["kl_weight"], lr=extra["lr"])
            self.window = LogWindow()
        self.run.after_step()

    def on_epoch_end(self, epoch, logs=None):
        self.run.finish_epoch()

    # -- evaluation -----------------------------------------------------------
    def on_eval_begin(self, logs=None):
        self.loss.loss.eval()
        paddle.seed(self.seed)

    def on_eval_end(self, logs=None):
        self.loss.loss.train()
        if logs and "nll" in logs:
            self.run.dev_done(float(logs["nll"]), float(logs["ppl"]))


class StopOnSignals:
    """SIGINT / SIGTERM ask training to write a step bundle and stop after the current step."""

    def __init__(self, control: TrainControl):
        self.control = control

    def __enter__(self):
        self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in self.previous:
            signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.control.signal_name is not None:  # second signal: give up at once
            raise KeyboardInterrupt
        self.control.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        return False
