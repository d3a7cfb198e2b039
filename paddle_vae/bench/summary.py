"""The training-step figures of committed bench JSONs as Markdown tables, one line per bench run.

    python -m paddle_vae.bench.summary "docs/results/bench/bench*.json"                               # print it
    python -m paddle_vae.bench.summary "docs/results/bench/bench*.json" --update README.md docs/speed.md

Every bench run is on one machine, and its ratios only compare rows of that run, so the table keeps one
line per JSON (run) and names its CPU, rather than averaging runs or machines. `--update` rewrites the
pages' `<!-- bench GLOB -->` blocks (ours, PyTorch, the Transformer, the GEMM floor) and
`<!-- bench-transformer GLOB -->` blocks (the Transformer's step with each of its speed-ups removed) and
`<!-- bench-stride GLOB -->` blocks (both decoders with and without Paddle's strided-view kernels),
`<!-- bench-rounds GLOB -->` blocks (every round of the runs made in rounds) and `<!-- bench-cpus GLOB -->`
blocks (one line per CPU model, for the README), with links relative to each page; the suite checks that
the committed blocks equal what this writes. JSONs without training rows (an evaluation-only run) are left
out of those, and shown by `<!-- bench-eval GLOB -->` blocks (the evaluation and Yahoo-shape rows); a
`<!-- bench-profile GLOB -->` block shows where a step goes, from `bench.profile_step --json` files. The
served model's blocks (`bench-serve*`, from `bench.serve` JSONs) are written by serve_table.py.
"""
import argparse
import functools
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import cli_entry
from ..reports.page_blocks import update_pages
from . import serve_table
from .common import json_link, json_runs

Column = Tuple[str, Callable[[Dict[str, Any]], str]]  # (header, the cell of one run)


def _seconds(row: str) -> Callable[[Dict[str, Any]], str]:
    def cell(run: Dict[str, Any]) -> str:
        result = run["train"].get(row) or {}
        return f"{result['sec_per_step']:.3f}" if "sec_per_step" in result else "–"
    return cell


def _ratio(key: str) -> Callable[[Dict[str, Any]], str]:
    """The run's ratio of median rows, then its range over the rounds when the run had more than one."""
    def cell(run: Dict[str, Any]) -> str:
        if key not in run.get("ratios", {}):
            return "–"
        rounds = run.get("ratios_by_round", {}).get(key)
        return f"{run['ratios'][key]:.2f}x" + (f" (rounds: {_span(rounds, '.2f', 'x')})" if rounds else "")
    return cell


def _by_round(values: Callable[[Dict[str, Any]], Optional[List[float]]], spec: str, unit: str = ""
              ) -> Callable[[Dict[str, Any]], str]:
    """Every round's value, in the order the rounds ran (– for a run without them)."""
    def cell(run: Dict[str, Any]) -> str:
        got = values(run)
        return ", ".join(f"{v:{spec}}{unit}" for v in got) if got else "–"
    return cell


def _rounds(row: str) -> Callable[[Dict[str, Any]], str]:
    return _by_round(lambda run: (run["train"].get(row) or {}).get("sec_per_step_rounds"), ".3f")


def _ratio_rounds(key: str) -> Callable[[Dict[str, Any]], str]:
    return _by_round(lambda run: run.get("ratios_by_round", {}).get(key), ".2f", "x")


def _torch(run: Dict[str, Any]) -> str:
    version = (run["train"].get("torch") or {}).get("torch_version")
    return _seconds("torch")(run) + (f" (torch {version})" if version else "")


RUN_COLUMNS: List[Column] = [("CPU", lambda run: run["machine"]), ("threads", lambda run: str(run["threads"])),
                             ("run (JSON)", lambda run: f"[{os.path.basename(run['path'])}]({run['link']})")]
