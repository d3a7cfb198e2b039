"""Held-out estimators: ELBO, importance-weighted NLL, KL, MI (two ways), active units, greedy BLEU.

Library code with three users (the evaluate CLI, the end-of-training summary
and `VAEGenerator`), so their numbers cannot drift apart.

    nll_elbo     mean over sentences of rec + KL (weight 1, one z sample)
    nll_iw       -log mean_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x)  (He et al. 2019)
    ppl_*        exp(sum of NLL / predicted tokens), EOS counted, padding not
    mi           I(x; z) under the aggregate posterior of the whole split
    mi_batch     the same estimator inside consecutive blocks of 32 sentences, averaged
                 (what He et al. 2019's tables print; biased low by the small mixture)
    au           dims whose posterior mean varies over the data by more than 0.01
    bleu_greedy  corpus BLEU-4 (0-100) of greedy decodes from the posterior means vs the inputs,
                 each decode cut at EOS or at twice the input's length (words + EOS)

Memory is bounded by a row cap: a decoder pass scores at most `max_rows`
logit rows (token positions), by default LOGIT_BUDGET // vocabulary size, so
the [rows, V] logits and their softmax stay a fixed working set whatever K,
the sentence lengths or V are. A single sentence longer than the cap is
scored alone. A language model (`net.is_lm`) has no latent: KL, MI and AU are
0, the IW estimate is the exact log-likelihood, and BLEU is not defined.
"""
import math
import time
from typing import Callable, Dict, Iterable, Optional

import numpy as np
import paddle
import paddle.nn.functional as F

from ..models.loss import sentence_rec_loss
from ..runtime import step_seed
from .bleu import bleu_greedy
from .progress import PassState, ProgressFile, progress_bar
from .row_cap import default_max_rows, is_lm, row_groups  # noqa: F401  (is_lm: also the CLIs')

LOG_2PI = math.log(2 * math.pi)
AU_THRESHOLD = 0.01
MI_BATCH_SIZE = 32


def _row_counts(net, trg: paddle.Tensor, trg_length: paddle.Tensor) -> np.ndarray:
    """Logit rows each sentence costs: its tokens, or the padded width for the reference's cell decoder."""
    lengths = trg_length.numpy().astype("int64").reshape(-1)
    return np.full_like(lengths, trg.shape[1]) if getattr(net, "decoder_impl", "fused") == "cell" else lengths


