"""`status` (each row's state, from its run folder) and `table` (the markdown table, from the result JSONs).

`table` reads only docs/results/TABLE/*.json, which are committed, so the
README's copy of it can be checked by a test on any machine.
"""
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from ..files import write_json_atomic
from .runfolder import RunFolder, read_json
from .spec import Table, flag_value

COLUMNS = ["row", "flags", "epochs (stop)", "IW-NLL (K)", "ELBO NLL", "ELBO PPL", "IW-PPL", "KL",
           "MI (split / batch)", "AU", "BLEU", "train", "s/step", "eval", "eval RSS"]


def _hours(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _num(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def row_cells(result: Dict[str, Any]) -> List[str]:
    """A finished row's cells, in COLUMNS' order, from its result JSON alone (committed, so the README's copy of
    the table can be checked on any machine); an LM's IW-NLL is marked exact."""
    lm = flag_value(result["flags"], "model") == "lm"
    k = "exact" if lm else result.get("iw_samples")
    stop = result["stopped_by"].replace("_", " ")
    return [result["label"], "`" + " ".join(result["flags"]) + "`" if result["flags"] else "(none)",
            f"{result['epochs']:.1f} ({stop})", f"{_num(result['nll_iw'])} ({k})", _num(result["nll_elbo"]),
            _num(result["ppl_elbo"]), _num(result["ppl_iw"]), _num(result["kl"]),
            f"{_num(result['mi'])} / {_num(result['mi_batch'])}", str(result["au"]),
            _num(result.get("bleu_greedy")), _hours(result["train_wall_seconds"]),
            _num(result["train_step_seconds"] / result["steps"], 3) if result.get("steps") else "–",
            _hours(result["eval_wall_seconds"]),
            "–" if result["eval_peak_rss_mb"] is None else f"{result['eval_peak_rss_mb'] / 1024:.1f} GB"]


def pending_cells(table: Table, name: str, results_dir: str) -> List[str]:
    """An unfinished row's line: label, flags and how far it got, from the committed ROW.progress.json (the run
    folder may be on another machine), and a dash for every metric it has not got yet."""
    row = table.row(name)
    progress = read_json(os.path.join(results_dir, f"{name}.progress.json"))
    state = "not started"
    if progress:
        state = f"running: {progress['epoch']} epochs, best dev {_num(progress.get('best_dev_nll'))}"
    flags = "`" + " ".join(row.flags) + "`" if row.flags else "(none)"
    return [row.label or row.name, flags, state] + ["–"] * (len(COLUMNS) - 3)


def result_of(results_dir: str, name: str) -> Optional[Dict[str, Any]]:
    """A finished row's result JSON (None while it runs)."""
    return read_json(os.path.join(results_dir, f"{name}.json"))


def machines_line(table: Table, results_dir: str, rows: Optional[List[str]] = None) -> str:
    """Which CPUs the finished rows (of `rows`, default all) trained and evaluated on, grouped, so that their
    `s/step` and wall times are read against the right machine (a row resumed elsewhere names every machine
    it ran on)."""
    return machines_of([(results_dir, name, None) for name in rows or [row.name for row in table.rows]])


def machines_of(rows: List[Tuple[str, str, Optional[str]]]) -> str:
    """machines_line for rows given as (results folder, row name, label or None for the result's own), which
    may come from several tables (their labels then name the table)."""
    groups: Dict[str, List[str]] = {}
    for results_dir, name, label in rows:
        result = result_of(results_dir, name)
        if result:
            groups.setdefault(" then ".join(result.get("machines") or ["unknown"]), []).append(
                label or result["label"])
    if not groups:
        return "Machines: no row has finished."
    return "Machines: " + "; ".join(f"{' · '.join(labels)} on {machine}" for machine, labels in groups.items()) + "."


def markdown_table(table: Table, results_dir: str) -> str:
    """One line per row of the table file, in its order; unfinished rows say how far they got. A line under
    the table names the finished rows' machines."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table.rows:
        result = result_of(results_dir, row.name)
        cells = row_cells(result) if result else pending_cells(table, row.name, results_dir)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", machines_line(table, results_dir)])


def row_status(table: Table, runs_dir: str, results_dir: str, name: str) -> Dict[str, Any]:
    """The row's progress (epoch, best dev NLL, LR, train seconds) and state, read from its run folder (a
    finished row's epochs from its result, which outlives the folder); the ETA is kept only while a stage runs."""
    row = table.row(name)
    run = RunFolder(os.path.join(runs_dir, name))
    max_epoch = row.stop_after_epochs or int(flag_value(table.train_flags + row.flags, "max_epoch") or 0) or None
    info = run.progress(max_epoch)
    active = run.active()
    kind = active["kind"] if active else None
    if kind != "train":  # the epochs' ETA is a running training's only
        info["eta_seconds_at_most"] = run.eval_eta_seconds() if kind == "evaluate" else None
    result = result_of(results_dir, name)
    if result:
        state = "done"
        info["epoch"] = int(result.get("epochs") or info["epoch"])  # also when the run folder is gone
    elif active:
        state = f"{active['kind']} (pid {active['pid']}, {_hours(time.time() - active['start'])} in this process)"
    elif run.trained():
        state = "trained, not evaluated" if run.evaluation(table.eval.iw_samples) is None else "evaluated"
    elif run.step_bundles():
        state = f"interrupted: resumes from step_{run.step_bundles()[-1]}"
    else:
        state = "not started"
    return dict(info, row=name, state=state, max_epoch=max_epoch)


def status_lines(table: Table, runs_dir: str, results_dir: str) -> List[str]:
    """`status`'s lines: one per row, with the running stage's ETA where a stage runs."""
    lines = [f"{'row':<14} {'epoch':>5} {'best dev':>9} {'lr':>9} {'stage ETA':>14}  state"]
    for row in table.rows:
        s = row_status(table, runs_dir, results_dir, row.name)
        lr = "–" if s["lr"] is None else f"{s['lr']:.3g}"
        eta = _hours(s.get("eta_seconds_at_most")) if not s["state"].startswith(("done", "not started")) else ""
        lines.append(f"{row.name:<14} {s['epoch']:>5} {_num(s['best_dev_nll']):>9} {lr:>9} {eta:>14}  {s['state']}")
    return lines


def record_progress(table: Table, runs_dir: str, results_dir: str) -> None:
    """Write RESULTS/ROW.progress.json for each unfinished row that has started, for `table` to show."""
    os.makedirs(results_dir, exist_ok=True)
    for row in table.rows:
        path = os.path.join(results_dir, f"{row.name}.progress.json")
        s = row_status(table, runs_dir, results_dir, row.name)
        if s["state"] == "done" or s["state"] == "not started":
            if os.path.isfile(path):
                os.remove(path)
            continue
        write_json_atomic(path, {k: s.get(k) for k in ("epoch", "step", "best_dev_nll", "lr", "max_epoch",
                                                        "train_wall_seconds", "num_decays", "dev_nll_by_epoch")})


def dev_curves_table(table: Table, results_dir: str) -> str:
    """Dev NLL by epoch, one line per row (finished rows from their result, running ones from their recorded
    progress), the best epoch in bold: how fast each variant learns, and where it peaks."""
    curves = {}
    for row in table.rows:
        record = result_of(results_dir, row.name) or read_json(os.path.join(results_dir, f"{row.name}.progress.json"))
        curves[row.name] = (record or {}).get("dev_nll_by_epoch") or []
    width = max((len(c) for c in curves.values()), default=0)
    lines = ["| " + " | ".join(["row", "best dev NLL (epoch)"] + [f"epoch {e + 1}" for e in range(width)]) + " |",
             "|" + "---|" * (width + 2)]
    for row in table.rows:
        curve = curves[row.name]
        best = min(range(len(curve)), key=curve.__getitem__) if curve else None
        state = "" if result_of(results_dir, row.name) else " (running)" if curve else " (not started)"
        cells = [f"**{v:.2f}**" if e == best else f"{v:.2f}" for e, v in enumerate(curve)]
        head = f"{curve[best]:.2f} ({best + 1})" if curve else "–"
        lines.append("| " + " | ".join([f"{row.label or row.name}{state}", head] + cells + [""] * (width - len(curve)))
                     + " |")
    return "\n".join(lines + ["", machines_line(table, results_dir)])
