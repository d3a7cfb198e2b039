"""`CrossEntropyWithKL` (annealed ELBO loss) and the per-epoch ELBO metrics.

Honest counting: a sentence of n words has n + 1 predicted tokens (EOS
counts) and padding counts nothing. Metrics always use KL weight 1, so the
dev/test NLL and PPL are bounds on the true model, whatever the anneal is at.
"""
import math
from typing import Callable, List, Optional

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..training.schedules import KLSchedule, kl_weight_at


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


class CrossEntropyWithKL(nn.Layer):
    """loss = kl_objective * kl_weight + reconstruction (summed over time, averaged over the batch).

    The weight depends only on the global training step, which the trainer
    sets through `set_step`, so evaluation never advances the anneal and a
    resumed run continues it exactly. In eval mode the weight is 1. The
    default schedule is the reference's linear one; `schedule` replaces it.

    The model's first output is the KL term the loss optimises: with free
    bits the floored objective (`self.kl_objective`). `true_kl` (a callable
    returning the batch-mean true KL, e.g. the model's `kl_true`) gives
    `self.kl_loss`, the true KL, which keeps the logged KL and the metrics'
    NLL honest.
    """

    def __init__(self, base_kl_weight: float, anneal_r: float, schedule: Optional[KLSchedule] = None,
                 true_kl: Optional[Callable[[], paddle.Tensor]] = None):
        super().__init__()
        self.base_kl_weight = base_kl_weight
        self.anneal_r = anneal_r
        self.schedule = schedule
        self.true_kl = true_kl
        self.kl_weight = base_kl_weight if schedule is None else schedule(0)
        self.loss = self.kl_loss = self.kl_objective = self.rec_loss = None
        self.sentence_nll = None  # [B]: rec + true KL at weight 1, for the metrics
        self.num_words = None  # predicted tokens in the batch

    def set_step(self, step: int) -> None:
        if self.schedule is not None:
            self.kl_weight = self.schedule(step)
        else:
            self.kl_weight = kl_weight_at(step, self.base_kl_weight, self.anneal_r)

    def forward(self, kl_objective, dec_output, trg_mask, label):
        rec_per_sentence = sentence_rec_loss(dec_output, label, trg_mask)
        self.rec_loss = paddle.mean(rec_per_sentence)
        self.kl_objective = kl_objective
        self.kl_loss = kl_objective if self.true_kl is None else self.true_kl()
        weight = self.kl_weight if self.training else 1.0
        self.loss = kl_objective * weight + self.rec_loss
        self.sentence_nll = (rec_per_sentence + self.kl_loss).detach()
        self.num_words = trg_mask.sum().detach()
        return self.loss


class _ELBOMetric(paddle.metric.Metric):
    """Accumulates rec + KL (weight 1) from the loss layer's last call, which paddle.Model makes first."""

    def __init__(self, loss: CrossEntropyWithKL, name: str):
        super().__init__()
        self.loss_layer = loss
        self._name = name
        self.reset()

    def compute(self, *args):
        return self.loss_layer.sentence_nll, self.loss_layer.num_words

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

    def __init__(self, loss: CrossEntropyWithKL, name: str = "ppl"):
        super().__init__(loss, name)

    def accumulate(self) -> float:
        exponent = self.total_nll / max(self.num_words, 1)
        return math.exp(exponent) if exponent < 700 else math.inf  # a diverging run: inf, not OverflowError


class NegativeLogLoss(_ELBOMetric):
    """Mean per-sentence −ELBO (rec + KL at weight 1)."""

    def __init__(self, loss: CrossEntropyWithKL, name: str = "nll"):
        super().__init__(loss, name)

    def accumulate(self) -> float:
        return self.total_nll / max(self.num_sentences, 1)
