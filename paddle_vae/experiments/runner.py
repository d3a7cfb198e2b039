"""`run`: train every unfinished row (resuming from its newest step bundle), evaluate it, write its result.

Each row is a sequence of child processes (`paddle_vae.train`, then
`paddle_vae.evaluate` once or twice), each logged to the row's segments.jsonl
with its wall time, peak RSS, machine and commit. Every step is decided from
what is on disk, so the runner can be killed at any moment and rerun: a row
whose training was cut off resumes from its newest step bundle (at most
`save_steps` steps are redone), an evaluation cut off is rerun. A child's
record waits in the row's active.json while it runs, so one that ended with
its runner (a machine switched off) is still logged, by the next run.
SIGINT / SIGTERM are passed on to the trainings, which write a step bundle
before they exit. `after_row`, when given, runs once a row's result is written
(and on each rerun of a finished row): the CLI makes the row's examples there,
while its bundle is still on this machine.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

from ..files import write_json_atomic
from ..runtime import available_cores, cpu_name
from .runfolder import ACTIVE, SEGMENTS, RunFolder, append_jsonl, read_json
from .spec import Row, Table, is_lm

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def commit() -> str:
    """The package's git commit, '+dirty' when tracked files differ from it ('unknown' outside git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PACKAGE_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "paddle_vae"], cwd=PACKAGE_ROOT).returncode
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Runner:
    """A table's rows, `jobs` at a time, each as child processes (train, then evaluate) whose next step is read
    from the row's run folder: a killed runner reruns from where it stopped, and each segment's peak RSS is its own."""

    def __init__(self, table: Table, runs_dir: str, results_dir: str, jobs: int = 1,
                 threads: Optional[int] = None, python: str = sys.executable,
                 after_row: Optional[Callable[["Runner", Row], str]] = None):
        self.table, self.runs_dir, self.results_dir = table, os.path.abspath(runs_dir), os.path.abspath(results_dir)
        self.jobs = jobs
        self.threads = threads or max(1, available_cores() // jobs)
        self.python = python
        self.stopping = threading.Event()
        self.children: Dict[int, subprocess.Popen] = {}
        self.finished = {row.name: threading.Event() for row in table.rows}
        self.machine, self.commit = f"{cpu_name()}, {available_cores()} cores", commit()
        self.after_row = after_row
        self.after_outcomes: Dict[str, str] = {}  # row -> what after_row said

    # -- paths ------------------------------------------------------------------
    def folder(self, row: Row) -> RunFolder:
        return RunFolder(os.path.join(self.runs_dir, row.name))

    def result_path(self, row: Row) -> str:
        return os.path.join(self.results_dir, f"{row.name}.json")

    def portable(self, value: Any) -> Any:
        """Paths made relative: RUNS/... for the runs folder, ./... for the project, `python` for ours."""
        if isinstance(value, list):
            return [self.portable(v) for v in value]
        if not isinstance(value, str):
            return value
        if value == self.python:
            return "python"
        for prefix, name in ((self.runs_dir, "RUNS"), (PACKAGE_ROOT, ".")):
            if value == prefix or value.startswith(prefix + os.sep):
                return name + value[len(prefix):]
        return value

    # -- commands -----------------------------------------------------------------
    def data_flags(self) -> List[str]:
        flags = ["--dataset", self.table.dataset]
        return flags + (["--data_dir", self.table.data_dir] if self.table.data_dir else [])

    def train_command(self, row: Row, resume_from: Optional[str]) -> List[str]:
        """The `paddle_vae.train` argv of a row: the table's flags, then the row's (the last wins), step bundles every
        `save_steps` and no final evaluation (the runner evaluates by its plan); `resume_from` continues a cut run."""
        run = self.folder(row)
        cmd = [self.python, "-m", "paddle_vae.train", *self.data_flags(), *self.table.train_flags, *row.flags]
        if row.stop_after_epochs:
            cmd += ["--max_epoch", str(row.stop_after_epochs)]
        cmd += ["--model_path", run.path, "--save_steps", str(self.table.save_steps), "--keep_last", "2",
                "--final_eval", "none", "--num_threads", str(self.threads)]
        return cmd + (["--init_from_ckpt", resume_from] if resume_from else [])

    def eval_command(self, row: Row, iw_samples: int) -> List[str]:
        run, plan = self.folder(row), self.table.eval
        return [self.python, "-m", "paddle_vae.evaluate", "--init_from_ckpt", run.file(plan.bundle),
                *self.data_flags(), "--split", plan.split, "--iw_samples", str(iw_samples),
                "--num_threads", str(self.threads), "--quiet", "--output_json", run.eval_path(iw_samples),
                "--resume_file", run.file(f"eval_{iw_samples}.progress.npz"), *plan.extra_flags]

    def execute(self, row: Row, kind: str, cmd: List[str]) -> int:
        """Run one child process to its end, appending its output to train.out and its segment record."""
        run = self.folder(row)
        os.makedirs(run.path, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        lost = run.lost_segment()
        if lost is not None:
            append_jsonl(run.file(SEGMENTS), lost)
        start = time.time()
        record = {"kind": kind, "command": self.portable(cmd), "start": start, "machine": self.machine,
                  "commit": self.commit, "threads": self.threads, "jobs": self.jobs}
        with open(run.file("train.out"), "a", encoding="utf-8") as out:
            out.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {kind}: {' '.join(cmd)}\n")
            out.flush()
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            self.children[child.pid] = child
            # The record so far, so that a runner killed with its child still leaves the segment (lost_segment).
            write_json_atomic(run.file(ACTIVE), dict(record, pid=child.pid))
            try:
                _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the runner's
            finally:
                self.children.pop(child.pid, None)
                os.remove(run.file(ACTIVE))
        returncode = os.waitstatus_to_exitcode(status)
        child.returncode = returncode
        append_jsonl(run.file(SEGMENTS), dict(record, seconds=time.time() - start, returncode=returncode,
                                              peak_rss_mb=usage.ru_maxrss / 1024.0))
        return returncode

    # -- one row ----------------------------------------------------------------------
    def run_row(self, row: Row) -> str:
        """Take one row as far as it goes and say how it ended ("done", "interrupted" or what failed); its
        `finished` event is set whatever happens, so rows waiting on it as their baseline never hang."""
        try:
            outcome = self._run_row(row)
        finally:
            self.finished[row.name].set()
        if outcome == "done" and self.after_row is not None and not self.stopping.is_set():
            self.after_outcomes[row.name] = self.after_row(self, row)
        return outcome

    def _run_row(self, row: Row) -> str:
        if os.path.isfile(self.result_path(row)):
            return "done"
        run = self.folder(row)
        if not run.trained():
            resume = run.newest_step_bundle()
            if resume is None and os.path.isdir(run.path):
                for name in ("train_log.jsonl", "best", "final"):  # debris of a start cut off before step 1
                    if os.path.isfile(run.file(name)):
                        os.remove(run.file(name))
            code = self.execute(row, "train", self.train_command(row, resume))
            if self.stopping.is_set() or not run.trained():
                return "interrupted" if self.stopping.is_set() else f"training failed (exit {code}, see " \
                                                                     f"{run.file('train.out')})"
        plan = self.table.eval
        evals = [plan.iw_samples]
        for iw_samples in evals:
            if run.evaluation(iw_samples) is None:
                code = self.execute(row, "evaluate", self.eval_command(row, iw_samples))
                if self.stopping.is_set() or run.evaluation(iw_samples) is None:
                    return "interrupted" if self.stopping.is_set() else f"evaluation failed (exit {code})"
        if plan.iw_samples_close and not is_lm(row) and self.close_to_baseline(row, run.evaluation(evals[0])):
            if run.evaluation(plan.iw_samples_close) is None:
                self.execute(row, "evaluate", self.eval_command(row, plan.iw_samples_close))
                if run.evaluation(plan.iw_samples_close) is None:
                    return "interrupted" if self.stopping.is_set() else "evaluation failed"
            evals.append(plan.iw_samples_close)
        write_json_atomic(self.result_path(row), self.result(row, evals))
        return "done"

    def close_to_baseline(self, row: Row, first: Dict[str, Any]) -> bool:
        """Whether the row's first IW estimate is within close_nats of the baseline row's NLL (waits for it)."""
        plan, name = self.table.eval, self.table.baseline_of(row)
        if name is None or name == row.name:
            return False
        self.finished[name].wait()
        baseline = self.read_result(name)
        if baseline is None:
            return False
        return first["nll_iw"] - baseline["nll_iw"] <= plan.close_nats

    def read_result(self, name: str) -> Optional[Dict[str, Any]]:
        return read_json(os.path.join(self.results_dir, f"{name}.json"))

    def result(self, row: Row, evals: List[int]) -> Dict[str, Any]:
        """The last evaluation's JSON plus how the row was trained and what it cost."""
        run = self.folder(row)
        metrics = dict(run.evaluation(evals[-1]))
        summary, segments = run.summary(), run.segments()
        train = [s for s in segments if s["kind"] == "train"]
        evaluation = [s for s in segments if s["kind"] == "evaluate"]
        metrics.update(
            table=self.table.name, row=row.name, label=row.label or row.name, flags=row.flags, note=row.note,
            checkpoint=os.path.relpath(run.file(self.table.eval.bundle), self.runs_dir),
            epochs=summary["epochs"], steps=summary["steps"], best_step=summary["best_step"],
            stopped_by=stopped_by(summary, row, self.table), stop_after_epochs=row.stop_after_epochs,
            train_wall_seconds=sum(s["seconds"] for s in train), train_step_seconds=summary["train_seconds"],
            eval_wall_seconds=sum(s["seconds"] for s in evaluation),
            eval_peak_rss_mb=_peak(evaluation), train_peak_rss_mb=_peak(train),
            iw_estimates={str(k): run.evaluation(k)["nll_iw"] for k in evals}, dev_nll_by_epoch=run.dev_curve(),
            machines=sorted({s["machine"] for s in segments}), commits=sorted({s["commit"] for s in segments}),
            commands={"train": [s["command"] for s in train], "evaluate": [s["command"] for s in evaluation]})
        return metrics

    # -- the table ------------------------------------------------------------------------
    def run(self, only: Optional[List[str]] = None) -> Dict[str, str]:
        """Run the rows (`only`: those named) on `jobs` threads; {row: outcome}. SIGINT / SIGTERM meanwhile stop new
        work and reach the children, and the previous handlers are back on return."""
        # In table order: a row's baseline is above it (load_table checks), so it has started before any row
        # that waits for its result, and waiting rows never hold every worker.
        rows = [r for r in self.table.rows if not only or r.name in only]
        for row in self.table.rows:
            if row not in rows:
                self.finished[row.name].set()
        os.makedirs(self.results_dir, exist_ok=True)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                outcomes = dict(zip([r.name for r in rows], pool.map(self._guarded, rows)))
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return outcomes

    def _guarded(self, row: Row) -> str:
        if self.stopping.is_set():
            self.finished[row.name].set()
            return "not started"
        return self.run_row(row)

    def _on_signal(self, signum, frame) -> None:
        """Stop starting work; trainings write a step bundle and exit, evaluations end (rerun next time)."""
        self.stopping.set()
        for child in list(self.children.values()):
            try:
                child.send_signal(signal.SIGTERM)
            except OSError:
                pass


def _peak(segments: List[Dict[str, Any]]) -> Optional[float]:
    """The highest peak RSS the segments measured (a lost segment's is unknown), None if none did."""
    return max((s["peak_rss_mb"] for s in segments if s["peak_rss_mb"] is not None), default=None)


def stopped_by(summary: Dict[str, Any], row: Row, table: Table) -> str:
    """plateau, patience, max_epoch or by_hand, from the training's own record when it has one."""
    if row.stop_after_epochs:
        return "by_hand"
    if summary.get("stopped_by"):
        return summary["stopped_by"]
    return "max_epoch"
