"""An evaluation's progress: a bar with an ETA on a terminal, and its running sums on disk so that a long
IW evaluation continues where it was cut off.

The bar (tqdm, which paddlenlp already brings) is drawn on stderr only when it is a terminal and the caller
did not ask for quiet output, so logs, pipes and CI output stay free of carriage returns.

K=500 on the PTB test split is about an hour on one core; without a progress file a session's end or a
SIGTERM throws the hour away. With one, the pass saves its sums, counts and posterior moments every
`save_seconds`, and a rerun with the same file skips the batches already counted. The rerun's numbers equal
one uninterrupted pass's with the file, because such a pass reseeds Paddle's generator before every batch
from (seed, batch index) (`runtime.step_seed`). The file is npz (no pickles) and holds the pass's `key`; a
file of another evaluation is refused in one line.
"""
import io
import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from tqdm import tqdm

from ..errors import UsageError
from ..files import write_bytes_atomic


def wants_progress(quiet: bool = False) -> bool:
    """True when a progress bar would reach a person: not quiet, and stderr is a terminal."""
    return not quiet and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress_bar(total: Optional[int], desc: str, enabled: bool, unit: str = "sent") -> Any:
    """A tqdm bar (a no-op object when disabled); call `.update(n)` and `.close()`."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, leave=False,
                file=sys.stderr)


SUMS = ("rec_sum", "kl_sum", "iw_sum")
COUNTS = ("batches", "num_sentences", "num_words")
PACE = ("seconds", "timed_sentences", "total_sentences")  # for `experiments status`'s ETA


@dataclass
class PassState:
    """What one pass has accumulated after `batches` batches."""
    batches: int = 0
    rec_sum: float = 0.0
    kl_sum: float = 0.0
    iw_sum: float = 0.0
    num_sentences: int = 0
    num_words: int = 0
    seconds: float = 0.0  # wall seconds spent on the counted batches, over every process of the pass
    timed_sentences: int = 0  # the sentences of those seconds
    total_sentences: int = 0  # of the split, so that a reader can tell how far the pass has got
    means: List[np.ndarray] = field(default_factory=list)
    log_vars: List[np.ndarray] = field(default_factory=list)


class ProgressFile:
    """`path` holds a PassState of the evaluation described by `key` (bundle, split, K, seed, ...)."""

    def __init__(self, path: str, key: Dict, save_seconds: float = 60.0):
        self.path, self.key, self.save_seconds = path, json.dumps(key, sort_keys=True), save_seconds
        self.saved_at = time.time()

    def load(self) -> PassState:
        """The pass saved in `path` (a fresh one when there is no file); a file that is not this pass's
        progress, or not a progress file at all, is refused with one line and left as it is."""
        if not os.path.isfile(self.path):
            return PassState()
        try:
            # numpy leaves a file it opened itself open when it is not an archive: open it here
            with open(self.path, "rb") as handle, np.load(handle, allow_pickle=False) as f:
                key, state = str(f["key"]), PassState()
                if key == self.key:  # read only what this pass saved: the file may be anything
                    state = PassState(**{k: float(f[k]) for k in SUMS + ("seconds",)},
                                      **{k: int(f[k]) for k in COUNTS + PACE[1:]})
                    if "means" in f.files:
                        state.means, state.log_vars = [f["means"]], [f["log_vars"]]
        except (ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile):
            raise UsageError(f"{self.path} is not a progress file of `evaluate`; remove it or give another "
                             f"--resume_file") from None
        if key != self.key:
            raise UsageError(f"{self.path} holds the progress of another evaluation ({key}); "
                             f"remove it or give another --resume_file")
        return state

    def save(self, state: PassState, force: bool = False) -> None:
        """Write `state` atomically, at most every `save_seconds` unless `force`: often enough that a cut loses
        little, seldom enough that the writes cost nothing next to the pass."""
        if not force and time.time() - self.saved_at < self.save_seconds:
            return
        arrays = {"key": np.array(self.key), **{k: np.array(getattr(state, k)) for k in SUMS + COUNTS + PACE}}
        if state.means:
            arrays.update(means=np.concatenate(state.means), log_vars=np.concatenate(state.log_vars))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(self.path, buffer.getvalue())
        self.saved_at = time.time()

    def remove(self) -> None:
        if os.path.isfile(self.path):
            os.remove(self.path)


def eta_seconds(path: str) -> Optional[float]:
    """Seconds the pass in `path` still needs at its pace so far (None without a pace), BLEU pass excluded."""
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as f:
            done, total = int(f["num_sentences"]), int(f["total_sentences"])
            seconds, timed = float(f["seconds"]), int(f["timed_sentences"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # being replaced, or cut short
        return None
    return seconds / timed * max(total - done, 0) if timed and total else None
