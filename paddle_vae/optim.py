"""The recipe's optimizer, built in one place, and the one way an optimizer is swapped into `paddle.Model`.

Every Adam of a training comes from `make_adam`: the trainer's, the fresh one
after autoencoder pretraining, and the aggressive phase's encoder-only and
decoder-only ones, so they cannot drift apart in clipping or rate.
"""
from typing import List

import paddle


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
