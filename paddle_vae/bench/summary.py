"""The training-step figures of committed bench JSONs, as one Markdown table: one line per bench run.

    python -m paddle_vae.bench.summary "docs/bench*.json"                               # print it
    python -m paddle_vae.bench.summary "docs/bench*.json" --update README.md docs/speed.md

Every bench run is on one machine, and its ratios only compare rows of that run, so the table keeps one
line per JSON (run) and names its CPU, rather than averaging runs or machines. `--update` rewrites the
pages' `<!-- bench GLOB -->` blocks, with links relative to each page; the suite checks that the committed
blocks equal what this writes. JSONs without training rows (an evaluation-only run) are left out.
"""
import argparse
import glob
import json
import os
import sys
from typing import Any, Dict, List, Optional

from ..errors import UsageError, cli_entry
from ..page_blocks import has_block, update_blocks

KIND = "bench"
COLUMNS = ["CPU", "threads", "run (JSON)", "ours, s/step", "PyTorch, s/step", "ours against PyTorch",
           "Transformer, s/step", "Transformer over ours", "ours over its GEMM floor"]


def _seconds(train: Dict[str, Any], row: str) -> str:
    result = train.get(row) or {}
    return f"{result['sec_per_step']:.3f}" if "sec_per_step" in result else "–"


def _ratio(ratios: Dict[str, float], key: str) -> str:
    return f"{ratios[key]:.2f}x" if key in ratios else "–"


def bench_runs(pattern: str) -> List[Dict[str, Any]]:
    """The bench JSONs the glob names that hold training rows, ordered by CPU, then file name."""
    runs = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        if isinstance(result, dict) and result.get("train"):
            runs.append(dict(result, path=path))
    if not runs:
        raise UsageError(f"no bench JSON with training rows matches {pattern}")
    return sorted(runs, key=lambda r: (r["machine"], r["path"]))


def summary_markdown(pattern: str, page_dir: str = ".") -> str:
    """The table for the JSONs matching `pattern`, with links relative to `page_dir`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in bench_runs(pattern):
        train, ratios = run["train"], run.get("ratios", {})
        link = os.path.relpath(run["path"], page_dir).replace(os.sep, "/")
        torch = _seconds(train, "torch")
        if "torch_version" in train.get("torch", {}):
            torch += f" (torch {train['torch']['torch_version']})"
        cells = [run["machine"], str(run["threads"]), f"[{os.path.basename(run['path'])}]({link})",
                 _seconds(train, "ours"), torch, _ratio(ratios, "train_speedup_vs_torch"),
                 _seconds(train, "ours_transformer"), _ratio(ratios, "transformer_step_over_lstm_step"),
                 _ratio(ratios, "ours_over_floor")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.bench.summary", description=__doc__.splitlines()[0])
    p.add_argument("pattern", help='a glob of bench JSONs, quoted, e.g. "docs/bench*.json"')
    p.add_argument("--update", nargs="+", default=None, metavar="PAGE",
                   help=f"rewrite the pages' <!-- {KIND} PATTERN --> blocks instead of printing")
    args = p.parse_args(argv)
    if not args.update:
        print(summary_markdown(args.pattern))
        return 0
    for page in args.update:
        if not has_block(page, args.pattern, KIND):
            raise UsageError(f"{page} has no <!-- {KIND} {args.pattern} --> block")
    for page in args.update:
        update_blocks(page, args.pattern, summary_markdown(args.pattern, os.path.dirname(page) or "."), KIND)
        print(f"updated {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
