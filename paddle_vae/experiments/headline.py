"""`headline`: the README's one results table, generated from a table's result JSONs and the published figures.

    python -m paddle_vae.experiments headline experiments/ptb_latent.json
    python -m paddle_vae.experiments table experiments/ptb_latent.json --update README.md   # every block

Its rows: the table's reference row (the reproduction, `examples.reference`), the published rows marked
`headline` in docs/results/published.json (peers' README figures, each linked to its source), the table's
LM (`eval.baseline`) and the row each recommendation picks, from this table or a companion (a companion's
row is named with its table). The picks are computed, not named, so the headline follows the tables when a
row finishes or a pick changes. Every figure of ours links to the result
JSON it comes from, relative to the page, and a line under the table names the machines those rows ran on.
"""
from typing import Any, Dict, List, Tuple

from .examples import plan_of
from .published import linked, published_cell, published_path, published_rows, result_link
from .recommend import pick
from .report import machines_of, result_of
from .spec import Table, is_lm, shown_flags, shown_label

COLUMNS = ["row", "flags", "ELBO NLL", "ELBO PPL", "IW-NLL (K)", "KL", "AU", "BLEU"]


Shown = Tuple[Table, str, str, str]  # (the row's table, its results folder, its name, why it is shown)


def our_rows(table: Table, results_dir: str) -> List[Shown]:
    """The finished rows of ours, in order: the reproduction, the LM, then each recommendation's pick. A row
    shown for two reasons is shown once, with both."""
    why: Dict[Tuple[str, str], List[str]] = {}
    where: Dict[Tuple[str, str], Tuple[Table, str]] = {}
    reference = plan_of(table).reference
    for name, reason in [(reference, "reproduction"), (table.eval.baseline, "the baseline")]:
        if name and result_of(results_dir, table.row(name).name):
            why.setdefault((table.name, name), []).append(reason)
            where[(table.name, name)] = (table, results_dir)
    for aim in table.recommend:
        best, _, _ = pick(table, results_dir, aim)
        if best is not None:
            key = (best["source"].name, best["row"])
            why.setdefault(key, []).append(f"pick for {aim['for']}")
            where[key] = (best["source"], best["results_dir"])
    shown = []
    for key, reasons in why.items():
        source, folder = where[key]
        reasons = reasons if source is table else [source.name] + reasons
        shown.append((source, folder, key[1], ", ".join(reasons)))
    return shown


def _our_line(table: Table, shown: Shown, page_dir: str) -> List[str]:
    source, results_dir, name, why = shown
    result = result_of(results_dir, name)
    link = result_link(results_dir, name, page_dir)
    flags = shown_flags(table, source, name)
    k = "exact" if is_lm(source.row(name)) else result.get("iw_samples")
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
    body = [_our_line(table, shown, page_dir) for shown in ours]
    after = 1 if "reproduction" in ours[0][3] else 0  # what the reproduction reproduces comes right after it
    body[after:after] = [_published_line(row) for row in published]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    named = [(folder, name, shown_label(table, source, result_of(folder, name)["label"]))
             for source, folder, name, _ in ours]
    return "\n".join(lines + ["", machines_of(named)])