# The block kinds: the columns each table shows after the run's own.
KINDS: Dict[str, List[Column]] = {
    "bench": [("ours, s/step", _seconds("ours")), ("PyTorch, s/step", _torch),
              ("ours against PyTorch", _ratio("train_speedup_vs_torch")),
              ("Transformer, s/step", _seconds("ours_transformer")),
              ("Transformer over ours", _ratio("transformer_step_over_lstm_step")),
              ("ours over its GEMM floor", _ratio("ours_over_floor"))],
    "bench-transformer": [("ours (LSTM), s/step", _seconds("ours")),
                          ("Transformer, s/step", _seconds("ours_transformer")),
                          ("with Paddle's dropout", _seconds("ours_transformer_paddle_dropout")),
                          ("with strided-view kernels", _seconds("ours_transformer_stride_kernels")),
                          ("with Paddle's bias gradient", _seconds("ours_transformer_broadcast_bias")),
                          ("Transformer over ours", _ratio("transformer_step_over_lstm_step"))],
    "bench-stride": [("LSTM, copy kernels (default)", _seconds("ours")),
                     ("LSTM, strided views", _seconds("ours_stride_kernels")),
                     ("Transformer, copy kernels (default)", _seconds("ours_transformer")),
                     ("Transformer, strided views", _seconds("ours_transformer_stride_kernels"))],
    "bench-rounds": [("rounds", lambda run: str(run.get("rounds", 1))),
                     ("ours, s/step by round", _rounds("ours")), ("PyTorch, s/step by round", _rounds("torch")),
                     ("ours against PyTorch by round", _ratio_rounds("train_speedup_vs_torch")),
                     ("Transformer, s/step by round", _rounds("ours_transformer")),
                     ("Transformer over ours by round", _ratio_rounds("transformer_step_over_lstm_step"))],
}
# What a run must have to be shown: a row, or (bench-rounds) more than one round.
NEEDS: Dict[str, Callable[[Dict[str, Any]], bool]] = {
    "bench": lambda run: "ours" in run["train"],
    "bench-transformer": lambda run: "ours_transformer" in run["train"],
    "bench-stride": lambda run: "ours_stride_kernels" in run["train"],
    "bench-rounds": lambda run: run.get("rounds", 1) > 1,
}


def bench_runs(pattern: str) -> List[Dict[str, Any]]:
    """The bench JSONs the glob names that hold training rows, ordered by CPU, then file name."""
    return sorted(json_runs(pattern, "train", "bench JSON with training rows"), key=lambda r: (r["machine"], r["path"]))


def summary_markdown(pattern: str, page_dir: str = ".", kind: str = "bench") -> str:
    """The KIND table for the JSONs matching `pattern`, with links relative to `page_dir`, leaving out the
    runs without the row the kind is about (a Transformer table skips the runs before the Transformer)."""
    columns = RUN_COLUMNS + KINDS[kind]
    lines = ["| " + " | ".join(header for header, _ in columns) + " |", "|" + "---|" * len(columns)]
    for run in bench_runs(pattern):
        if not NEEDS[kind](run):
            continue
        run["link"] = os.path.relpath(run["path"], page_dir).replace(os.sep, "/")
        lines.append("| " + " | ".join(cell(run) for _, cell in columns) + " |")
    return "\n".join(lines)


def _span(values: List[float], spec: str, unit: str = "") -> str:
    """`lo–hi` over the runs (one value when they agree to the shown digits), or – when no run has one."""
    if not values:
        return "–"
    lo, hi = format(min(values), spec), format(max(values), spec)
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def _runs(values: List[float]) -> str:
    return f" ({len(values)} run{'s' if len(values) > 1 else ''})" if values else ""


