"""Committed evaluation JSONs (`python -m paddle_vae.evaluate --output_json`) as a Markdown table.

    python -m paddle_vae.reports.eval_table "docs/results/ptb_4_epochs/*.json"                       # print it
    python -m paddle_vae.reports.eval_table docs/results/ptb_reference/ptb_best_test.json --update README.md docs/results-ptb.md

One line per JSON, in file-name order, named by its file (linked relative to the page). The pages hold the
table as a `<!-- eval GLOB -->` block, rewritten by `--update` and checked by the suite, so that the
table is not typed by hand. A language model's likelihood is exact, so a JSON whose IW
estimate equals its ELBO at KL 0 shows "exact" for K.
"""
import argparse
import functools
import glob
import json
import os
import sys
from typing import Any, Dict, List, Optional

from ..errors import UsageError, cli_entry
from .page_blocks import update_pages

KIND = "eval"
COLUMNS = ["evaluation (JSON)", "split", "sentences", "ELBO NLL", "ELBO PPL", "IW-NLL (K)", "IW-PPL", "KL",
           "MI (split / batch)", "AU", "BLEU", "eval time"]
REQUIRED = ("split", "num_sentences", "nll_elbo", "ppl_elbo", "kl")


def _num(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f}"


def _minutes(seconds: Optional[float]) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _iw_samples(result: Dict[str, Any]) -> str:
    exact = result["kl"] == 0 and result.get("nll_iw") == result["nll_elbo"]
    return "exact" if exact else str(result["iw_samples"])


def row_cells(result: Dict[str, Any], link: str) -> List[str]:
    iw = f"{_num(result['nll_iw'])} ({_iw_samples(result)})" if "nll_iw" in result else "–"
    return [f"[{os.path.basename(link)}]({link})", result["split"], f"{result['num_sentences']:,}",
            _num(result["nll_elbo"]), _num(result["ppl_elbo"]), iw, _num(result.get("ppl_iw")),
            _num(result["kl"]), f"{_num(result.get('mi'))} / {_num(result.get('mi_batch'))}",
            str(result.get("au", "–")), _num(result.get("bleu_greedy")), _minutes(result.get("seconds"))]


def eval_markdown(pattern: str, page_dir: str = ".") -> str:
    """The table of the evaluation JSONs matching `pattern`, with links relative to `page_dir`."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise UsageError(f"no evaluation JSON matches {pattern}")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        missing = [key for key in REQUIRED if key not in result]
        if missing:
            raise UsageError(f"{path} is not an evaluation JSON (no {', '.join(missing)})")
        link = os.path.relpath(path, page_dir).replace(os.sep, "/")
        lines.append("| " + " | ".join(row_cells(result, link)) + " |")
    return "\n".join(lines)


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.reports.eval_table", description=__doc__.splitlines()[0])
    p.add_argument("pattern", help='an evaluation JSON or a quoted glob of them, e.g. "docs/results/ptb_4_epochs/*.json"')
    p.add_argument("--update", nargs="+", default=None, metavar="PAGE",
                   help=f"rewrite the pages' <!-- {KIND} PATTERN --> blocks instead of printing")
    args = p.parse_args(argv)
    if args.update:
        update_pages(args.update, args.pattern, {KIND: functools.partial(eval_markdown, args.pattern)})
    else:
        print(eval_markdown(args.pattern))
    return 0


if __name__ == "__main__":
    sys.exit(main())
