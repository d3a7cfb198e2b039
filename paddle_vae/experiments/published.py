"""Peers' published PTB figures (docs/results/published.json), and the `published` block: a table's finished
rows beside the published rows of the same decoder.

    python -m paddle_vae.experiments published experiments/ptb_tied.json

The published figures are copied from the peers' READMEs (each row links its source); ours link the result
JSON they come from. Both are the one-sample ELBO at KL weight 1 on the same test split, so the last columns,
each of our rows minus the best published row of its decoder, compare like with like. A table's companions'
rows follow its own, each named with its table. Unfinished rows are named under the table, not left out
silently.
"""
import json
import os
from typing import Any, Dict, List, Optional

from ..errors import UsageError
from .report import machines_of, result_of
from .spec import Row, Table, flag_value

PUBLISHED_KEYS = {"name", "label", "decoder", "nll_elbo", "ppl_elbo", "note", "headline", "source", "url"}
COLUMNS = ["decoder", "row", "ELBO NLL", "ELBO PPL", "NLL vs best published", "PPL vs best published"]


def published_path(results_dir: str) -> str:
    """docs/results/published.json: beside the table's own results folder (docs/results/TABLE)."""
    return os.path.join(os.path.dirname(os.path.abspath(results_dir)), "published.json")


def published_rows(path: str) -> List[Dict[str, Any]]:
    """The published figures in `path` (none when there is no such file); a malformed file is one line."""
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)["rows"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a list of published rows ({exc})") from None
    for row in rows:
        missing = {"label", "nll_elbo", "ppl_elbo", "url"} - set(row)
        unknown = set(row) - PUBLISHED_KEYS
        if missing or unknown:
            raise UsageError(f"{path}: row {row.get('name')!r} lacks {sorted(missing)} or has unknown "
                             f"{sorted(unknown)}")
    return rows


def linked(value: Optional[float], link: str, digits: int = 2) -> str:
    """A figure as a Markdown link to where it comes from ("–" when there is none)."""
    return "–" if value is None else f"[{value:.{digits}f}]({link})"


def result_link(results_dir: str, name: str, page_dir: str) -> str:
    """The path of a row's result JSON as a page in `page_dir` links it."""
    return os.path.relpath(os.path.join(results_dir, f"{name}.json"), page_dir).replace(os.sep, "/")


def published_cell(row: Dict[str, Any]) -> str:
    """A published row's name, linked to its source, with its note."""
    note = f", {row['note']}" if row.get("note") else ""
    return f"[{row['label']}]({row['url']}) (published{note})"


def decoder_of(table: Table, row: Row) -> str:
    """The row's decoder, from the table's and the row's flags (the training default is the LSTM)."""
    return flag_value(table.train_flags + row.flags, "decoder") or "lstm"


def published_markdown(table: Table, results_dir: str, page_dir: str = ".") -> str:
    """Per decoder of the table and its companions: the published rows, then each finished row of ours with
    its distance to the best published one (negative: ours is lower, so better)."""
    peers = published_rows(published_path(results_dir))
    sources = table.sources(results_dir)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    finished, pending = [], []
    for decoder in dict.fromkeys(decoder_of(source, row) for source, _ in sources for row in source.rows):
        theirs = [p for p in peers if p.get("decoder", "lstm") == decoder]
        best = min(theirs, key=lambda p: p["nll_elbo"]) if theirs else None
        for peer in theirs:
            lines.append(f"| {decoder} | {published_cell(peer)} | {peer['nll_elbo']:.2f} | {peer['ppl_elbo']:.2f} "
                         "| – | – |")
        for source, folder in sources:
            for row in (r for r in source.rows if decoder_of(source, r) == decoder):
                result = result_of(folder, row.name)
                label = f"{row.label or row.name} ({source.name})"
                if not result:
                    pending.append(label)
                    continue
                finished.append((folder, row.name, label))
                link = result_link(folder, row.name, page_dir)
                nll, ppl = result.get("nll_elbo"), result.get("ppl_elbo")
                gaps = ["–", "–"] if best is None or nll is None else [
                    f"{nll - best['nll_elbo']:+.2f}", f"{ppl - best['ppl_elbo']:+.2f}"]
                lines.append(f"| {decoder} | {label} | {linked(nll, link)} | {linked(ppl, link)} | {gaps[0]} "
                             f"| {gaps[1]} |")
    notes = ["", machines_of(finished)]
    if pending:
        notes.append(f"Not finished yet: {'; '.join(pending)}.")
    return "\n".join(lines + notes)
