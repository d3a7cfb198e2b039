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
  ours_fused_ce   the same with the output layer + cross-entropy fused in row chunks
                  (--output_loss fused)
  torch           the same model in PyTorch (fused LSTMs, non-pad positions only), when
                  torch is importable (--torch_python)

The GEMM floor is the timed batches' matrix-product FLOPs over numpy's best
GEMM rate at the same thread count, measured in the same run (profile_step).

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
from typing import Any, Dict, List, Optional

import numpy as np

from .bench_common import MODEL, paddle_setup, peak_rss_mb, time_steps, torch_available
from .runtime import cpu_name
from .bench_rows import load_batches, print_rows, run_extra_rows, worker_eval_iw, write_batches
from .bench_torch import worker_train_torch

REF_SAMPLE_BATCH, REF_MAX_STEPS = 32, 100


# ---------------------------------------------------------------------------
# Workers (run in subprocesses)
# ---------------------------------------------------------------------------
def worker_train_paddle(cfg: Dict[str, Any]) -> Dict[str, Any]:
    paddle = paddle_setup(cfg["threads"])
    from .loss import CrossEntropyWithKL
    from .model import VAESeq2SeqModel

    from .config import ModelConfig

    data, batches = load_batches(cfg["batches"], paddle)
    paddle.seed(1)
    decoder = cfg.get("decoder", "lstm")  # the Transformer row: Texar's sizes, ModelConfig's defaults
    transformer = ModelConfig(vocab_size=0).transformer_kwargs() if decoder == "transformer" else None
    net = VAESeq2SeqModel(**cfg.get("model", MODEL), vocab_size=int(data["vocab_size"]), PAD_ID=int(data["pad_id"]),
                          dec_dropout=0.5, init_scale=0.1, decoder_impl=cfg["impl"],
                          output_loss=cfg.get("output_loss", "paddle"), decoder=decoder, transformer=transformer)
    loss_fn = CrossEntropyWithKL(0.1, 1e-4, output_layer=net.decoder.output_fc)
    opt = paddle.optimizer.Adam(1e-3, parameters=net.parameters(), grad_clip=paddle.nn.ClipGradByGlobalNorm(5.0))

    def step(b):
        loss = loss_fn(*net(*b[:4]), b[4])
        loss.backward()
        opt.step()
        opt.clear_grad()
        return float(loss)

    return time_steps(step, batches, cfg)


def worker_sample(cfg: Dict[str, Any]) -> Dict[str, Any]:
    paddle = paddle_setup(cfg["threads"])
    import paddle.nn as nn
    import paddle.nn.functional as F

    from .model import VAESeq2SeqInferModel

    data = np.load(cfg["batches"])
    paddle.seed(1)
    net = VAESeq2SeqInferModel(**MODEL, vocab_size=int(data["vocab_size"]), PAD_ID=int(data["pad_id"]),
                               start_token=int(data["bos_id"]), end_token=int(data["eos_id"]),
                               max_out_len=REF_MAX_STEPS, decode_strategy="sampling")
    net.decoder.output_fc.bias.set_value(data["unigram_log_prob"].astype("float32"))
    net.eval()
    eos = int(data["eos_id"])
    total = cfg["num_sentences"]

    if cfg["path"].startswith("reference"):
        dec = net.decoder
        # "reference_as_shipped": the reference's trained model never emitted EOS, so its samples all ran
        # to the limit; an end token that is never sampled (<bos>) reproduces that on these weights.
        end_token = int(data["bos_id"]) if cfg["path"] == "reference_as_shipped" else net.end_token

        def output_fn(x):  # the reference: sample, then hand beam search a one-hot "distribution"
            probs = F.softmax(paddle.squeeze(dec.output_fc(x), [1]))
            return F.one_hot(paddle.multinomial(probs), probs.shape[-1])

        def run(z):
            h, c = net.initial_states(z)
            decoder = nn.BeamSearchDecoder(dec.cell, net.start_token, end_token, 1,
                                           embedding_fn=dec.trg_embedder, output_fn=output_fn)
            out, _ = nn.dynamic_decode(decoder, inits=[[h[0], c[0]]], max_step_num=REF_MAX_STEPS,
                                       latent_z=decoder.tile_beam_merge_with_batch(z, 1))
            return out.numpy()[:, :, 0]
        batch = REF_SAMPLE_BATCH
    else:
        def run(z):
            return net(z).numpy()
        batch = cfg["batch"]

    with paddle.no_grad():
        run(paddle.randn([min(batch, 8), MODEL["latent_size"]]))  # warm-up
        lengths, start = [], time.perf_counter()
        for first in range(0, total, batch):
            ids = run(paddle.randn([min(batch, total - first), MODEL["latent_size"]]))
            lengths += [list(row).index(eos) if eos in row else len(row) for row in ids]
        seconds = time.perf_counter() - start
    return {"sentences_per_s": total / seconds, "num_sentences": total, "batch": batch,
            "mean_length": float(np.mean(lengths)), "ended_with_eos": float(np.mean(
                [n < REF_MAX_STEPS for n in lengths])), "peak_rss_mb": peak_rss_mb()}


WORKERS = {"train_paddle": worker_train_paddle, "train_torch": worker_train_torch, "sample": worker_sample,
           "eval_iw": worker_eval_iw}
