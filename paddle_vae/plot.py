"""Training curves from a run's train_log.jsonl: `python -m paddle_vae.plot RUN_DIR` -> RUN_DIR/curves.png.

With `--latent BUNDLE --dataset D`: the PCA picture of `latent_plot.py` instead.

Four panels against optimizer steps: train rec / KL and dev NLL, KL weight, learning rate.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

from .errors import DataError, UsageError, cli_entry
from .flag_groups import DATASETS
from .experiments.rate_plot import plot_rate
from .reports.figures import plot_latent, pyplot, save_figure


def read_log(run_dir: str) -> List[Dict]:
    """A run folder's train_log.jsonl records; no log, or no step record yet, is one DataError line rather than
    an empty figure."""
    path = os.path.join(run_dir, "train_log.jsonl")
    if not os.path.isfile(path):
        raise DataError(f"no training log at {path}")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    if not any(r["event"] == "step" for r in records):
        raise DataError(f"{path} holds no step records (train longer than --log_freq steps)")
    return records


def plot_curves(records: List[Dict], out_path: str) -> str:
    """The module docstring's four panels against optimizer steps, saved to `out_path` (its path returned): how a
    run's loss, KL, anneal and LR moved, at a glance."""
    plt = pyplot()
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    x = [r["step"] for r in steps]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    ax = axes[0][0]
    ax.plot(x, [r["rec"] + r["kl"] for r in steps], lw=0.8, label="train rec + KL (mean since last point)")
    if epochs:
        ax.plot([r["step"] for r in epochs], [r["dev_nll"] for r in epochs], "o-", label="dev NLL (ELBO)")
    ax.set_ylabel("NLL per sentence (nats)")
    ax.legend()
    axes[0][1].plot(x, [r["kl"] for r in steps], lw=0.8)
    axes[0][1].set_ylabel("KL per sentence (nats)")
    axes[1][0].plot(x, [r["kl_weight"] for r in steps])
    axes[1][0].set_ylabel("KL weight")
    axes[1][1].plot(x, [r["lr"] for r in steps])
    axes[1][1].set_ylabel("learning rate")
    for a in axes[1]:
        a.set_xlabel("step")
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=80)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("run_dir", nargs="?", help="training curves of this run folder")
    p.add_argument("--latent", metavar="BUNDLE", default=None,
                   help="instead: PCA of the posterior means of --dataset's test split under BUNDLE")
    p.add_argument("--rate", metavar="TABLE", default=None,
                   help="instead: the rate-distortion picture of an experiment table (IW-NLL and BLEU against KL)")
    p.add_argument("--dataset", default="sample", choices=DATASETS)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--output", default=None, help="default: RUN_DIR/curves.png or BUNDLE/latent.png")
    p.add_argument("--verbose", action="store_true", help="show the known third-party warnings (hidden by default)")
    return p


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rate is not None:
        out = plot_rate(args.rate, args.output or "rate.png")
    elif args.latent is not None:
        out = plot_latent(args.latent, args, args.output or os.path.join(args.latent, "latent.png"))
    elif args.run_dir is not None:
        out = plot_curves(read_log(args.run_dir), args.output or os.path.join(args.run_dir, "curves.png"))
    else:
        raise UsageError("give a RUN_DIR (training curves), --latent BUNDLE (posterior means) or --rate TABLE "
                         "(rate-distortion)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
