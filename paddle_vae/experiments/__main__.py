"""`python -m paddle_vae.experiments run|status|table|curves|goals|recommend|examples|headline|published TABLE`.

    python -m paddle_vae.experiments run experiments/ptb_latent.json          # safe to rerun at any time
    python -m paddle_vae.experiments status experiments/ptb_latent.json
    python -m paddle_vae.experiments table experiments/ptb_latent.json --update README.md
    python -m paddle_vae.experiments curves experiments/ptb_tie_ablation.json   # dev NLL by epoch
    python -m paddle_vae.experiments goals experiments/ptb_latent.json        # each goal: met, missed by, open
    python -m paddle_vae.experiments recommend experiments/ptb_latent.json    # which row to pick for what
    python -m paddle_vae.experiments examples experiments/ptb_latent.json     # reconstructions, samples, ...
    python -m paddle_vae.experiments headline experiments/ptb_latent.json     # the README's results table
    python -m paddle_vae.experiments published experiments/ptb_tied.json      # beside peers' published rows

Run folders live in --runs_dir (default ~/paddle_vae_runs/TABLE), results in
--results_dir (default docs/results/TABLE beside the table's experiments/ folder).
"""
import argparse
import sys

from ..runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU
from typing import List, Optional

from ..errors import UsageError, cli_entry
from .spec import default_results_dir, default_runs_dir, load_table


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.experiments", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["run", "status", "table", "curves", "goals", "recommend", "examples",
                                           "headline", "published"])
    p.add_argument("table", help="the table file, e.g. experiments/ptb_latent.json")
    p.add_argument("--runs_dir", default=None, help="default ~/paddle_vae_runs/TABLE")
    p.add_argument("--results_dir", default=None, help="default docs/results/TABLE beside experiments/")
    p.add_argument("--jobs", type=int, default=1, help="run: rows at once; the cores are split between them")
    p.add_argument("--threads", type=int, default=None, help="run: threads per row (default cores / jobs)")
    p.add_argument("--rows", nargs="+", default=None, help="run: only these rows")
    p.add_argument("--update", nargs="+", default=None, metavar="PAGE",
                   help="table: rewrite the generated blocks of each Markdown page instead of printing "
                        "(between <!-- KIND TABLE --> and <!-- /KIND -->, KIND one of table, curves, goals, "
                        "recommend, examples, headline, published and TABLE as given here)")
    p.add_argument("--record", action="store_true",
                   help="status: also write RESULTS/ROW.progress.json for unfinished rows (shown by table)")
    return p


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    table = load_table(args.table)
    runs_dir = args.runs_dir or default_runs_dir(table)
    results_dir = args.results_dir or default_results_dir(table)
    if args.jobs <= 0 or (args.threads is not None and args.threads <= 0):
        raise UsageError("--jobs and --threads must be positive")
    if args.rows:
        for name in args.rows:
            table.row(name)
    if args.action in ("table", "curves", "goals", "recommend", "headline", "published"):
        from .pages import GENERATORS, generated
        from ..reports.page_blocks import update_pages

        if not args.update:
            print(generated(args.action, table, results_dir))
            return 0
        update_pages(args.update, args.table,
                     {kind: (lambda page_dir, kind=kind: generated(kind, table, results_dir, page_dir))
                      for kind in GENERATORS})
        return 0
    if args.action == "status":
        from .report import record_progress, status_lines

        print("\n".join(status_lines(table, runs_dir, results_dir)))
        if args.record:
            record_progress(table, runs_dir, results_dir)
        return 0
    from .runner import Runner

    from .examples import make_chosen, row_examples

    if args.action == "examples":
        outcomes = make_chosen(Runner(table, runs_dir, results_dir, jobs=1, threads=args.threads))
        for name, outcome in outcomes.items():
            print(f"{name}: {outcome}")
        return 0 if all(o in ("done", "not finished") for o in outcomes.values()) else 1
    runner = Runner(table, runs_dir, results_dir, jobs=args.jobs, threads=args.threads, after_row=row_examples)
    outcomes = runner.run(args.rows)
    for name, outcome in outcomes.items():
        print(f"{name}: {outcome}" + (f" (examples: {runner.after_outcomes[name]})"
                                       if name in runner.after_outcomes else ""))
    if table.examples and not args.rows and all(o == "done" for o in outcomes.values()):
        runner.threads = max(1, runner.threads * runner.jobs)  # the rows are done: every core for the examples
        for name, outcome in make_chosen(runner).items():
            print(f"{name} examples: {outcome}")
    return 0 if all(o == "done" for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