ROWS = ("train", "sample", "eval", "yahoo")
DEFAULT_ROWS = ("train", "sample")  # under 5 minutes; eval and yahoo are asked for with --rows


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------
def save_batches(args, path: str) -> Dict[str, Any]:
    from .data import load_and_encode

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
               glibc_malloc: bool = False) -> Dict[str, Any]:
    """Run one row in a fresh process; `reference_env` drops all our process set-up, `glibc_malloc` only
    the allocator tuning (runtime._keep_freed_buffers)."""
    env = dict(os.environ)
    if reference_env:
        env.pop("MKL_DEBUG_CPU_TYPE", None)
        env["PADDLE_VAE_NO_MKL_SETUP"] = "1"
    if reference_env or glibc_malloc:
        env["PADDLE_VAE_NO_MALLOC_SETUP"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.run([python, "-m", "paddle_vae.bench", "--_worker", kind, "--_cfg", json.dumps(cfg)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gemm_floor(batches_path: str, warmup: int, threads: int) -> Dict[str, Any]:
    """The timed batches' matrix-product FLOPs over numpy's best GEMM rate, measured now (see profile_step)."""
    from .profile_step import gemm_gflops, step_flops

    data = np.load(batches_path)
    timed = range(warmup, int(data["n"]))
    flops = [sum(step_flops(int(data[f"src_len{i}"].sum()), int(data[f"trg_len{i}"].sum()),
                            int(data["vocab_size"]), **MODEL).values()) for i in timed]
    rate = gemm_gflops(threads)
    return {"step_gflop": float(np.mean(flops)) / 1e9, "gemm_gflops": rate,
            "floor_s": float(np.mean(flops)) / 1e9 / rate}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--data_dir", required=False, default=None, help="folder with ptb.{train,valid,test}.txt")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
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
        print(json.dumps(WORKERS[args._worker](json.loads(args._cfg))))
        return 0
    rows = [r for r in args.rows.split(",") if r]
    if not set(rows) <= set(ROWS):
        print(f"error: --rows takes a subset of {','.join(ROWS)}, got {args.rows}", file=sys.stderr)
        return 2
    if args.smoke:
        args.steps, args.warmup, args.sample_sentences, args.reference_sentences = 2, 1, 16, 8
        args.eval_sentences, args.iw_samples, args.skip_torch, args.yahoo_eval_documents = 8, 4, True, 2
    if not args.data_dir or not os.path.isfile(os.path.join(args.data_dir, "ptb.train.txt")):
        print(f"error: --data_dir must hold ptb.train.txt (got {args.data_dir})", file=sys.stderr)
        return 2
    from .runtime import available_cores

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
            train["reference"] = run_worker("train_paddle", dict(base, impl="cell"), reference_env=True)
            train["reference+env"] = run_worker("train_paddle", dict(base, impl="cell"))
            train["ours"] = run_worker("train_paddle", dict(base, impl="fused"))
            train["ours_glibc_malloc"] = run_worker("train_paddle", dict(base, impl="fused"), glibc_malloc=True)
            train["ours_fused_ce"] = run_worker("train_paddle", dict(base, impl="fused", output_loss="fused"))
            train["ours_transformer"] = run_worker("train_paddle", dict(base, impl="fused", decoder="transformer"))
            if not args.skip_torch and torch_available(args.torch_python):
                train["torch"] = run_worker("train_torch", base, python=args.torch_python)
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
    ratios = results["ratios"] = {}
    if train and "sec_per_step" in train["reference"] and "sec_per_step" in train["ours"]:
        ratios["train_speedup_vs_reference"] = train["reference"]["sec_per_step"] / train["ours"]["sec_per_step"]
        if "sec_per_step" in train.get("torch", {}):
            ratios["train_speedup_vs_torch"] = train["torch"]["sec_per_step"] / train["ours"]["sec_per_step"]
    if train and "sec_per_step" in train["ours"] and "sec_per_step" in train.get("ours_transformer", {}):
        ratios["transformer_step_over_lstm_step"] = (train["ours_transformer"]["sec_per_step"]
                                                     / train["ours"]["sec_per_step"])
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
        from .bundle import write_json_atomic

        write_json_atomic(args.json, results)
    return 0


def print_report(results: Dict[str, Any]) -> None:
    print(f"machine: {results['machine']}; threads: {results['threads']}; PTB batches of {results['batch_size']}; "
          f"data prep {results['data_prep_seconds']:.2f} s")
    if results.get("train") is not None:
        print(f"{'training step':<22}{'s/step':>10}{'tokens/s':>12}{'peak RSS MB':>14}")
        for name, r in results["train"].items():
            if "error" in r:
                print(f"{name:<22}  error: {r['error']}")
            else:
                print(f"{name:<22}{r['sec_per_step']:>10.3f}{r['tokens_per_s']:>12.0f}{r['peak_rss_mb']:>14.0f}")
    if results.get("sample") is not None:
        print(f"{'prior sampling':<22}{'sent/s':>10}{'batch':>12}{'peak RSS MB':>14}{'mean len':>10}{'EOS':>7}")
        for name, r in results["sample"].items():
            if "error" in r:
                print(f"{name:<22}  error: {r['error']}")
            else:
                print(f"{name:<22}{r['sentences_per_s']:>10.1f}{r['batch']:>12}{r['peak_rss_mb']:>14.0f}"
                      f"{r['mean_length']:>10.1f}{r['ended_with_eos']:>7.0%}")
    if results.get("floor"):
        f = results["floor"]
        print(f"GEMM floor: {f['step_gflop']:.1f} GFLOP/step at numpy's {f['gemm_gflops']:.0f} GFLOPS "
              f"= {f['floor_s']:.3f} s/step")
    print_rows(results)
    for k, v in results["ratios"].items():
        print(f"{k}: {v:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
