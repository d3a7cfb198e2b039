"""`headline`: the README's one results table, generated from a table's result JSONs and the published figures.

    python -m paddle_vae.experiments headline experiments/ptb_latent.json
    python -m paddle_vae.experiments table experiments/ptb_latent.json --update README.md   # every block

Its rows: the table's reference row (the reproduction, `examples.reference`), the published rows marked
`headline` in docs/results/published.json (peers' README figures, each linked to its source), the table's
LM (`eval.baseline`) and the row each recommendation picks. The picks are computed, not named, so the
headline follows the table when a row finishes or a pick changes. Every figure of ours links to the result
JSON it comes from, relative to the page, and a line under the table names the machines those rows ran on.
"""
from typing import Any, Dict, List, Tuple

from .examples import plan_of
from .published import linked, published_cell, published_path, published_rows, result_link
from .recommend import pick
from .report import machines_line, result_of
from .spec import Table, is_lm

COLUMNS = ["row", "flags", "ELBO NLL", "ELBO PPL", "IW-NLL (K)", "KL", "AU", "BLEU"]


def our_rows(table: Table, results_dir: str) -> List[Tuple[str, str]]:
    """(row name, why it is shown) for the finished rows of ours, in order: the reproduction, the LM, then
    each recommendation's pick. A row shown for two reasons is shown once, with both."""
    why: Dict[str, List[str]] = {}
    reference = plan_of(table).reference
    for name, reason in [(reference, "reproduction"), (table.eval.baseline, "the baseline")]:
        if name and result_of(results_dir, table.row(name).name):
            why.setdefault(name, []).append(reason)
    for aim in table.recommend:
        best, _, _ = pick(table, results_dir, aim)
        if best is not None:
            why.setdefault(best["row"], []).append(f"pick for {aim['for']}")
    return [(name, ", ".join(reasons)) for name, reasons in why.items()]


def _our_line(table: Table, results_dir: str, page_dir: str, name: str, why: str) -> List[str]:
    result = result_of(results_dir, name)
    link = result_link(results_dir, name, page_dir)
    flags = table.row(name).flags
    k = "exact" if is_lm(table.row(name)) else result.get("iw_samples")
    return [f"{result.get('label') or name} ({why})", "`" + " ".join(flags) + "`" if flags else "(none)",
            linked(result.get("nll_elbo"), link), linked(result.get("ppl_elbo"), link),
            f"{linked(result.get('nll_iw'), link)} ({k})", linked(result.get("kl"), link),
            f"[{result['au']}]({link})" if result.get("au") is not None else "–",
            linked(result.get("bleu_greedy"), link)]


def _published_line(row: Dict[str, Any]) -> List[str]:
    return [published_cell(row), "–", linked(row["nll_elbo"], row["url"]), linked(row["ppl_elbo"], row["url"]),
            "–", "–", "–", "–"]


def headline_markdown(table: Table, results_dir: str, page_dir: str = ".") -> str:
    """The headline table: our reproduction, the published rows beside it, the LM and the picks."""
    ours = our_rows(table, results_dir)
    published = [row for row in published_rows(published_path(results_dir)) if row.get("headline")]
    if not ours:
        return "No row of the table has finished yet."
    body = [_our_line(table, results_dir, page_dir, name, why) for name, why in ours]
    after = 1 if "reproduction" in ours[0][1] else 0  # what the reproduction reproduces comes right after it
    body[after:after] = [_published_line(row) for row in published]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines + ["", machines_line(table, results_dir, [name for name, _ in ours])])
