"""Held-out evaluation: ELBO, importance-weighted NLL, KL, mutual information, active units.

One implementation serves `python -m paddle_vae.evaluate`, the end-of-training
summary and `VAEGenerator.score`, so the numbers cannot drift apart.

    nll_elbo  mean over sentences of rec + KL (weight 1, one z sample)
    nll_iw    -log mean_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x)  (He et al. 2019)
    ppl_*     exp(sum of NLL / predicted tokens), EOS counted, padding not
    mi        I(x; z) under the aggregate posterior of the whole split
    au        dims whose posterior mean varies over the data by more than 0.01
"""
import argparse
import math
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from . import runtime

runtime.configure_cpu_env()

import paddle  # noqa: E402

from .errors import UsageError, cli_entry  # noqa: E402
from .loss import sentence_rec_loss  # noqa: E402

LOG_2PI = math.log(2 * math.pi)
AU_THRESHOLD = 0.01


def _log_normal(z: paddle.Tensor, mean: paddle.Tensor, log_var: paddle.Tensor) -> paddle.Tensor:
    """log N(z; mean, diag exp(log_var)), summed over the last axis."""
    return -0.5 * paddle.sum(LOG_2PI + log_var + (z - mean) ** 2 / paddle.exp(log_var), axis=-1)


def _tile(x: paddle.Tensor, times: int) -> paddle.Tensor:
    """[B, ...] -> [times * B, ...], sample-major (rows k*B .. k*B+B-1 are copy k)."""
    return paddle.concat([x] * times, axis=0) if times > 1 else x


