"""The bench's Paddle workers: one training, sampling or IW-evaluation row, run in its own process.

`python -m paddle_vae.bench --_worker NAME` imports this module only in the
worker process, so Paddle is loaded after the command has set the process up
(runtime.setup_command) with the environment the orchestrator chose for the
row, and the row's peak RSS is its own. Every row builds its network from a
`ModelConfig` (and the training rows' `TrainingOptions`), as training does.
"""
import time
from typing import Any, Dict, List, Tuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..config import ModelConfig
from ..evaluation.bleu import cut_at_eos
from ..evaluation.metrics import iw_log_likelihood
from ..evaluation.row_cap import default_max_rows
from ..models.loss import CrossEntropyWithKL
from ..models.vae import TrainingOptions, VAESeq2SeqInferModel, VAESeq2SeqModel
from ..runtime import set_threads
from .common import BATCH_KEYS, MODEL, peak_rss_mb, time_steps

REF_SAMPLE_BATCH, REF_MAX_STEPS = 32, 100


def paddle_setup(threads: int) -> None:
    """The row's thread count, on CPU (the MKL and allocator set-up already ran, in setup_command)."""
    set_threads(threads)
    paddle.set_device("cpu")


def load_batches(path: str) -> Tuple[Any, List[List[paddle.Tensor]]]:
    """The saved .npz (its metadata) and its batches as tensors, in order."""
    data = np.load(path)
    return data, [[paddle.to_tensor(data[f"{k}{i}"]) for k in BATCH_KEYS] for i in range(int(data["n"]))]


def model_config(data: Any, sizes: Dict[str, int], **fields: Any) -> ModelConfig:
    """The row's network: the saved batches' vocabulary and ids, `sizes` (PTB's or Yahoo's) and `fields`."""
    ids = {k: int(data[f"{k}_id"]) for k in ("pad", "bos", "eos") if f"{k}_id" in data}
    return ModelConfig(vocab_size=int(data["vocab_size"]), **{f"{k}_id": v for k, v in ids.items()}, **sizes,
                       **fields)


def worker_train_paddle(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Seconds per training step (Adam, global-norm clipping) of the configured model on the saved batches."""
    paddle_setup(cfg["threads"])
    data, batches = load_batches(cfg["batches"])
    paddle.seed(1)
    # the Transformer row: Texar's sizes, ModelConfig's defaults (its dropout is trans_dropout)
    config = model_config(data, cfg.get("model", MODEL), dec_dropout=0.5, init_scale=0.1,
                          decoder=cfg.get("decoder", "lstm"))
    net = VAESeq2SeqModel(config, TrainingOptions(decoder_impl=cfg["impl"]))
    loss_fn = CrossEntropyWithKL(0.1, 1e-4)
    opt = paddle.optimizer.Adam(1e-3, parameters=net.parameters(), grad_clip=paddle.nn.ClipGradByGlobalNorm(5.0))

    def step(b):
        loss = loss_fn(*net(*b[:4]), b[4])
        loss.backward()
        opt.step()
        opt.clear_grad()
        return float(loss)

    return time_steps(step, batches, cfg)


def worker_sample(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Prior samples per second on the reference's decoding path or ours, with their lengths."""
    paddle_setup(cfg["threads"])
    data = np.load(cfg["batches"])
    paddle.seed(1)
    net = VAESeq2SeqInferModel(model_config(data, MODEL), max_out_len=REF_MAX_STEPS, decode_strategy="sampling")
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
            lengths += [len(cut_at_eos(row, eos)) for row in ids]
        seconds = time.perf_counter() - start
    return {"sentences_per_s": total / seconds, "num_sentences": total, "batch": batch,
            "mean_length": float(np.mean(lengths)), "ended_with_eos": float(np.mean(
                [n < REF_MAX_STEPS for n in lengths])), "peak_rss_mb": peak_rss_mb()}


def worker_eval_iw(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """IW-NLL over the saved test batches in this process; the caller reads its peak RSS."""
    paddle_setup(cfg["threads"])
    data, batches = load_batches(cfg["eval_batches"])
    paddle.seed(1)
    net = VAESeq2SeqModel(model_config(data, cfg.get("model", MODEL), init_scale=0.1))
    net.eval()
    start, nll, sentences = time.perf_counter(), 0.0, 0
    for batch in batches:
        nll -= float(iw_log_likelihood(net, *batch, num_samples=cfg["iw_samples"], max_rows=cfg.get("max_rows"),
                                      fold_bias=cfg.get("fold_bias", True)).sum())
        sentences += batch[0].shape[0]
    seconds = time.perf_counter() - start
    return {"sec_per_sentence": seconds / sentences, "num_sentences": sentences, "iw_samples": cfg["iw_samples"],
            "max_rows": cfg.get("max_rows") or default_max_rows(net), "mean_nll": nll / sentences,
            "peak_rss_mb": peak_rss_mb()}


WORKERS = {"train_paddle": worker_train_paddle, "sample": worker_sample, "eval_iw": worker_eval_iw}
