"""Speed benchmark: our training step and prior sampling against the reference's shape, in one run.

    python -m paddle_vae.bench --data_dir ../shared/data/ptb --json bench.json

Every configuration runs in its own subprocess (environment variables such as
MKL_DEBUG_CPU_TYPE only act before Paddle's first matrix product, and peak RSS
is per process) on the same real PTB batches, saved once to a temporary file.

Rows:
  reference       the reference's shape (per-step LSTMCell loop, full padded
                  projection) in the reference's environment, at our thread count
  reference+env   the same shape with our process set-up (threads, MKL path)
  ours            fused decoder LSTM, projection at non-pad positions, our set-up: the
                  training default
  ours_glibc_malloc  the same with glibc's default allocator thresholds (no
                  runtime._keep_freed_buffers), to show what that tuning gives
  ours_stride_kernels  the same with Paddle's strided-view kernels left on
                  (PADDLE_VAE_STRIDE_KERNELS=1), to show what turning them off gives
  ours_transformer  the Transformer decoder (--decoder transformer) at Texar's sizes
  ours_transformer_stride_kernels  the same with the strided-view kernels left on
  torch           the same model in PyTorch (fused LSTMs, non-pad positions only), when
                  torch is importable (--torch_python)

Training rows run in `--rounds` rounds (3 by default), the row order turned each round; a row's figures
are those of its median round, and the JSON keeps every round's s/step and each ratio per round (`rounds`).

The GEMM floor is the timed batches' matrix-product FLOPs over numpy's best
GEMM rate at the same thread count, measured in the same run (as profile_step does).

Sampling rows: `reference` (its one-hot multinomial output function inside a
beam-1 BeamSearchDecoder, batch 32, stopping at EOS), `reference_as_shipped`
(the same, run to the 100-step limit as the reference's own samples did,
since its model never learned EOS) and `ours`.

Sampling uses the same weights on both paths: a PTB-sized model whose output
bias is the log unigram distribution of PTB (EOS included), so sentence
lengths are realistic without training first.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..files import write_json_atomic
from ..data.corpus import load_and_encode
from ..runtime import available_cores, cpu_name
from .common import MODEL, gemm_gflops, step_flops, torch_available
from .report import print_report
from .rounds import ratios_by_round, run_rounds, step_ratios
from .rows import run_extra_rows, write_batches



ROWS = ("train", "sample", "eval", "yahoo")
DEFAULT_ROWS = ("train", "sample")  # under 5 minutes; eval and yahoo are asked for with --rows


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------
def save_batches(args: argparse.Namespace, path: str) -> Dict[str, Any]:
    """The timed PTB training batches, with what the sampling rows need, saved once for every row."""
    ns = argparse.Namespace(dataset="ptb", data_dir=args.data_dir, max_len=1280, batch_size=args.batch_size, seed=1)
    start = time.perf_counter()
    corpus = load_and_encode(ns)
    loader = corpus.loader("train", args.batch_size, shuffle=True, seed=1)
    counts = np.bincount([t for s in corpus.splits["train"] for t in s], minlength=len(corpus.vocab)).astype("float64")
    counts[corpus.eos_id] = len(corpus.splits["train"])
    counts += 1e-3
    write_batches(loader, args.warmup + args.steps, path, vocab_size=len(corpus.vocab), pad_id=corpus.pad_id,
                  bos_id=corpus.bos_id, eos_id=corpus.eos_id, unigram_log_prob=np.log(counts / counts.sum()))
    return {"data_prep_seconds": time.perf_counter() - start}


def run_worker(kind: str, cfg: Dict[str, Any], reference_env: bool = False, python: str = sys.executable,
               glibc_malloc: bool = False, stride_kernels: bool = False) -> Dict[str, Any]:
    """Run one row in a fresh process; `reference_env` drops all our process set-up, `glibc_malloc` only
    the allocator tuning (runtime._keep_freed_buffers), `stride_kernels` only the copy-kernel flag."""
    env = dict(os.environ)
    if reference_env:
        env.pop("MKL_DEBUG_CPU_TYPE", None)
        env["PADDLE_VAE_NO_MKL_SETUP"] = "1"
    if reference_env or glibc_malloc:
        env["PADDLE_VAE_NO_MALLOC_SETUP"] = "1"
    if reference_env or stride_kernels:
        env.pop("FLAGS_use_stride_kernel", None)
        env["PADDLE_VAE_STRIDE_KERNELS"] = "1"
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    proc = subprocess.run([python, "-m", "paddle_vae.bench", "--_worker", kind, "--_cfg", json.dumps(cfg)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gemm_floor(batches_path: str, warmup: int, threads: int) -> Dict[str, Any]:
    """The timed batches' matrix-product FLOPs over numpy's best GEMM rate, measured now (see profile_step)."""
    data = np.load(batches_path)
    timed = range(warmup, int(data["n"]))
    flops = [sum(step_flops(int(data[f"src_len{i}"].sum()), int(data[f"trg_len{i}"].sum()),
                            int(data["vocab_size"]), **MODEL).values()) for i in timed]
    rate = gemm_gflops(threads)
    return {"step_gflop": float(np.mean(flops)) / 1e9, "gemm_gflops": rate,
            "floor_s": float(np.mean(flops)) / 1e9 / rate}


def training_rows(args: argparse.Namespace, base: Dict[str, Any]) -> Dict[str, Callable[[], Dict[str, Any]]]:
    """Each training row as a call that runs it once in a fresh process, in the order of the docstring."""
    fused, transformer = dict(base, impl="fused"), dict(base, impl="fused", decoder="transformer")
    rows: Dict[str, Callable[[], Dict[str, Any]]] = {
        "reference": lambda: run_worker("train_paddle", dict(base, impl="cell"), reference_env=True),
        "reference+env": lambda: run_worker("train_paddle", dict(base, impl="cell")),
        "ours": lambda: run_worker("train_paddle", fused),
        "ours_glibc_malloc": lambda: run_worker("train_paddle", fused, glibc_malloc=True),
        "ours_stride_kernels": lambda: run_worker("train_paddle", fused, stride_kernels=True),
        "ours_transformer": lambda: run_worker("train_paddle", transformer),
        "ours_transformer_stride_kernels": lambda: run_worker("train_paddle", transformer, stride_kernels=True),
    }
    if not args.skip_torch and torch_available(args.torch_python):
        rows["torch"] = lambda: run_worker("train_torch", base, python=args.torch_python)
    return rows


def run_here(kind: str, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Run worker `kind` in this process (the `--_worker` side of run_worker)."""
    # Lazy on purpose: the orchestrator never loads torch, and the torch row's interpreter may have no Paddle.
    if kind == "train_torch":
        from .torch_row import worker_train_torch

        return worker_train_torch(cfg)
    from .workers import WORKERS

    return WORKERS[kind](cfg)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--data_dir", required=False, default=None, help="folder with ptb.{train,valid,test}.txt")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=None,
                   help="run every training row this many times, in rotated order; a row's result is its median "
                        "(default 3; 1 with --smoke)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument("--sample_sentences", type=int, default=2048)
    p.add_argument("--reference_sentences", type=int, default=128)
    p.add_argument("--sample_batch", type=int, default=512)
    p.add_argument("--skip_torch", action="store_true")
    p.add_argument("--torch_python", default=sys.executable,
                   help="interpreter for the PyTorch row (torch is never a dependency of paddle_vae)")
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    p.add_argument("--eval_sentences", type=int, default=320, help="eval row: first N PTB test sentences")
    p.add_argument("--iw_samples", type=int, default=500, help="eval row: K")
    p.add_argument("--yahoo_eval_documents", type=int, default=16, help="yahoo row: IW over the first N test docs")
    p.add_argument("--yahoo_dir", default=None, help="yahoo row: folder with vocab.txt and yahoo.valid.txt "
                                                     "(../shared/data/yahoo_partial); the row is skipped without it")
    p.add_argument("--smoke", action="store_true", help="a few steps and sentences per row: checks, not timings")
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_cfg", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker:
        print(json.dumps(run_here(args._worker, json.loads(args._cfg))))
        return 0
    rows = [r for r in args.rows.split(",") if r]
    if args.rounds is None:
        args.rounds = 1 if args.smoke else 3
    if args.rounds < 1:
        print(f"error: --rounds must be at least 1, got {args.rounds}", file=sys.stderr)
        return 2
    if not set(rows) <= set(ROWS):
        print(f"error: --rows takes a subset of {','.join(ROWS)}, got {args.rows}", file=sys.stderr)
        return 2
    if args.smoke:
        args.steps, args.warmup, args.sample_sentences, args.reference_sentences = 2, 1, 16, 8
        args.eval_sentences, args.iw_samples, args.skip_torch, args.yahoo_eval_documents = 8, 4, True, 2
    if not args.data_dir or not os.path.isfile(os.path.join(args.data_dir, "ptb.train.txt")):
        print(f"error: --data_dir must hold ptb.train.txt (got {args.data_dir})", file=sys.stderr)
        return 2
    threads = args.threads or available_cores()
    results: Dict[str, Any] = {"machine": f"{cpu_name()}, {available_cores()} cores", "threads": threads,
                               "batch_size": args.batch_size, "model": MODEL}
    with tempfile.TemporaryDirectory() as tmp:
        batches = os.path.join(tmp, "batches.npz")
        results.update(save_batches(args, batches))
        base = {"batches": batches, "warmup": args.warmup, "threads": threads}
        train = results["train"] = {} if "train" in rows else None
        sample = results["sample"] = {} if "sample" in rows else None
        if train is not None:
            train_rows = training_rows(args, base)
            medians, per_round = run_rounds(train_rows, args.rounds)
            train.update(medians)
            results["rounds"] = args.rounds
        if sample is not None:
            sample["reference"] = run_worker("sample", dict(base, path="reference",
                                                            num_sentences=args.reference_sentences),
                                             reference_env=True)
            sample["reference_as_shipped"] = run_worker("sample", dict(
                base, path="reference_as_shipped", num_sentences=min(64, args.reference_sentences)),
                reference_env=True)
            sample["ours"] = run_worker("sample", dict(base, path="ours", num_sentences=args.sample_sentences,
                                                       batch=args.sample_batch))
        run_extra_rows(args, rows, results, base, tmp, run_worker)
        if train is not None:
            results["floor"] = gemm_floor(batches, args.warmup, threads)
    ratios = results["ratios"] = step_ratios(train) if train else {}
    if train and args.rounds > 1:
        results["ratios_by_round"] = ratios_by_round(per_round)
    if train and "sec_per_step" in train["ours"]:
        ratios["ours_over_floor"] = train["ours"]["sec_per_step"] / results["floor"]["floor_s"]
    if sample and "sentences_per_s" in sample["reference"] and "sentences_per_s" in sample["ours"]:
        ratios["sampling_speedup_vs_reference"] = (sample["ours"]["sentences_per_s"]
                                                   / sample["reference"]["sentences_per_s"])
    if sample and "sentences_per_s" in sample["reference_as_shipped"] and "sentences_per_s" in sample["ours"]:
        ratios["sampling_speedup_vs_reference_as_shipped"] = (sample["ours"]["sentences_per_s"]
                                                              / sample["reference_as_shipped"]["sentences_per_s"])
    print_report(results)
    if args.json:
        write_json_atomic(args.json, results)
    return 0
