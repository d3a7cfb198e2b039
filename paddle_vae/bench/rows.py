"""The benchmark's evaluation and Yahoo-shape rows (wired into `paddle_vae.bench.run`; their workers are in `workers`).

  eval  IW-NLL with K=500 on the first 320 PTB test sentences (batches of 32,
        as `evaluate --max_sentences 320` makes them), under the default row
        cap: seconds per sentence and peak RSS. A PTB-sized model with random
        weights: teacher-forced scoring costs the same whatever the weights.
        `_bias_unfolded` repeats it with the output layer's own bias add
        (`fold_bias=False`), `_before` as evaluation ran before this work on
        speed: that, glibc's default allocator thresholds and the old
        2^25-logit row cap (3,354 rows). `iw500_yahoo_test` (with the yahoo
        rows) scores the first 16 Yahoo test documents with a Yahoo-shaped
        model: its peak RSS is evaluation's at Yahoo's shapes.
  yahoo training steps at Yahoo's shapes (embed 512, hidden 550, z 32, the
        20k vocabulary) on real documents from ../shared/data/yahoo_partial
        (its valid split standing in for the training split, which is not
        available there): s/step, tokens/s, peak RSS, and what 50 epochs of
        the 100k-document training split would cost at that speed.
"""
import argparse
import math
import os
import time
from typing import Any, Callable, Dict, Iterable, List

import numpy as np

from ..data.corpus import Corpus, encode_sentences, load_and_encode, vocab_from_tokens
from ..data.reading import read_lines, read_vocab_file
from ..training.flags import DATASET_DEFAULTS
from .common import BATCH_KEYS, SIZES

YAHOO_MODEL = {k: DATASET_DEFAULTS["yahoo"][k] for k in SIZES}
YAHOO_TRAIN_DOCUMENTS = 100_000  # yahoo_answer_100k's training split


def write_batches(batches: Iterable, count: int, path: str, **meta: Any) -> None:
    """The first `count` (src, src_len, trg, trg_len, label) batches as one .npz, with `meta` alongside."""
    arrays: Dict[str, Any] = {}
    n = 0
    for n, batch in enumerate(batches, 1):
        arrays.update({f"{k}{n - 1}": t.numpy() for k, t in zip(BATCH_KEYS, batch)})
        if n == count:
            break
    np.savez(path, n=n, **meta, **arrays)


def save_eval_batches(data_dir: str, path: str, num_sentences: int, batch_size: int) -> None:
    ns = argparse.Namespace(dataset="ptb", data_dir=data_dir, max_len=1280, batch_size=batch_size, seed=1)
    corpus = load_and_encode(ns)
    corpus.splits["test"] = corpus.splits["test"][:num_sentences]
    write_batches(corpus.loader("test", batch_size), math.ceil(num_sentences / batch_size), path,
                  vocab_size=len(corpus.vocab), pad_id=corpus.pad_id)


def save_yahoo_batches(yahoo_dir: str, path: str, count: int, batch_size: int, split: str = "valid",
                       shuffle: bool = True) -> Dict[str, Any]:
    """Length-bucketed batches of real Yahoo documents: shuffled as training would draw them (from the valid
    split, standing in for train), or the first `count` batches of `split` in file order, as evaluation reads it."""
    start = time.perf_counter()
    vocab = vocab_from_tokens(read_vocab_file(os.path.join(yahoo_dir, "vocab.txt")), "_UNK")
    docs = encode_sentences(read_lines(os.path.join(yahoo_dir, f"yahoo.{split}.txt")), vocab)
    if not shuffle:
        docs = docs[:count * batch_size]
    corpus = Corpus({"train": docs, "valid": [], "test": []}, vocab)
    write_batches(corpus.loader("train", batch_size, shuffle=shuffle, seed=1), count, path, vocab_size=len(vocab),
                  pad_id=corpus.pad_id)
    return {"yahoo_data_prep_seconds": time.perf_counter() - start, "yahoo_documents": len(docs),
            "yahoo_mean_tokens": float(np.mean([len(d) for d in docs]))}


OLD_MAX_ROWS = (1 << 25) // 10002  # the row cap before the allocator tuning, at PTB's vocabulary


def run_extra_rows(args: argparse.Namespace, rows: List[str], results: Dict[str, Any], base: Dict[str, Any], tmp: str,
                   run_worker: Callable) -> None:
    """The evaluation rows (IW on PTB test, three ways) and the Yahoo-shape rows (training, and IW on test)."""
    if "eval" in rows:
        path = os.path.join(tmp, "eval.npz")
        save_eval_batches(args.data_dir, path, args.eval_sentences, args.batch_size)
        name, cfg = f"iw{args.iw_samples}_ptb_test", dict(base, eval_batches=path, iw_samples=args.iw_samples)
        results["eval"] = {name: run_worker("eval_iw", cfg),
                           f"{name}_bias_unfolded": run_worker("eval_iw", dict(cfg, fold_bias=False)),
                           f"{name}_before": run_worker("eval_iw", dict(cfg, max_rows=OLD_MAX_ROWS, fold_bias=False),
                                                        glibc_malloc=True)}
    if "yahoo" in rows and not args.yahoo_dir:
        results["yahoo"] = {"ours": {"error": "skipped: no --yahoo_dir"}}
    elif "yahoo" in rows:
        path = os.path.join(tmp, "yahoo.npz")
        results.update(save_yahoo_batches(args.yahoo_dir, path, args.warmup + args.steps, args.batch_size))
        row = run_worker("train_paddle", dict(base, batches=path, impl="fused", model=YAHOO_MODEL))
        results["yahoo"] = {"ours": dict(row, model=YAHOO_MODEL)}
        if "sec_per_step" in row:
            results["yahoo"]["ours"].update(yahoo_cost(row, args.batch_size))
        path = os.path.join(tmp, "yahoo_test.npz")
        docs = args.yahoo_eval_documents
        save_yahoo_batches(args.yahoo_dir, path, math.ceil(docs / args.batch_size), min(docs, args.batch_size),
                           split="test", shuffle=False)
        results.setdefault("eval", {})[f"iw{args.iw_samples}_yahoo_test"] = run_worker(
            "eval_iw", dict(base, eval_batches=path, iw_samples=args.iw_samples, model=YAHOO_MODEL))


def yahoo_cost(row: Dict[str, Any], batch_size: int, epochs: int = 50) -> Dict[str, float]:
    """Hours for `epochs` over the 100k training documents at the measured s/step (dev passes not counted)."""
    steps = math.ceil(YAHOO_TRAIN_DOCUMENTS / batch_size)
    return {"yahoo_hours_per_epoch": row["sec_per_step"] * steps / 3600,
            f"yahoo_hours_{epochs}_epochs": row["sec_per_step"] * steps * epochs / 3600}
