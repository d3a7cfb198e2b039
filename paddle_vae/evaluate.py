"""`python -m paddle_vae.evaluate`: the CLI over `paddle_vae.evaluation.metrics` (ELBO, IW-NLL, KL, MI, AU, BLEU).

The estimators live in `metrics` (as the end-of-training summary also uses them); this module only
reads a bundle and a split, runs them and prints or saves the result.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import sys
from typing import Dict, List, Optional

from . import runtime
from .data.corpus import load_and_encode
from .errors import cli_entry
from .evaluation.metrics import evaluate_loader
from .evaluation.progress import ProgressFile, wants_progress
from .files import write_json_atomic
from .flag_groups import (add_bundle_flags, add_data_flags, add_process_flags, bundle_budget, default_device,
                          new_parser, require, require_finite, require_positive)


def format_table(metrics: Dict[str, float]) -> str:
    """The metrics as `evaluate` prints them, in a fixed order, with a check that IW-NLL is not above the ELBO
    NLL: a gap the wrong way shows noise or a bug at a glance."""
    order = ["nll_elbo", "ppl_elbo", "nll_iw", "ppl_iw", "rec", "kl", "mi", "mi_batch", "au", "bleu_greedy",
             "num_sentences", "num_words", "seconds"]
    rows = [(k, metrics[k]) for k in order if k in metrics]
    lines = [f"{k:>14}  {v:.4f}" if isinstance(v, float) else f"{k:>14}  {v}" for k, v in rows]
    if "nll_iw" in metrics:
        # IW with K >= 1 samples is a tighter bound than the 1-sample ELBO, up to sampling noise
        gap = metrics["nll_elbo"] - metrics["nll_iw"]
        verdict = "yes" if gap >= 0 else "NO (sampling noise, or a bug: rerun with another --seed)"
        lines.append(f"nll_iw <= nll_elbo: {verdict}, gap {gap:.4f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("Evaluate a trained bundle on a split: ELBO, IW-NLL, KL, MI, AU, greedy BLEU.")
    add_bundle_flags(p, default=None, help="the bundle folder to evaluate (required)")
    add_data_flags(p, tokenizer_default="the bundle's")
    g = p.add_argument_group("evaluation")
    g.add_argument("--split", default="test", choices=["train", "valid", "test"])
    g.add_argument("--iw_samples", type=int, default=500, help="importance samples per sentence (0: skip IW)")
    g.add_argument("--seed", type=int, default=1, help="seeds the z samples")
    g.add_argument("--output_json", default=None)
    g.add_argument("--max_sentences", type=int, default=None, help="evaluate only the split's first N sentences "
                                                                   "(for timing; reported numbers use all)")
    g.add_argument("--mi_batch_size", type=int, default=32, help="block size of mi_batch (He et al. 2019: 32)")
    g.add_argument("--no_bleu", action="store_true", help="skip bleu_greedy (greedy decodes of the whole split)")
    g.add_argument("--max_rows", type=int, default=None,
                   help="logit rows per decoder pass (memory cap); default 2^23 / vocabulary size")
    g.add_argument("--quiet", action="store_true", help="no progress bar (also off when stderr is not a terminal)")
    g.add_argument("--resume_file", default=None, metavar="PATH",
                   help="keep the pass's running sums in PATH (npz) and continue from them when PATH exists; "
                        "removed once the result is written. Reseeds per batch, so the result is the same "
                        "whether or not the pass was cut off (but differs, by sampling noise, from a run "
                        "without this flag)")
    add_process_flags(p)
    return p


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Every evaluation flag's rule, checked before the bundle or the data is read."""
    require(args.init_from_ckpt is not None, "--init_from_ckpt BUNDLE is required")
    require_finite(args)
    require_positive(args, "batch_size", "max_len", "max_sentences", "mi_batch_size", "max_rows", "num_threads",
                     "max_bundle_mb")
    require(args.iw_samples >= 0, f"--iw_samples must be >= 0, got {args.iw_samples}")
    require(args.dataset != "text" or bool(args.data_dir),
            "--dataset text needs --data_dir holding train.txt, valid.txt and test.txt")
    return args


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = validate(build_parser().parse_args(argv))
    # Lazy on purpose: importing this module must not import generate (tests/test_metrics.py pins it), so
    # the estimators stay in metrics and are not re-implemented next to the generator.
    from .generator import VAEGenerator

    runtime.set_device(args.device or default_device())
    runtime.set_threads(args.num_threads)
    vae = VAEGenerator.from_pretrained(args.init_from_ckpt, bundle_budget(args))
    # Read the split as the bundle was trained, unless the flags say otherwise.
    args.tokenizer, args.lowercase = args.tokenizer or vae.tokenizer, args.lowercase or vae.lowercase
    corpus = load_and_encode(args, vocab=vae.vocab)
    if args.max_sentences:
        corpus.splits[args.split] = corpus.splits[args.split][:args.max_sentences]
    progress_file = None
    if args.resume_file:
        key = {name: getattr(args, name) for name in ("init_from_ckpt", "dataset", "data_dir", "split", "iw_samples",
                                                      "seed", "batch_size", "max_rows", "max_sentences")}
        progress_file = ProgressFile(args.resume_file, key)
    metrics = evaluate_loader(vae.net, corpus.loader(args.split, args.batch_size), args.iw_samples, args.seed,
                              args.mi_batch_size, bleu=not args.no_bleu, max_rows=args.max_rows,
                              progress=wants_progress(args.quiet), progress_file=progress_file)
    metrics.update(split=args.split, dataset=args.dataset, checkpoint=args.init_from_ckpt)
    print(format_table(metrics))
    if args.output_json:
        write_json_atomic(args.output_json, metrics)
    if progress_file is not None:
        progress_file.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
