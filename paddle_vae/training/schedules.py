"""The KL weight's schedules, the recipe's optimizer, and the one way an optimizer is swapped into
`paddle.Model`.

Each schedule is a pure function of the global training step, so evaluation cannot move the anneal and a
resumed run continues it exactly:

    linear     the reference: `kl_start`, rising by `anneal_r` per step, capped at 1
    cyclical   Fu et al. 2019: `cycles` equal cycles, each rising from 0 to 1 over its first `ramp`
               fraction and staying at 1 for the rest
    logistic   Bowman et al. 2015 as timbmg/Sentence-VAE implements it: 1 / (1 + exp(-k (step - x0)))
    pretraining (Li et al. 2019) prepends `pretrain_steps` at weight 0 (a plain autoencoder) to any of
               them, which then starts at step 0 again

Every Adam of a training comes from `make_adam` (the trainer's, the fresh one after autoencoder
pretraining, the aggressive phase's encoder-only and decoder-only ones), so they cannot drift apart in
clipping or rate.
"""
import math
from typing import List

import paddle

from ..models.loss import KLSchedule, kl_weight_at  # the reference's linear anneal is the loss's default


def cyclical_kl_weight_at(step: int, total_steps: int, cycles: int, ramp: float) -> float:
    """Fu et al.'s cyclical schedule; after `total_steps` the weight stays at 1."""
    if step >= total_steps:
        return 1.0
    period = total_steps / cycles
    position = (step % period) / period
    return min(1.0, position / ramp)


def logistic_kl_weight_at(step: int, k: float, x0: float) -> float:
    """The sigmoid anneal: near 0 early, 0.5 at step `x0`, approaching 1 at a pace set by `k`."""
    exponent = -k * (step - x0)
    return 0.0 if exponent > 700 else 1.0 / (1.0 + math.exp(exponent))  # exp overflows beyond ~709


def build_kl_schedule(kind: str, *, kl_start: float, anneal_r: float, total_steps: int, cycles: int = 4,
                      ramp: float = 0.5, pretrain_steps: int = 0, logistic_k: float = 0.0025,
                      logistic_x0: float = 2500.0) -> KLSchedule:
    """The schedule a run's flags ask for, as a function of the global step."""
    if kind == "linear":
        def after_pretraining(step: int) -> float:
            return kl_weight_at(step, kl_start, anneal_r)
    elif kind == "cyclical":
        vae_steps = max(1, total_steps - pretrain_steps)

        def after_pretraining(step: int) -> float:
            return cyclical_kl_weight_at(step, vae_steps, cycles, ramp)
    elif kind == "logistic":
        def after_pretraining(step: int) -> float:
            return logistic_kl_weight_at(step, logistic_k, logistic_x0)
    else:
        raise ValueError(f"kl_schedule must be 'linear', 'cyclical' or 'logistic', got {kind!r}")
    if pretrain_steps <= 0:
        return after_pretraining
    return lambda step: 0.0 if step < pretrain_steps else after_pretraining(step - pretrain_steps)


def make_adam(parameters: List[paddle.Tensor], learning_rate: float, max_grad_norm: float
              ) -> paddle.optimizer.Optimizer:
    """Adam with gradient clipping by global norm, as the reference trains."""
    return paddle.optimizer.Adam(learning_rate=learning_rate, parameters=parameters,
                                 grad_clip=paddle.nn.ClipGradByGlobalNorm(max_grad_norm))


def use_optimizer(model: paddle.Model, optimizer: paddle.optimizer.Optimizer, loss: paddle.nn.Layer,
                  metrics: List[paddle.metric.Metric]) -> None:
    """Make `model.fit`'s next step use `optimizer`; `loss` and `metrics` are the ones prepared before.

    `paddle.Model.prepare` is the public setter. In dynamic-graph mode (ours)
    calling it again only replaces the optimizer, loss and metrics and resets
    AMP to its default (off), on Paddle 2.6 and 3.x alike; given the same loss
    and metric objects, a running `fit` carries on unchanged.
    """
    model.prepare(optimizer, loss, metrics)
