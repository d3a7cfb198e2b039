"""Compare two trainings' per-step losses: did a change alter what a training computes?

    python scripts/compare_runs.py BEFORE/train_log.jsonl AFTER/train_log.jsonl [--plot OUT.png] [--json OUT.json]

Prints the largest relative difference of the step losses (`--log_freq 1` logs every step) and, with
--plot, draws the two curves side by side; --json keeps both curves with the largest difference.
"""
import argparse
import json
import sys
from typing import List

sys.path.insert(0, __file__.rsplit("/scripts/", 1)[0])  # run from a checkout, not an install

from paddle_vae.files import write_json_atomic  # noqa: E402
from paddle_vae.reports.figures import pyplot, save_figure  # noqa: E402


def step_losses(path: str) -> List[float]:
    with open(path, encoding="utf-8") as f:
        return [record["loss"] for record in map(json.loads, f) if record.get("event") == "step"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--plot", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--title", default="")
    args = p.parse_args()
    before, after = step_losses(args.before), step_losses(args.after)
    if len(before) != len(after) or not before:
        print(f"error: {len(before)} and {len(after)} logged steps: log every step of the same run length",
              file=sys.stderr)
        return 2
    largest = max(abs(a - b) / abs(b) for a, b in zip(after, before))
    print(f"{len(before)} steps; largest relative difference of the step losses: {largest:.3g}")
    if args.json:
        write_json_atomic(args.json, {"steps": len(before), "largest_relative_difference": largest,
                                      "before": before, "after": after, "title": args.title})
    if args.plot:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.2))
        steps = range(1, len(before) + 1)
        ax.plot(steps, before, label="before", linewidth=1.2)
        ax.plot(steps, after, label="after", linewidth=1.2, linestyle="--")
        ax.set(xlabel="step", ylabel="training loss (nats per sentence)", title=args.title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, args.plot, dpi=80)
    return 0


if __name__ == "__main__":
    sys.exit(main())
