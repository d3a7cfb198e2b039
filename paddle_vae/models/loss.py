"""`CrossEntropyWithKL` (the annealed ELBO loss), what one call of it returns, and the per-epoch ELBO metrics.

Honest counting: a sentence of n words has n + 1 predicted tokens (EOS counts) and padding counts
nothing. Metrics always use KL weight 1, so the dev/test NLL and PPL are bounds on the true model,
whatever the anneal is at.

`paddle.Model` calls its loss as loss(*outputs, *labels), keeps nothing but the scalar it returns, and
gives its metrics only the outputs and the labels. `HapiLoss` is the loss as hapi calls it: it keeps the
`ELBOTerms` of its last call (`terms`), which the metrics and the training callback read.
"""
import math
from typing import Callable, List, NamedTuple, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .vae import VAEOutput

KLSchedule = Callable[[int], float]  # global training step -> KL weight (training.schedules builds the others)


def kl_weight_at(step: int, base_kl_weight: float, anneal_r: float) -> float:
    """The reference's linear anneal: `base_kl_weight` at step 0, rising by `anneal_r` per step, capped at 1."""
    return min(1.0, base_kl_weight + anneal_r * step)


def sentence_rec_loss(dec_output: paddle.Tensor, label: paddle.Tensor, trg_mask: paddle.Tensor) -> paddle.Tensor:
    """Reconstruction NLL summed over each sentence's tokens, [B].

    `dec_output` is either [B, T, V] logits (padded) or [num_words, V] logits
    at the positions where `trg_mask` is 1, in row-major (batch, time) order.
    """
    label = label.reshape(trg_mask.shape)
    if dec_output.ndim == 3:
        token_nll = F.cross_entropy(dec_output, label.unsqueeze(-1), reduction="none").squeeze(-1)
        return paddle.sum(token_nll * trg_mask, axis=1)
    positions = paddle.nonzero(trg_mask)
    target = paddle.gather_nd(label, positions)
    token_nll = F.cross_entropy(dec_output, target.unsqueeze(-1), reduction="none").squeeze(-1)
    # Row-major order makes the sentence ids sorted, as segment_sum requires. It returns only
    # max(id) + 1 rows, so a batch whose last sentences have no tokens (the masks of empty
    # sentences still hold EOS, so it does not happen in training) is padded with zeros.
    per_sentence = paddle.geometric.segment_sum(token_nll, positions[:, 0])
    missing = trg_mask.shape[0] - per_sentence.shape[0]
    return paddle.concat([per_sentence, paddle.zeros([missing], per_sentence.dtype)]) if missing else per_sentence


class ELBOTerms(NamedTuple):
    """One call of the loss: the value to optimise and what the log and the metrics report."""

    loss: paddle.Tensor  # kl_objective * kl_weight + rec: what backward runs on
    rec: paddle.Tensor  # batch-mean reconstruction NLL
    kl: paddle.Tensor  # batch-mean true KL
    kl_objective: paddle.Tensor  # the KL term the loss used (floored with free bits)
    kl_weight: float  # the anneal's weight at this step (1 in evaluation)
    sentence_nll: paddle.Tensor  # [B] rec + true KL at weight 1, detached: the metrics' sums
    num_words: paddle.Tensor  # predicted tokens in the batch, detached


class CrossEntropyWithKL(nn.Layer):
    """loss = kl_objective * kl_weight + reconstruction (summed over time, averaged over the batch).

    The weight depends only on the global training step, which the trainer
    sets through `set_step`, so evaluation never advances the anneal and a
    resumed run continues it exactly. In eval mode the weight is 1. The
    default schedule is the reference's linear one; `schedule` replaces it.

    Called as the reference calls it, loss(*model_output, label), it returns the scalar loss; `terms`
    returns every term of the same computation.
    """

    def __init__(self, base_kl_weight: float, anneal_r: float, schedule: Optional[KLSchedule] = None):
        super().__init__()
        self.base_kl_weight = base_kl_weight
        self.anneal_r = anneal_r
        self.schedule = schedule
        self.kl_weight = base_kl_weight if schedule is None else schedule(0)

    def set_step(self, step: int) -> None:
        if self.schedule is not None:
            self.kl_weight = self.schedule(step)
        else:
            self.kl_weight = kl_weight_at(step, self.base_kl_weight, self.anneal_r)

    def terms(self, output: VAEOutput, label: paddle.Tensor) -> ELBOTerms:
        """Every term of one loss computation, not just the scalar `forward` returns: the metrics and the training
        log read rec, KL and the per-sentence NLL of the very pass backward runs on."""
        rec_per_sentence = sentence_rec_loss(output.logits, label, output.trg_mask)
        rec = paddle.mean(rec_per_sentence)
        weight = self.kl_weight if self.training else 1.0
        return ELBOTerms(loss=output.kl_objective * weight + rec, rec=rec, kl=output.kl,
                         kl_objective=output.kl_objective, kl_weight=weight,
                         sentence_nll=(rec_per_sentence + output.kl).detach(),
                         num_words=output.trg_mask.sum().detach())

    def forward(self, kl_objective: paddle.Tensor, logits: paddle.Tensor, trg_mask: paddle.Tensor,
                kl: paddle.Tensor, label: paddle.Tensor) -> paddle.Tensor:
        return self.terms(VAEOutput(kl_objective, logits, trg_mask, kl), label).loss


class HapiLoss:
    """`CrossEntropyWithKL` as `paddle.Model` calls it, keeping the `ELBOTerms` of its last call (`terms`)
    for the ELBO metrics and the training callback: hapi hands them the model's outputs, not the loss's."""

    def __init__(self, loss: CrossEntropyWithKL):
        self.loss = loss
        self.terms: Optional[ELBOTerms] = None

    def __call__(self, *outputs_and_label: paddle.Tensor) -> paddle.Tensor:
        *outputs, label = outputs_and_label
        self.terms = self.loss.terms(VAEOutput(*outputs), label)
        return self.terms.loss


class _ELBOMetric(paddle.metric.Metric):
    """Accumulates rec + KL (weight 1) from the terms of the loss's last call, which paddle.Model makes
    before it computes the metrics."""

    def __init__(self, loss: HapiLoss, name: str):
        super().__init__()
        self.loss = loss
        self._name = name
        self.reset()

    def compute(self, *outputs_and_label):
        return self.loss.terms.sentence_nll, self.loss.terms.num_words

    def update(self, sentence_nll, num_words):
        self.total_nll += float(np.sum(sentence_nll))
        self.num_sentences += len(sentence_nll)
        self.num_words += int(np.sum(num_words))

    def reset(self):
        self.total_nll, self.num_sentences, self.num_words = 0.0, 0, 0

    def name(self) -> List[str]:
        return [self._name]


class Perplexity(_ELBOMetric):
    """exp(Σ(rec + KL) / Σ predicted tokens) over everything seen since the last reset."""

    def __init__(self, loss: HapiLoss, name: str = "ppl"):
        super().__init__(loss, name)

    def accumulate(self) -> float:
        exponent = self.total_nll / max(self.num_words, 1)
        return math.exp(exponent) if exponent < 700 else math.inf  # a diverging run: inf, not OverflowError


class NegativeLogLoss(_ELBOMetric):
    """Mean per-sentence −ELBO (rec + KL at weight 1)."""

    def __init__(self, loss: HapiLoss, name: str = "nll"):
        super().__init__(loss, name)

    def accumulate(self) -> float:
        return self.total_nll / max(self.num_sentences, 1)
