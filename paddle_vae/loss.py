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

from .schedules import KLSchedule, kl_weight_at


def sentence_rec_loss(dec_output: paddle.Tensor, label: paddle.Tensor, trg_mask: paddle.Tensor,
                      output_layer: Optional[nn.Linear] = None) -> paddle.Tensor:
    """Reconstruction NLL summed over each sentence's tokens, [B].

    `dec_output` is either [B, T, V] logits (padded) or [num_words, V] logits
    at the positions where `trg_mask` is 1, in row-major order -- or, given
    `output_layer`, those positions' [num_words, hidden] decoder states, which
    go through the layer and the cross-entropy together (`fused_ce`).
    """
    label = label.reshape(trg_mask.shape)
    if dec_output.ndim == 3:
        token_nll = F.cross_entropy(dec_output, label.unsqueeze(-1), reduction="none").squeeze(-1)
        return paddle.sum(token_nll * trg_mask, axis=1)
    positions = paddle.nonzero(trg_mask)
    target = paddle.gather_nd(label, positions)
    if output_layer is not None and dec_output.shape[-1] == output_layer.weight.shape[0]:
        from .fused_ce import linear_cross_entropy  # opt-in: scipy is imported only by runs that use it

        token_nll = linear_cross_entropy(dec_output, output_layer.weight, output_layer.bias, target)
    else:
        token_nll = F.cross_entropy(dec_output, target.unsqueeze(-1), reduction="none").squeeze(-1)
    return _segment_sum(token_nll, positions[:, 0], trg_mask.shape[0])


def _segment_sum(values: paddle.Tensor, segment_ids: paddle.Tensor, num_segments: int) -> paddle.Tensor:
    """Differentiable sum of `values` per segment id (ids need not be sorted)."""
    one_hot = F.one_hot(segment_ids, num_segments).astype(values.dtype)  # [N, B], tiny
    return paddle.matmul(values.unsqueeze(0), one_hot).squeeze(0)


class CrossEntropyWithKL(nn.Layer):
    """loss = kl_loss * kl_weight + reconstruction (summed over time, averaged over the batch).

    The weight depends only on the global training step, which the trainer
    sets through `set_step`, so evaluation never advances the anneal and a
    resumed run continues it exactly. In eval mode the weight is 1. The
    default schedule is the reference's linear one; `schedule` replaces it.

    With free bits the model's `kl_loss` is the floored training objective;
    `true_kl` (a callable returning the batch-mean true KL, e.g. the model's
    `kl_true`) keeps the logged KL and the metrics' NLL honest.

    `output_layer` is the decoder's `output_fc`, for a decoder that returns
    hidden rows in training (`output_loss="fused"`, opt-in).
    """

    def __init__(self, base_kl_weight: float, anneal_r: float, schedule: Optional[KLSchedule] = None,
                 true_kl: Optional[Callable[[], paddle.Tensor]] = None, output_layer: Optional[nn.Linear] = None):
        super().__init__()
        self.output_layer = [output_layer]  # in a list: the loss must not own (or save) the model's parameters
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

    def forward(self, kl_loss, dec_output, trg_mask, label):
        rec_per_sentence = sentence_rec_loss(dec_output, label, trg_mask, self.output_layer[0])
        self.rec_loss = paddle.mean(rec_per_sentence)
        self.kl_objective = kl_loss
        self.kl_loss = kl_loss if self.true_kl is None else self.true_kl()
        weight = self.kl_weight if self.training else 1.0
        self.loss = kl_loss * weight + self.rec_loss
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