def _logit_nll(logits: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
    return F.cross_entropy(logits, target.unsqueeze(-1), reduction="none").squeeze(-1)


def rec_loss_per_sentence(rows: paddle.Tensor, label: paddle.Tensor, trg_mask: paddle.Tensor,
                          score: Callable = _logit_nll) -> paddle.Tensor:
    """Reconstruction NLL per sentence, [B]: a sorted segment sum over packed rows, no [rows, B] one-hot.

    `rows` are the packed logits, or the decoder's hidden rows when `score` is a `FoldedScorer`.
    """
    if rows.ndim == 3:
        return sentence_rec_loss(rows, label, trg_mask)
    positions = paddle.nonzero(trg_mask)
    target = paddle.gather_nd(label.reshape(trg_mask.shape), positions)
    return paddle.geometric.segment_sum(score(rows, target), positions[:, 0])


class FoldedScorer:
    """-log softmax(h W + b)[label] per hidden row h, with the output layer's bias as an extra row of W.

    The output layer adds its bias in a pass of its own over the [N, V] logits; folded into the product it
    costs one more input column: IW on the full PTB test split ran 1.05x faster on the dev machine
    (docs/evaluation.md). It composes the decoder's public parts: the network's `decode_hidden` rows and
    its `decoder.output_fc` (weight [H, V] and bias). The folded weight is built once per call of the
    estimators below, during which the weights do not change.
    """

    def __init__(self, output_fc: paddle.nn.Layer):
        self.weight = paddle.concat([output_fc.weight, output_fc.bias.unsqueeze(0)])  # [H + 1, V]

    def __call__(self, hidden: paddle.Tensor, target: paddle.Tensor) -> paddle.Tensor:
        ones = paddle.ones([hidden.shape[0], 1], dtype=hidden.dtype)
        return _logit_nll(paddle.matmul(paddle.concat([hidden, ones], axis=1), self.weight), target)


def folded_scorer(net: paddle.nn.Layer, fold_bias: bool = True) -> Optional[FoldedScorer]:
    """The folded scorer for a fused decoder with an output bias (None: score the network's own logits, as
    the cell path must, and as a bias-free output layer, the Transformer's, may: there is nothing to fold)."""
    output_fc = getattr(getattr(net, "decoder", None), "output_fc", None)
    if not fold_bias or output_fc is None or output_fc.bias is None or getattr(net, "decoder_impl", "fused") == "cell":
        return None
    return FoldedScorer(output_fc)


def _rec_loss(net, scorer: Optional[FoldedScorer], trg: paddle.Tensor, trg_length: paddle.Tensor,
              mask: paddle.Tensor, label: paddle.Tensor, latent_z: Optional[paddle.Tensor]) -> np.ndarray:
    """-log p(x | z) per sentence of one decoder pass, [B] float64."""
    if scorer is None:
        rows, score = net.decode_logits(trg, trg_length, mask, latent_z), _logit_nll
    else:
        rows, score = net.decode_hidden(trg, trg_length, mask, latent_z), scorer
    return rec_loss_per_sentence(rows, label, mask, score).numpy().astype("float64")


@paddle.no_grad()
def reconstruction_nll(net: paddle.nn.Layer, trg: paddle.Tensor, trg_length: paddle.Tensor, label: paddle.Tensor,
                       latent_z: Optional[paddle.Tensor], max_rows: Optional[int] = None,
                       fold_bias: bool = True) -> np.ndarray:
    """-log p(x | z) per sentence, [B] float64, decoding at most `max_rows` logit rows per pass."""
    max_rows, scorer = max_rows or default_max_rows(net), folded_scorer(net, fold_bias)
    mask = net.trg_mask(trg)
    out = []
    for g in row_groups(_row_counts(net, trg, trg_length), max_rows):
        z = None if latent_z is None else latent_z[g]
        out.append(_rec_loss(net, scorer, trg[g], trg_length[g], mask[g], label[g], z))
    return np.concatenate(out)


def _log_normal(z: paddle.Tensor, mean: paddle.Tensor, log_var: paddle.Tensor) -> paddle.Tensor:
    """log N(z; mean, diag exp(log_var)), summed over the last axis."""
    return -0.5 * paddle.sum(LOG_2PI + log_var + (z - mean) ** 2 / paddle.exp(log_var), axis=-1)


def _tile(x: paddle.Tensor, times: int) -> paddle.Tensor:
    """[B, ...] -> [times * B, ...], sample-major (rows k*B .. k*B+B-1 are copy k)."""
    return paddle.concat([x] * times, axis=0) if times > 1 else x


@paddle.no_grad()
def iw_log_likelihood(net: paddle.nn.Layer, src: paddle.Tensor, src_length: paddle.Tensor, trg: paddle.Tensor,
                      trg_length: paddle.Tensor, label: paddle.Tensor, num_samples: int,
                      max_rows: Optional[int] = None, fold_bias: bool = True) -> np.ndarray:
    """Importance-weighted estimate of log p(x) per sentence, [B], with z_k ~ q(z | x).

    All K noise draws are made up front, so the row cap changes how the
    samples are batched into decoder passes but not which samples are drawn.
    `fold_bias=False` scores the model's own logits instead of `FoldedScorer`'s (same numbers, slower).
    """
    if is_lm(net):
        return -reconstruction_nll(net, trg, trg_length, label, None, max_rows, fold_bias)
    max_rows, scorer = max_rows or default_max_rows(net), folded_scorer(net, fold_bias)
    mean, log_var = net.encode(src, src_length)
    eps = paddle.normal(shape=[num_samples] + list(mean.shape))
    std, mask = paddle.exp(0.5 * log_var), net.trg_mask(trg)
    rows = _row_counts(net, trg, trg_length)
    log_weights = np.empty((num_samples, mean.shape[0]), dtype="float64")
    for g in row_groups(rows, max_rows):
        per_pass, b = max(1, max_rows // int(rows[g].sum())), g.stop - g.start
        for s in range(0, num_samples, per_pass):
            k = min(per_pass, num_samples - s)
            z = mean[g] + std[g] * eps[s:s + k, g]  # [k, b, Z]
            log_q = _log_normal(z, mean[g], log_var[g])
            log_prior = _log_normal(z, paddle.zeros_like(z), paddle.zeros_like(z))
            rec = _rec_loss(net, scorer, _tile(trg[g], k), _tile(trg_length[g], k), _tile(mask[g], k),
                            _tile(label[g], k), z.reshape([k * b, -1])).reshape([k, b])
            log_weights[s:s + k, g] = -rec + (log_prior - log_q).numpy()
    m = log_weights.max(axis=0)
    return m + np.log(np.mean(np.exp(log_weights - m), axis=0))


def mutual_information(means: np.ndarray, log_vars: np.ndarray, rng: np.random.RandomState) -> float:
    """I(x; z) = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], q(z) the mixture of the given posteriors."""
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


def mi_batch(means: np.ndarray, log_vars: np.ndarray, rng: np.random.RandomState,
             batch_size: int = MI_BATCH_SIZE) -> float:
    """He et al. 2019's MI: the estimator inside each block of `batch_size` sentences, size-weighted mean.

    A block's mixture of 32 posteriors caps each estimate at log 32 and biases
    it low; `mutual_information` over the whole split is the better estimator,
    this one is for comparison with tables that use theirs.
    """
    total = 0.0
    for start in range(0, len(means), batch_size):
        block = slice(start, start + batch_size)
        total += mutual_information(means[block], log_vars[block], rng) * len(means[block])
    return total / len(means)


def active_units(means: np.ndarray, threshold: float = AU_THRESHOLD) -> int:
    return int(np.sum(np.var(means, axis=0) > threshold))


def _num_sentences(loader) -> Optional[int]:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


@paddle.no_grad()
def evaluate_loader(net: paddle.nn.Layer, loader: Iterable, iw_samples: int = 0, seed: int = 1,
                    mi_batch_size: int = MI_BATCH_SIZE,
                    bleu: bool = False, max_rows: Optional[int] = None, progress: bool = False,
                    progress_file: Optional[ProgressFile] = None) -> Dict:
    """Every metric of the module docstring over one pass of `loader` (a Corpus loader).

    `bleu` needs a VAESeq2SeqInferModel (it decodes) and makes a second pass. With a `progress_file` the
    pass is resumable: it reseeds before every batch, skips the batches the file has counted and saves its
    sums as it goes (`evaluation.progress`).
    """
    was_training, lm = net.training, is_lm(net)
    net.eval()
    paddle.seed(seed)
    start = time.time()
    s = progress_file.load() if progress_file is not None else PassState()
    total = _num_sentences(loader)
    bar = progress_bar(total, f"IW K={iw_samples}" if iw_samples and not lm else "ELBO", progress)
    bar.update(s.num_sentences)
    s.total_sentences, seconds_before, loop_start = total or 0, s.seconds, time.time()
    for index, (src, src_length, trg, trg_length, label) in enumerate(loader):
        if index < s.batches:
            continue
        if progress_file is not None:
            paddle.seed(step_seed(seed, index))
        if lm:
            rec = reconstruction_nll(net, trg, trg_length, label, None, max_rows)
        else:
            mean, log_var = net.encode(src, src_length)
            rec = reconstruction_nll(net, trg, trg_length, label, net.reparameterize(mean, log_var), max_rows)
            s.kl_sum += float(net.kl_divergence(mean, log_var).sum())
            s.means.append(mean.numpy())
            s.log_vars.append(log_var.numpy())
            if iw_samples:
                s.iw_sum -= float(iw_log_likelihood(net, src, src_length, trg, trg_length, label, iw_samples,
                                                    max_rows).sum())
        s.rec_sum += float(rec.sum())
        s.num_sentences += src.shape[0]
        s.num_words += int(net.trg_mask(trg).sum())
        s.batches = index + 1
        s.seconds, s.timed_sentences = seconds_before + time.time() - loop_start, s.timed_sentences + src.shape[0]
        if progress_file is not None:
            progress_file.save(s)
        bar.update(src.shape[0])
    bar.close()
    if progress_file is not None:
        progress_file.save(s, force=True)  # a cut in the BLEU pass below then skips the whole loop
    nll = (s.rec_sum + s.kl_sum) / s.num_sentences
    result = {"nll_elbo": nll, "rec": s.rec_sum / s.num_sentences, "kl": s.kl_sum / s.num_sentences,
              "ppl_elbo": math.exp((s.rec_sum + s.kl_sum) / s.num_words), "mi": 0.0, "mi_batch": 0.0,
              "mi_batch_size": mi_batch_size, "au": 0, "num_sentences": s.num_sentences, "num_words": s.num_words}
    if not lm:
        means, log_vars = np.concatenate(s.means).astype("float64"), np.concatenate(s.log_vars).astype("float64")
        result.update(mi=mutual_information(means, log_vars, np.random.RandomState(seed)),
                      mi_batch=mi_batch(means, log_vars, np.random.RandomState(seed), mi_batch_size),
                      au=active_units(means))
    if iw_samples:
        iw_sum = s.rec_sum if lm else s.iw_sum  # no latent: the ELBO is the exact log-likelihood
        result.update(nll_iw=iw_sum / s.num_sentences, ppl_iw=math.exp(iw_sum / s.num_words), iw_samples=iw_samples)
    if bleu:
        result["bleu_greedy"] = bleu_greedy(net, loader, max_rows, progress, total)
    result["seconds"] = time.time() - start
    if was_training:
        net.train()
    return result
