"""A training's output folder: claimed for one run at a time, never replaced without being asked, and
written through `RunDir`.

    MODEL_PATH/final, best, step_N   bundles
    MODEL_PATH/train_log.jsonl       per log step and per epoch
    MODEL_PATH/train_summary.json    at the end
    MODEL_PATH/.lock                 held (flock) by the training that writes here

A folder that already holds bundles is a trained model someone may need: a new
training into it stops with one line, unless it continues that run
(--init_from_ckpt MODEL_PATH/step_N or MODEL_PATH/final) or --overwrite says
to replace it. Two trainings into one folder at once would interleave their
bundles and logs, so the second one stops too. What a killed training left
(step_N.tmpPID folders, a swap stopped half-way) is tidied when the next
training claims the folder.
"""
import contextlib
import json
import logging
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..files import append_line, clean_leftovers, write_json_atomic
from ..bundle import BUNDLE, save_bundle
from ..errors import UsageError

if TYPE_CHECKING:  # annotations only: the run folder needs no Paddle at import
    import paddle

logger = logging.getLogger("paddle_vae")

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
        """Take the lock without waiting and write our pid into it, so a second training into the folder stops at once
        with one line naming the pid that holds it; returns self."""
        import fcntl

        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        created = not os.path.exists(self.path)
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
        try:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.write(str(os.getpid()))
            self.handle.flush()
        except OSError as exc:  # a full disk: no empty lock file left, and the error names it
            with contextlib.suppress(OSError):  # closing flushes the same bytes again, and fails again
                self.release()
            self.handle = None
            if created:
                os.remove(self.path)
            raise OSError(exc.errno, exc.strerror, self.path) from None
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def restore_before_resume(model_path: str, init_from_ckpt: Optional[str]) -> None:
    """Before a training reads the bundle it continues from its own folder, put back that folder's bundles a
    killed training left half-swapped (NAME.oldPID alone). Reading never changes the disk, so this is the
    writer's work, under the folder's lock, before it reads; `claim` repeats it for the whole folder."""
    if init_from_ckpt is None or not os.path.isdir(model_path) or not _inside(init_from_ckpt, model_path):
        return
    lock = RunDirLock(model_path).acquire()
    try:
        clean_leftovers(model_path, os.path.basename(os.path.normpath(init_from_ckpt)), BUNDLE)
    finally:
        lock.release()


def claim(model_path: str, init_from_ckpt: Optional[str], overwrite: bool) -> RunDirLock:
    """Lock MODEL_PATH for this training and check it may write there (see the module docstring)."""
    lock = RunDirLock(model_path).acquire()
    clean_leftovers(model_path, kind=BUNDLE)  # step_N.tmpPID and the like from a killed training
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


class RunDir:
    """What a training writes into MODEL_PATH: bundles, the rotation of step_N bundles, train_log.jsonl and
    train_summary.json, so the trainer only says what to write and when.

    In data-parallel training rank 0 alone writes: with `writes=False` every
    method is a no-op, and the other ranks keep their own state in memory.
    """

    def __init__(self, path: str, writes: bool = True):
        self.path, self.writes = path, writes

    def bundle_path(self, name: str) -> str:
        return os.path.join(self.path, name)

    def create(self) -> None:
        if self.writes:
            os.makedirs(self.path, exist_ok=True)

    def save(self, name: str, net: "paddle.nn.Layer", config: Dict[str, Any], tokens: List[str],
             optimizer: "paddle.optimizer.Optimizer",
             train_state: Dict[str, Any]) -> Optional[str]:
        """Write bundle MODEL_PATH/name (atomically, replacing an older one of that name); its path."""
        if not self.writes:
            return None
        return save_bundle(self.bundle_path(name), net, config, tokens, optimizer, train_state)

    def keep_newest_steps(self, keep_last: Optional[int]) -> None:
        """--keep_last: delete all but the newest `keep_last` step_N bundles (None keeps them all)."""
        if not self.writes or not keep_last:
            return
        steps = sorted(int(d[5:]) for d in os.listdir(self.path) if d.startswith("step_") and d[5:].isdigit())
        for old in steps[:-keep_last]:
            shutil.rmtree(self.bundle_path(f"step_{old}"), ignore_errors=True)

    def log(self, kind: str, fields: Dict[str, Any]) -> None:
        """Append {event, **fields, time} to train_log.jsonl; every event but "step" is also logged as a line."""
        if not self.writes:
            return
        record = {"event": kind, **fields, "time": round(time.time(), 3)}
        append_line(os.path.join(self.path, "train_log.jsonl"), json.dumps(record))
        if kind != "step":
            logger.info("%s", " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in record.items() if k != "time"))

    def write_summary(self, summary: Dict[str, Any]) -> None:
        if self.writes:
            write_json_atomic(os.path.join(self.path, "train_summary.json"), summary)
