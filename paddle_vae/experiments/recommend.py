"""`recommend`: which row of a table a user should pick for each aim, chosen from the committed result JSONs.

A table file may list recommendations. Each names an aim, the metric that ranks the rows (`lowest` or
`highest`), optional bounds a pick must meet (as a goal's `min` and `max`), the rows to choose from
(default: every VAE row; every VAE row of the table's companions joins them) and the figures to show:

    {"for": "reconstruction", "highest": "bleu_greedy", "max": {"nll_iw_vs_baseline": 3.0},
     "show": ["bleu_greedy", "kl", "nll_iw_vs_baseline"]}

The pick is generated, not written by hand, so that it follows the table as rows finish: while some rows
are still running it says it is provisional, and from how many rows it was chosen.
"""
from typing import Any, Dict, List, Optional, Tuple

from .goals import candidate_rows, describe_bounds, format_metric, metrics_of, shortfalls
from .spec import METRIC_NAMES, Table, shown_flags, shown_label


def ranking(aim: Dict[str, Any]) -> Tuple[str, str, float]:
    """(metric, 'lowest' or 'highest', the sign that makes the best row the minimum)."""
    return (aim["lowest"], "lowest", 1.0) if "lowest" in aim else (aim["highest"], "highest", -1.0)


def pick(table: Table, results_dir: str, aim: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], int, int]:
    """(the chosen row's metrics or None, rows finished, rows named) for one recommendation. The candidates
    are the rows the aim names (default: every VAE row) and every VAE row of the table's companions; the
    chosen row's metrics carry its name (`row`), its table (`source`) and that table's `results_dir`."""
    metric, _, sign = ranking(aim)
    finished, total, eligible = 0, 0, []
    for source, folder in table.sources(results_dir):
        names = candidate_rows(source, aim if source is table else {})
        total += len(names)
        for name in names:
            metrics = metrics_of(source, folder, name)
            if metrics is None:
                continue
            finished += 1
            if metrics.get(metric) is not None and not shortfalls(aim, metrics):
                eligible.append(dict(metrics, row=name, source=source, results_dir=folder))
    best = min(eligible, key=lambda m: sign * m[metric]) if eligible else None
    return best, finished, total


def describe_aim(aim: Dict[str, Any]) -> str:
    """The rule as the page prints it, e.g. 'highest BLEU with IW-NLL − LM ≤ +3'."""
    key, word, _ = ranking(aim)
    bounds = describe_bounds(aim)
    return f"{word} {METRIC_NAMES.get(key, key)}" + (f" with {bounds}" if bounds else "")


def recommend_markdown(table: Table, results_dir: str, aims: List[Dict[str, Any]]) -> str:
    """One line per aim: the rule, the row it picks, that row's flags and figures, and how final the pick is."""
    lines = ["| for | rule | pick | flags | its figures | chosen from |", "|---|---|---|---|---|---|"]
    for aim in aims:
        best, finished, total = pick(table, results_dir, aim)
        status = f"{finished} of {total} rows" + (" (provisional)" if finished < total else "")
        if best is None:
            lines.append(f"| {aim['for']} | {describe_aim(aim)} | none yet | – | – | {status} |")
            continue
        flags = shown_flags(table, best["source"], best["row"])
        shown = ", ".join(f"{METRIC_NAMES.get(k, k)} {format_metric(k, best.get(k))}"
                          for k in aim.get("show", [ranking(aim)[0]]))
        lines.append(f"| {aim['for']} | {describe_aim(aim)} | {shown_label(table, best['source'], best.get('label', best['row']))} | "
                     f"{'`' + ' '.join(flags) + '`' if flags else '(none)'} | {shown} | {status} |")
    return "\n".join(lines)