def by_cpu_markdown(pattern: str, page_dir: str = ".") -> str:
    """One line per CPU model: how many runs, and the range over them of our step and of each ratio (every
    ratio is still one run's; the range only shows how far runs on one machine kind moved)."""
    header = ["CPU", "bench runs", "ours, s/step", "ours against PyTorch", "Transformer over ours"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_cpu: Dict[str, List[Dict[str, Any]]] = {}
    for run in bench_runs(pattern):
        by_cpu.setdefault(run["machine"], []).append(run)
    for machine, runs in by_cpu.items():
        def values(get: Callable[[Dict[str, Any]], Optional[float]]) -> List[float]:
            return [v for v in map(get, runs) if v is not None]
        ours = values(lambda r: (r["train"].get("ours") or {}).get("sec_per_step"))
        torch = values(lambda r: r.get("ratios", {}).get("train_speedup_vs_torch"))
        transformer = values(lambda r: r.get("ratios", {}).get("transformer_step_over_lstm_step"))
        lines.append(f"| {machine} | {len(runs)} | {_span(ours, '.3f')} | {_span(torch, '.2f', 'x')}{_runs(torch)} | "
                     f"{_span(transformer, '.2f', 'x')}{_runs(transformer)} |")
    return "\n".join(lines)


def profile_markdown(pattern: str, page_dir: str = ".") -> str:
    """Where a step goes (`bench.profile_step --json`): each phase's ms/step and share of the bare step,
    largest first (`other` is the bare step minus the phases timed alone), then the bare step against its
    matrix-product floor. One pair of columns per profile JSON."""
    profiles = json_runs(pattern, "breakdown_s", "JSON with 'breakdown_s'")
    phases = sorted(profiles[0]["breakdown_s"], key=lambda k: (k == "other", -profiles[0]["breakdown_s"][k]))
    header = ["phase"] + [c for p in profiles for c in (f"ms/step ({json_link(p, page_dir)}, {p['threads']} threads)",
                                                        "share")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for phase in phases:
        cells = [f"{1000 * p['breakdown_s'].get(phase, 0):.1f} | {p['breakdown_s'].get(phase, 0) / p['bare_step_s']:.0%}"
                 for p in profiles]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("| **bare step** | " + " | ".join(f"**{1000 * p['bare_step_s']:.1f}** | " for p in profiles) + " |")
    lines.append("| GEMM floor: the step's matrix products at numpy's rate | " + " | ".join(
        f"{1000 * p['floor_s']:.1f} | {sum(p['step_gflop'].values()):.1f} GFLOP at {p['gemm_gflops']:.0f} GFLOPS; "
        f"bare step {p['bare_over_floor']:.2f}x" for p in profiles) + " |")
    return "\n".join(lines)


def eval_markdown(pattern: str, page_dir: str = ".") -> str:
    """The bench's evaluation rows (IW-NLL passes) and its Yahoo-shape training row, one line each."""
    header = ["CPU", "run (JSON)", "row", "items", "K", "row cap", "cost", "peak RSS MB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in json_runs(pattern, "eval", "JSON with 'eval'"):
        head = f"| {run['machine']} | {json_link(run, page_dir)} |"
        for name, row in run["eval"].items():
            lines.append(f"{head} {name} | {row['num_sentences']} | {row['iw_samples']} | {row['max_rows']} | "
                         f"{row['sec_per_sentence']:.3f} s/sentence | {row['peak_rss_mb']:.0f} |")
        yahoo = (run.get("yahoo") or {}).get("ours")
        if yahoo:
            lines.append(f"{head} yahoo-shape training | {yahoo['steps_timed']} steps | – | – | "
                         f"{yahoo['sec_per_step']:.3f} s/step ({yahoo['yahoo_hours_per_epoch']:.2f} h per epoch) | "
                         f"{yahoo['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def generators(pattern: str) -> Dict[str, Callable[[str], str]]:
    """Every block kind this module writes, as a function of the page's folder."""
    kinds: Dict[str, Callable[[str], str]] = {
        kind: functools.partial(summary_markdown, pattern, kind=kind) for kind in KINDS}
    kinds["bench-cpus"] = functools.partial(by_cpu_markdown, pattern)
    kinds["bench-profile"] = functools.partial(profile_markdown, pattern)
    kinds["bench-eval"] = functools.partial(eval_markdown, pattern)
    kinds.update({kind: functools.partial(make, pattern) for kind, make in serve_table.GENERATORS.items()})
    return kinds


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.bench.summary", description=__doc__.splitlines()[0])
    p.add_argument("pattern", help='a glob of bench JSONs, quoted, e.g. "docs/results/bench/bench*.json"')
    p.add_argument("--kind", default="bench", choices=sorted(generators("")),
                   help="the table to print (default: one line per run)")
    p.add_argument("--update", nargs="+", default=None, metavar="PAGE",
                   help="rewrite the pages' <!-- KIND PATTERN --> blocks of every kind instead of printing")
    args = p.parse_args(argv)
    if not args.update:
        print(generators(args.pattern)[args.kind]("."))
        return 0
    update_pages(args.update, args.pattern, generators(args.pattern))
    return 0


if __name__ == "__main__":
    sys.exit(main())
