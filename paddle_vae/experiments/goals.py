"""`goals`: each goal of a table judged from the committed result JSONs: met, missed by how much, or open.

A table file may list goals; each names the rows it is judged on (default: every VAE row) and bounds on
their result metrics. `nll_iw_vs_baseline` is the row's IW-NLL minus its baseline LM's NLL, so
"0.5 nats below the LM" is `"max": {"nll_iw_vs_baseline": -0.5}`:

    {"name": "beats the LM", "rows": ["bn07", "fb"],
     "min": {"kl": 8, "au": 16, "mi": 5}, "max": {"nll_iw_vs_baseline": -0.5}}

A goal is met when one finished row meets every bound. Otherwise the row that meets the most bounds
(ties: the smallest total shortfall, each bound's in its own unit) is shown with what it lacks, and the
verdict is "not met" once every named row has finished, "open" before.
"""
from typing import Any, Dict, List, Optional, Tuple

from .report import result_of
from .spec import METRIC_NAMES, Table, is_lm

INTEGER_METRICS = ("au", "iw_samples")


def candidate_rows(table: Table, goal: Dict[str, Any]) -> List[str]:
    """The rows a goal or recommendation names, or every VAE row (an LM has no latent to judge)."""
    if goal.get("rows"):
        return [table.row(name).name for name in goal["rows"]]
    return [r.name for r in table.rows if not is_lm(r)]


def metrics_of(table: Table, results_dir: str, name: str) -> Optional[Dict[str, Any]]:
    """The row's result with `nll_iw_vs_baseline` added (None until it and its baseline have finished, so that
    a verdict or pick made without the baseline stays open or provisional)."""
    result = result_of(results_dir, name)
    if result is None:
        return None
    metrics = dict(result)
    baseline = table.baseline_of(table.row(name))
    if not baseline or baseline == name:
        metrics["nll_iw_vs_baseline"] = None
        return metrics
    base = result_of(results_dir, baseline)
    if base is None:
        return None
    metrics["nll_iw_vs_baseline"] = result["nll_iw"] - base["nll_iw"]
    return metrics


def shortfalls(goal: Dict[str, Any], metrics: Dict[str, Any]) -> Dict[str, float]:
    """How far each unmet bound is from being met, in the metric's unit (missing metrics count as unmet)."""
    lacking = {}
    for sign, bounds in ((1.0, goal.get("min", {})), (-1.0, goal.get("max", {}))):
        for key, bound in bounds.items():
            value = metrics.get(key)
            gap = float("inf") if value is None else sign * (bound - value)
            if gap > 0:
                lacking[key] = gap
    return lacking


def format_metric(key: str, value: Optional[float]) -> str:
    """A metric as the pages print it: counts as integers, the distance to the LM signed, the rest to 0.01."""
    if value is None:
        return "–"
    if key in INTEGER_METRICS:
        return str(int(value))
    return f"{value:+.2f}" if key == "nll_iw_vs_baseline" else f"{value:.2f}"


def _bound(key: str, value: float) -> str:
    """A bound as written in the table: signed for the distance to the LM (0 stays 0)."""
    return f"{value:+g}" if key == "nll_iw_vs_baseline" and value else f"{value:g}"


def describe_bounds(goal: Dict[str, Any]) -> str:
    """The bounds as the pages print them, e.g. 'KL ≥ 8, IW-NLL − LM ≤ -0.5'."""
    parts = [f"{METRIC_NAMES.get(k, k)} ≥ {_bound(k, v)}" for k, v in goal.get("min", {}).items()]
    parts += [f"{METRIC_NAMES.get(k, k)} ≤ {_bound(k, v)}" for k, v in goal.get("max", {}).items()]
    return ", ".join(parts)


def judge(table: Table, results_dir: str, goal: Dict[str, Any]) -> Dict[str, Any]:
    """{'verdict': met|not met|open, 'row', 'figures', 'lacking', 'finished', 'rows'} for one goal."""
    names = candidate_rows(table, goal)
    scored: List[Tuple[int, float, str, Dict[str, Any], Dict[str, float]]] = []
    for name in names:
        metrics = metrics_of(table, results_dir, name)
        if metrics is not None:
            lacking = shortfalls(goal, metrics)
            scored.append((len(lacking), sum(lacking.values()), name, metrics, lacking))
    verdict = {"finished": len(scored), "rows": len(names), "row": None, "figures": {}, "lacking": {}}
    if not scored:
        return dict(verdict, verdict="open")
    _, _, name, metrics, lacking = min(scored, key=lambda s: (s[0], s[1]))
    keys = list(goal.get("min", {})) + list(goal.get("max", {}))
    verdict.update(row=name, label=metrics.get("label", name), figures={k: metrics.get(k) for k in keys},
                   lacking=lacking)
    if not lacking:
        return dict(verdict, verdict="met")
    return dict(verdict, verdict="not met" if len(scored) == len(names) else "open")


def goals_markdown(table: Table, results_dir: str, goals: List[Dict[str, Any]]) -> str:
    """One line per goal: the bounds, the verdict, the row closest to it and, if missed, by how much."""
    lines = ["| goal | bounds | verdict | closest row | its figures | short by |", "|---|---|---|---|---|---|"]
    for goal in goals:
        v = judge(table, results_dir, goal)
        state = v["verdict"] + (f" ({v['finished']} of {v['rows']} rows finished)" if v["verdict"] == "open" else "")
        figures = ", ".join(f"{METRIC_NAMES.get(k, k)} {format_metric(k, x)}" for k, x in v["figures"].items()) or "–"
        short = ", ".join(f"{METRIC_NAMES.get(k, k)} by {'–' if gap == float('inf') else f'{gap:.2f}'}"
                          for k, gap in v["lacking"].items()) or "–"
        lines.append(f"| {goal['name']} | {describe_bounds(goal)} | {state} | {v.get('label') or '–'} | "
                     f"{figures} | {short} |")
    return "\n".join(lines)
