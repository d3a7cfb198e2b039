"""A training's output folder: claimed for one run at a time, and never replaced without being asked.

    MODEL_PATH/final, best, step_N   bundles
    MODEL_PATH/train_log.jsonl       per log step and per epoch
    MODEL_PATH/train_summary.json    at the end
    MODEL_PATH/.lock                 held (flock) by the training that writes here

A folder that already holds bundles is a trained model someone may need: a new
training into it stops with one line, unless it continues that run
(--init_from_ckpt MODEL_PATH/step_N or MODEL_PATH/final) or --overwrite says
to replace it. Two trainings into one folder at once would interleave their
bundles and logs, so the second one stops too.
"""
import os
import shutil
from typing import List, Optional

from .errors import UsageError

RUN_FILES = ("train_log.jsonl", "train_summary.json")
LOCK_FILE = ".lock"


def bundle_names(model_path: str) -> List[str]:
    """The bundles in a run folder (final, best, step_N), in a stable order."""
    if not os.path.isdir(model_path):
        return []
    names = [d for d in os.listdir(model_path) if os.path.isdir(os.path.join(model_path, d))
             and (d in ("final", "best") or (d.startswith("step_") and d[5:].isdigit()))]
    return sorted(names, key=lambda d: (not d.startswith("step_"), int(d[5:]) if d.startswith("step_") else 0, d))


def _inside(path: str, folder: str) -> bool:
    return os.path.realpath(os.path.dirname(os.path.normpath(path))) == os.path.realpath(folder)


class RunDirLock:
    """An exclusive lock on MODEL_PATH/.lock for the training's lifetime (released when the process ends)."""

    def __init__(self, model_path: str):
        self.path = os.path.join(model_path, LOCK_FILE)
        self.handle = None

    def acquire(self) -> "RunDirLock":
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.seek(0)
            owner = self.handle.read().strip() or "another process"
            self.handle.close()
            self.handle = None
            raise UsageError(f"another training (pid {owner}) is writing to {os.path.dirname(self.path)}; "
                             f"wait for it to end or choose another --model_path") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def claim(model_path: str, init_from_ckpt: Optional[str], overwrite: bool) -> RunDirLock:
    """Lock MODEL_PATH for this training and check it may write there (see the module docstring)."""
    lock = RunDirLock(model_path).acquire()
    existing = bundle_names(model_path)
    continuing = init_from_ckpt is not None and _inside(init_from_ckpt, model_path)
    if existing and not continuing:
        if not overwrite:
            lock.release()
            steps = [d for d in existing if d.startswith("step_")]
            resume = os.path.join(model_path, steps[-1] if steps else "final")
            raise UsageError(f"{model_path} already holds a trained run ({', '.join(existing)}); continue it with "
                             f"--init_from_ckpt {resume}, replace it with --overwrite, or choose another "
                             f"--model_path")
        for name in existing:
            shutil.rmtree(os.path.join(model_path, name))
        for name in RUN_FILES:
            if os.path.isfile(os.path.join(model_path, name)):
                os.remove(os.path.join(model_path, name))
    return lock
