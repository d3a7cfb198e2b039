"""Where a PTB training step's time goes, and the GEMM floor it is measured against.

    python -m paddle_vae.bench.profile_step --data_dir ../shared/data/ptb --threads 2

Each phase is timed on its own with the model's own layers, on the same real
batches, one after another in one process (eager CPU kernels are synchronous,
so wall-clock timers measure them):

  output layer + loss   output_fc and the token cross-entropy at non-pad rows, forward and backward
  LSTMs                 encoder and decoder LSTM over the batch, forward and backward
  embeddings            both embedding lookups and their gradients
  optimizer             global-norm clipping and the Adam update of every parameter
  data loader           drawing the batches (padding with paddlenlp.data.Pad)
  hapi + metrics        paddle.Model.train_batch's own overhead over the bare step,
                        including the per-step metric update (a host copy)

"other" is what the bare step costs beyond the timed phases (the KL term,
reshapes, gathers, dropout, autograd bookkeeping).

The floor is the step's matrix-product FLOPs divided by the best GEMM rate
numpy's BLAS reaches on this machine, at the same thread count, in the same run.
"""
import argparse
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import paddle
import paddle.nn.functional as F

from ..config import ModelConfig
from ..data.corpus import load_and_encode
from ..files import write_json_atomic
from ..models.loss import CrossEntropyWithKL, HapiLoss, NegativeLogLoss, Perplexity
from ..models.vae import VAESeq2SeqModel
from ..runtime import available_cores, set_threads
from .common import MODEL, gemm_gflops, step_flops


def _mean_seconds(fn: Callable[[Any], None], batches: List, warmup: int = 2) -> float:
    for b in batches[:warmup]:
        fn(b)
    start = time.perf_counter()
    for b in batches[warmup:]:
        fn(b)
    return (time.perf_counter() - start) / len(batches[warmup:])


def profile(data_dir: str, threads: int, steps: int) -> Dict[str, Any]:
    """Each phase of a PTB training step timed on its own (the module docstring's list), and the GEMM floor measured
    in the same process, so the shares and the floor come from one state of the machine."""
    set_threads(threads)
    paddle.set_device("cpu")
    corpus = load_and_encode(argparse.Namespace(dataset="ptb", data_dir=data_dir, max_len=1280, batch_size=32,
                                                seed=1))
    start = time.perf_counter()
    batches = []
    for batch in corpus.loader("train", 32, shuffle=True, seed=1):
        batches.append(batch)
        if len(batches) == steps + 2:
            break
    loader_s = (time.perf_counter() - start) / len(batches)
    paddle.seed(1)
    net = VAESeq2SeqModel(ModelConfig(vocab_size=len(corpus.vocab), pad_id=corpus.pad_id, dec_dropout=0.5, **MODEL))
    loss_fn = CrossEntropyWithKL(0.1, 1e-4)
    opt = paddle.optimizer.Adam(1e-3, parameters=net.parameters(), grad_clip=paddle.nn.ClipGradByGlobalNorm(5.0))
    opt_seconds: List[float] = []

    def bare_step(b):
        loss_fn(*net(*b[:4]), b[4]).backward()
        t = time.perf_counter()
        opt.step()
        opt.clear_grad()
        opt_seconds.append(time.perf_counter() - t)

    def output_layer(b):
        mask = b[2] != corpus.pad_id
        hidden = paddle.randn([int(mask.sum()), MODEL["hidden_size"]])
        hidden.stop_gradient = False
        target = paddle.masked_select(b[4].reshape(mask.shape), mask)
        nll = F.cross_entropy(net.decoder.output_fc(hidden), target.unsqueeze(-1), reduction="none")
        (nll.sum() / b[0].shape[0]).backward()

    def lstms(b):
        emb = paddle.randn([b[0].shape[0], b[0].shape[1], MODEL["embed_dim"]])
        emb.stop_gradient = False
        enc, _ = net.encoder.lstm(emb, sequence_length=b[1])
        dec_in = paddle.randn([b[2].shape[0], b[2].shape[1], MODEL["embed_dim"] + MODEL["latent_size"]])
        dec_in.stop_gradient = False
        dec, _ = net.decoder.lstm(dec_in, sequence_length=b[3])
        (enc.sum() + dec.sum()).backward()

    def embeddings(b):
        (net.encoder.src_embedder(b[0]).sum() + net.decoder.trg_embedder(b[2]).sum()).backward()

    hapi, hapi_loss = paddle.Model(net), HapiLoss(loss_fn)  # as the trainer prepares it
    hapi.prepare(opt, hapi_loss, [Perplexity(hapi_loss), NegativeLogLoss(hapi_loss)])
    phases = {"bare step": bare_step, "output layer + loss": output_layer,
              "LSTMs": lstms,
              "embeddings": embeddings, "hapi train_batch": lambda b: hapi.train_batch(list(b[:4]), [b[4]])}
    seconds = {}
    for name, fn in phases.items():
        net.train()
        seconds[name] = _mean_seconds(fn, batches)
        opt.clear_grad()
        if name == "bare step":
            seconds["optimizer"] = float(np.mean(opt_seconds[2:]))
    src_tokens = float(np.mean([int(b[1].sum()) for b in batches]))
    trg_tokens = float(np.mean([int(b[3].sum()) for b in batches]))
    flops = step_flops(int(src_tokens), int(trg_tokens), len(corpus.vocab))
    rate = gemm_gflops(threads)
    floor = sum(flops.values()) / 1e9 / rate
    bare = seconds["bare step"]
    parts = {k: seconds[k] for k in ("output layer + loss", "LSTMs", "embeddings", "optimizer")}
    breakdown = dict(parts, **{"other": bare - sum(parts.values()), "data loader": loader_s,
                               "hapi + metrics": seconds["hapi train_batch"] - bare})
    return {"threads": threads, "steps": steps, "bare_step_s": bare, "breakdown_s": breakdown,
            "step_gflop": {k: v / 1e9 for k, v in flops.items()}, "gemm_gflops": rate, "floor_s": floor,
            "bare_over_floor": bare / floor, "mean_tokens": {"src": src_tokens, "trg": trg_tokens}}


def print_profile(r: Dict[str, Any]) -> None:
    """The profile on the terminal: ms and share of the bare step per phase, then the step's GEMM work and the
    floor (the --json file holds the same numbers, for the docs' generated block)."""
    bare = r["bare_step_s"]
    print(f"threads {r['threads']}, {r['steps']} PTB batches of 32, mean {r['mean_tokens']['trg']:.0f} target tokens")
    print(f"{'phase':<22}{'ms/step':>10}{'share':>8}")
    for name, s in r["breakdown_s"].items():
        print(f"{name:<22}{s * 1e3:>10.1f}{s / bare:>8.0%}")
    print(f"{'bare step':<22}{bare * 1e3:>10.1f}")
    gflop = r["step_gflop"]
    print(f"step GEMM work: {sum(gflop.values()):.1f} GFLOP (output layer {gflop['output_layer']:.1f}, "
          f"LSTMs {gflop['lstms']:.1f}); numpy GEMM {r['gemm_gflops']:.0f} GFLOPS; floor {r['floor_s'] * 1e3:.0f} ms;"
          f" bare step / floor {r['bare_over_floor']:.2f}x")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--data_dir", required=True, help="folder with ptb.{train,valid,test}.txt")
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    result = profile(args.data_dir, args.threads or available_cores(), args.steps)
    print_profile(result)
    if args.json:
        write_json_atomic(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