def iw_log_likelihood(net, src, src_length, trg, trg_length, label, num_samples: int,
                      chunk: Optional[int] = None) -> np.ndarray:
    """Importance-weighted estimate of log p(x) per sentence, [B], with z_k ~ q(z | x).

    Samples are decoded `chunk` at a time as one tall batch, so K=500 costs
    K/chunk decoder passes instead of K.
    """
    batch = src.shape[0]
    chunk = chunk or max(1, min(num_samples, 2048 // batch))
    mean, log_var = net.encode(src, src_length)
    trg_mask = net.trg_mask(trg)
    log_weights = []
    for start in range(0, num_samples, chunk):
        k = min(chunk, num_samples - start)
        z = net.reparameterize(mean, log_var, num_samples=k)  # [k, B, Z]
        log_q = _log_normal(z, mean, log_var)
        log_prior = _log_normal(z, paddle.zeros_like(z), paddle.zeros_like(z))
        z_flat = z.reshape([k * batch, -1])
        tiled_mask = _tile(trg_mask, k)
        logits = net.decode_logits(_tile(trg, k), _tile(trg_length, k), tiled_mask, z_flat)
        rec = sentence_rec_loss(logits, _tile(label, k), tiled_mask).reshape([k, batch])
        log_weights.append((-rec + log_prior - log_q).numpy())
    lw = np.concatenate(log_weights, axis=0).astype("float64")
    m = lw.max(axis=0)
    return m + np.log(np.mean(np.exp(lw - m), axis=0))


def mutual_information(means: np.ndarray, log_vars: np.ndarray, rng: np.random.RandomState) -> float:
    """I(x; z) = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], with q(z) the split's aggregate posterior.

    He et al. 2019 estimate the aggregate density inside each mini-batch; here
    it is the mixture over the whole split, which removes the batch-size bias.
    """
    n, dim = means.shape
    neg_entropy = np.mean(-0.5 * dim * LOG_2PI - 0.5 * np.sum(1.0 + log_vars, axis=-1))
    z = means + np.exp(0.5 * log_vars) * rng.standard_normal(means.shape)
    inv_var = np.exp(-log_vars)
    log_qz = np.empty(n)
    for start in range(0, n, 512):  # z_i against every component j, in blocks
        zi = z[start:start + 512, None, :]
        dens = -0.5 * np.sum((zi - means[None]) ** 2 * inv_var[None] + log_vars[None] + LOG_2PI, axis=-1)
        mx = dens.max(axis=1)
        log_qz[start:start + 512] = mx + np.log(np.exp(dens - mx[:, None]).sum(axis=1)) - math.log(n)
    return float(neg_entropy - log_qz.mean())


def active_units(means: np.ndarray, threshold: float = AU_THRESHOLD) -> int:
    return int(np.sum(np.var(means, axis=0) > threshold))


@paddle.no_grad()
def evaluate_loader(net, loader, iw_samples: int = 0, seed: int = 1) -> Dict[str, float]:
    """Every metric of the module docstring over one pass of `loader` (a Corpus loader)."""
    was_training = net.training
    net.eval()
    paddle.seed(seed)
    start = time.time()
    rec_sum = kl_sum = iw_sum = 0.0
    num_sentences = num_words = 0
    means, log_vars = [], []
    for src, src_length, trg, trg_length, label in loader:
        mean, log_var = net.encode(src, src_length)
        z = net.reparameterize(mean, log_var)
        trg_mask = net.trg_mask(trg)
        rec = sentence_rec_loss(net.decode_logits(trg, trg_length, trg_mask, z), label, trg_mask)
        rec_sum += float(rec.sum())
        kl_sum += float(net.kl_divergence(mean, log_var).sum())
        num_sentences += src.shape[0]
        num_words += int(trg_mask.sum())
        means.append(mean.numpy())
        log_vars.append(log_var.numpy())
        if iw_samples:
            iw_sum += float(-iw_log_likelihood(net, src, src_length, trg, trg_length, label, iw_samples).sum())
    means_np, log_vars_np = np.concatenate(means).astype("float64"), np.concatenate(log_vars).astype("float64")
    result = {
        "nll_elbo": (rec_sum + kl_sum) / num_sentences,
        "rec": rec_sum / num_sentences,
        "kl": kl_sum / num_sentences,
        "ppl_elbo": math.exp((rec_sum + kl_sum) / num_words),
        "mi": mutual_information(means_np, log_vars_np, np.random.RandomState(seed)),
        "au": active_units(means_np),
        "num_sentences": num_sentences,
        "num_words": num_words,
    }
    if iw_samples:
        result.update(nll_iw=iw_sum / num_sentences, ppl_iw=math.exp(iw_sum / num_words), iw_samples=iw_samples)
    result["seconds"] = time.time() - start
    if was_training:
        net.train()
    return result


def format_table(metrics: Dict[str, float]) -> str:
    order = ["nll_elbo", "ppl_elbo", "nll_iw", "ppl_iw", "rec", "kl", "mi", "au", "num_sentences", "num_words",
             "seconds"]
    rows = [(k, metrics[k]) for k in order if k in metrics]
    lines = [f"{k:>14}  {v:.4f}" if isinstance(v, float) else f"{k:>14}  {v}" for k, v in rows]
    if "nll_iw" in metrics:
        # IW with K >= 1 samples is a tighter bound than the 1-sample ELBO, up to sampling noise
        gap = metrics["nll_elbo"] - metrics["nll_iw"]
        verdict = "yes" if gap >= 0 else "NO (sampling noise, or a bug: rerun with another --seed)"
        lines.append(f"nll_iw <= nll_elbo: {verdict}, gap {gap:.4f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from .args import build_parser as base_parser

    p = base_parser()
    p.description = "Evaluate a trained bundle on a split: ELBO, IW-NLL, KL, MI, AU."
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--iw_samples", type=int, default=500, help="importance samples per sentence (0: skip IW)")
    p.add_argument("--output_json", default=None)
    p.add_argument("--max_sentences", type=int, default=None, help="evaluate only the split's first N sentences "
                                                                   "(for timing; reported numbers use all)")
    return p


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    from .args import parse_args
    from .generate import VAEGenerator

    args = parse_args(argv, build_parser())
    if args.init_from_ckpt is None:
        raise UsageError("--init_from_ckpt BUNDLE is required")
    if args.max_sentences is not None and args.max_sentences <= 0:
        raise UsageError(f"--max_sentences must be positive, got {args.max_sentences}")
    if args.iw_samples < 0:
        raise UsageError(f"--iw_samples must be >= 0, got {args.iw_samples}")
    runtime.set_device(args.device)
    runtime.set_threads(args.num_threads)
    vae = VAEGenerator.from_pretrained(args.init_from_ckpt)
    from .data import load_and_encode

    corpus = load_and_encode(args, vocab=vae.vocab)
    if args.max_sentences:
        corpus.splits[args.split] = corpus.splits[args.split][:args.max_sentences]
    metrics = evaluate_loader(vae.net, corpus.loader(args.split, args.batch_size), args.iw_samples, args.seed)
    metrics.update(split=args.split, dataset=args.dataset, checkpoint=args.init_from_ckpt)
    print(format_table(metrics))
    if args.output_json:
        from .bundle import write_json_atomic

        write_json_atomic(args.output_json, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
