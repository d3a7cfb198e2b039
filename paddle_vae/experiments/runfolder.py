"""What a row's run folder says about it: trained, resumable from which bundle, how far it got.

    RUNS/ROW/step_N, best/, final/   bundles written by paddle_vae.train
    RUNS/ROW/train_log.jsonl         per log step and per epoch
    RUNS/ROW/train_summary.json      written once training has ended
    RUNS/ROW/segments.jsonl          one line per train or eval process the runner ran
    RUNS/ROW/eval_K.json             paddle_vae.evaluate's JSON with K importance samples
    RUNS/ROW/train.out               the processes' output, appended
    RUNS/ROW/active.json             the child process running now: its segment record so far, and its pid

Nothing here imports Paddle: `status` must be cheap while a table trains.
"""
import json
import os
from typing import Any, Dict, List, Optional

from ..evaluation.progress import eta_seconds

SUMMARY, LOG, SEGMENTS, ACTIVE = "train_summary.json", "train_log.jsonl", "segments.jsonl", "active.json"


def read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_jsonl(path: str) -> List[Dict[str, Any]]:
    """Records of a JSON-lines file; a line cut short by a kill is skipped."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return records


def append_jsonl(path: str, record: Dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def _mtime_or_zero(path: str) -> float:
    """A file's mtime, or 0 if it went between listdir and stat (a pass replacing its progress file)."""
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


class RunFolder:
    """A row's run folder (the layout above), every answer read from disk, nothing kept: `status` and a rerun after
    a kill see what the processes left."""

    def __init__(self, path: str):
        self.path = path

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def step_bundles(self) -> List[int]:
        """Steps of the complete step_N bundles, oldest first (a temporary or half-swapped one is not)."""
        if not os.path.isdir(self.path):
            return []
        steps = []
        for name in os.listdir(self.path):
            if name.startswith("step_") and name[5:].isdigit() and os.path.isfile(
                    os.path.join(self.path, name, "config.json")):
                steps.append(int(name[5:]))
        return sorted(steps)

    def newest_step_bundle(self) -> Optional[str]:
        steps = self.step_bundles()
        return self.file(f"step_{steps[-1]}") if steps else None

    def active(self) -> Optional[Dict[str, Any]]:
        """The child process the runner has running for this row ({kind, pid, start}), if it is alive."""
        info = read_json(self.file(ACTIVE))
        if not info:
            return None
        try:
            os.kill(info["pid"], 0)
        except (OSError, KeyError, TypeError):
            return None
        return info

    def lost_segment(self) -> Optional[Dict[str, Any]]:
        """The segment record of a child that ended with its runner (a machine switched off, a SIGKILL), which
        left its active.json and never got its line in segments.jsonl; None when there is none. Its seconds run
        to the child's last write in this folder; its peak RSS and exit status are unknown (None)."""
        info = read_json(self.file(ACTIVE))
        if not info or "commit" not in info or self.active() is not None:
            return None  # nothing left behind, a record from before active.json held the segment, or still alive
        last_write = max((_mtime_or_zero(self.file(n)) for n in os.listdir(self.path) if n != ACTIVE), default=0.0)
        record = {k: v for k, v in info.items() if k != "pid"}
        record.update(seconds=max(last_write - info["start"], 0.0), returncode=None, peak_rss_mb=None,
                      lost="its runner ended before it did; seconds up to its last write in the run folder")
        return record

    def summary(self) -> Optional[Dict[str, Any]]:
        return read_json(self.file(SUMMARY))

    def trained(self) -> bool:
        return self.summary() is not None and os.path.isdir(self.file("best"))

    def log(self) -> List[Dict[str, Any]]:
        return read_jsonl(self.file(LOG))

    def segments(self) -> List[Dict[str, Any]]:
        return read_jsonl(self.file(SEGMENTS))

    def eval_path(self, iw_samples: int) -> str:
        return self.file(f"eval_{iw_samples}.json")

    def evaluation(self, iw_samples: int) -> Optional[Dict[str, Any]]:
        return read_json(self.eval_path(iw_samples))

    def eval_eta_seconds(self) -> Optional[float]:
        """The running evaluation's remaining seconds, from its newest progress file (None if it has none)."""
        files = [self.file(n) for n in os.listdir(self.path) if n.startswith("eval_") and n.endswith(".progress.npz")]
        return eta_seconds(max(files, key=_mtime_or_zero)) if files else None

    def dev_curve(self) -> List[float]:
        """Each finished epoch's dev NLL, in order (a resumed run logs each epoch once)."""
        by_epoch = {r["epoch"]: r["dev_nll"] for r in self.log() if r.get("event") == "epoch" and "dev_nll" in r}
        return [by_epoch[e] for e in sorted(by_epoch)]

    def progress(self, max_epoch: Optional[int]) -> Dict[str, Any]:
        """Epoch, best dev NLL, LR and seconds per epoch as the log tells them (for status and ETAs)."""
        log = self.log()
        epochs = [r for r in log if r.get("event") == "epoch"]
        lrs = [r["lr"] for r in log if "lr" in r]
        train = [s for s in self.segments() if s.get("kind") == "train"]
        seconds = sum(s.get("seconds", 0.0) for s in train)
        steps = max((r.get("step", 0) for r in log), default=0)
        epoch = epochs[-1]["epoch"] if epochs else 0  # the log's epoch field counts finished epochs
        info: Dict[str, Any] = {"epoch": epoch, "step": steps, "lr": lrs[-1] if lrs else None,
                                "best_dev_nll": min((r["dev_nll"] for r in epochs), default=None),
                                "train_wall_seconds": seconds,
                                "num_decays": sum(1 for r in log if r.get("event") == "lr_decay"),
                                "dev_nll_by_epoch": self.dev_curve()}
        times = [r["time"] for r in epochs if "time" in r]
        if len(times) >= 2 and max_epoch:  # the median epoch: a resume's gap or a slow neighbour counts little
            per_epoch = sorted(b - a for a, b in zip(times, times[1:]))[(len(times) - 1) // 2]
            info["seconds_per_epoch"] = per_epoch
            info["eta_seconds_at_most"] = per_epoch * max(max_epoch - epoch, 0)
        return info
