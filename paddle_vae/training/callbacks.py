"""The training loop's hapi callbacks and stop control, composed by `trainer.Trainer`.

    VAETrainCallback  anneal, reseeding, logging, best-dev bundles, LR plateau decay, step bundles, NaN guard
    VAEProgBar        Paddle's progress bar with the values VAEs are judged by
    TrainControl      what the batch samplers consult to end an epoch early
    StopOnSignals     SIGINT / SIGTERM ask for a step bundle and a clean stop

Library code: the trainer object is passed in, this module never imports `train`.
"""
import math
import signal
import time
from typing import Dict, Optional

import paddle
from paddle.callbacks import Callback, ProgBarLogger

from ..errors import PaddleVAEError
from ..evaluation.metrics import evaluate_loader
from ..runtime import step_seed


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

    def stop_on_signal(self, trainer) -> None:
        """Write the step bundle the signal asked for and end training (once)."""
        if self.signal_name is not None and not self.bundle_written:
            trainer.save_step_bundle()
            self.bundle_written = True
            self.request_stop(trainer.model)

    def request_stop(self, model) -> None:
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


class VAETrainCallback(Callback):
    """Anneal, reseeding, logging, best-dev bundles, LR plateau decay, early stop, step bundles, NaN guard."""

    def __init__(self, trainer):
        super().__init__()
        self.t = trainer
        self.window = LogWindow()

    # -- train steps --------------------------------------------------------
    def on_train_batch_begin(self, step, logs=None):
        t = self.t
        t.loss_fn.train()
        t.loss_fn.set_step(t.state.global_step)
        paddle.seed(step_seed(t.args.seed, t.state.global_step))
        self._tic = time.time()

    def on_train_batch_end(self, step, logs=None):
        t, state = self.t, self.t.state
        loss_value = float(t.loss_fn.loss)
        state.global_step += 1
        state.batch_in_epoch += 1
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"loss became {loss_value} at step {state.global_step}; the newest bundle in "
                f"{t.args.model_path} is the last good one (try a lower --learning_rate or --max_grad_norm)")
        dt = time.time() - self._tic
        words = int(t.loss_fn.num_words) * t.world_size
        state.train_seconds += dt
        state.train_tokens += words
        state.last_loss = loss_value
        # "kl" is the true KL; with free bits the floored term the loss used is logged as "kl_objective"
        values = {"loss": loss_value, "rec": float(t.loss_fn.rec_loss), "kl": float(t.loss_fn.kl_loss)}
        if t.args.free_bits > 0:
            values["kl_objective"] = float(t.loss_fn.kl_objective)
        extra = {"rec": values["rec"], "kl": values["kl"], "kl_weight": t.loss_fn.kl_weight,
                 "lr": t.optimizer.get_lr(), "tokens/s": words / max(dt, 1e-9)}
        if logs is not None:
            logs.update(extra)
        self.window.add(words, dt, **values)
        if state.global_step % t.args.log_freq == 0:
            t.log_event("step", **self.window.means(), kl_weight=extra["kl_weight"], lr=extra["lr"])
            self.window = LogWindow()
        if t.args.save_steps and state.global_step % t.args.save_steps == 0:
            t.save_step_bundle()
        if t.control.max_steps is not None and state.global_step >= t.control.max_steps:
            t.control.request_stop(t.model)
        t.control.stop_on_signal(t)

    def on_epoch_begin(self, epoch, logs=None):
        self.t.state.batch_in_epoch = self.t.resume_skip
        self.t.resume_skip = 0

    def on_epoch_end(self, epoch, logs=None):
        t = self.t
        if t.state.batch_in_epoch >= t.steps_per_epoch:
            t.state.epoch += 1
            t.state.batch_in_epoch = 0
        if t.world_size > 1 and not t.control.bundle_written:
            # hapi's eval all-gathers outputs, which packed logits of unequal length cannot do; every rank
            # holds the same weights, so each evaluates dev itself and all reach the same decisions.
            metrics = evaluate_loader(t.net, t.corpus.loader("valid", t.args.batch_size), seed=t.args.seed)
            self._dev_done(metrics["nll_elbo"], metrics["ppl_elbo"])

    def _dev_done(self, dev_nll: float, dev_ppl: float) -> None:
        """A signal during the dev pass let it finish: record it, then write step_N and stop, so a resumed
        run's best/, plateau count and LR are the uninterrupted run's."""
        self.t.record_dev(dev_nll, dev_ppl)
        self.t.control.stop_on_signal(self.t)

    # -- evaluation -----------------------------------------------------------
    def on_eval_begin(self, logs=None):
        self.t.loss_fn.eval()
        paddle.seed(self.t.args.seed)

    def on_eval_end(self, logs=None):
        self.t.loss_fn.train()
        if logs and "nll" in logs and not self.t.control.bundle_written:
            self._dev_done(float(logs["nll"]), float(logs["ppl"]))


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
