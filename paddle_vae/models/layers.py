"""The linear layers every decoder is built from: `Linear`, whose bias gradient is one matrix-vector
product, and `TiedOutput`, an output layer that reads the embedding table.

On CPU, Paddle's gradient of `x + bias` (a [N, d] tensor plus a [d] bias) reduces over the rows with a
generic broadcast kernel that can cost as much as the matrix product beside it, where `ones[1, N] @ grad`
costs next to nothing. `nn.Linear` is a matmul plus that add, so every biased layer of a training step pays
it, the Transformer's feed-forward (d = 1,024) most. `add_bias` gives the same values and gradients and
computes the bias's as `ones @ grad` (docs/speed.md has the Transformer step with and without it).

`Linear` is `nn.Linear` with that add: the same parameters, names and initialisation, so bundles and seeds
are unchanged. It is the one place the trick lives: our own layers (the encoder's posterior layer, the
decoders, `attention.SelfAttention`) are built from it; no layer of Paddle's is changed. Outside training
(evaluation, decoding, the static graph of `export`) the plain add runs.
"""
import paddle
import paddle.nn as nn
from paddle.autograd import PyLayer


class _BiasAdd(PyLayer):
    """x + bias, with the bias gradient summed over the rows by a matrix-vector product."""

    @staticmethod
    def forward(ctx, x: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
        ctx.x_needs_grad = not x.stop_gradient  # Paddle wants None back for an input that needs no gradient
        return x + bias

    @staticmethod
    def backward(ctx, grad: paddle.Tensor):
        rows = grad.reshape([-1, grad.shape[-1]])
        bias_grad = paddle.matmul(paddle.ones([1, rows.shape[0]], grad.dtype), rows).reshape([-1])
        return (grad if ctx.x_needs_grad else None), bias_grad


def add_bias(x: paddle.Tensor, bias: paddle.Tensor, training: bool = True) -> paddle.Tensor:
    """`x + bias` for a bias over x's last axis; through `_BiasAdd` when a training step will need its gradient."""
    if training and paddle.in_dynamic_mode() and not bias.stop_gradient and paddle.is_grad_enabled():
        return _BiasAdd.apply(x, bias)
    return x + bias


class Linear(nn.Linear):
    """`nn.Linear` whose bias gradient is computed by `add_bias`."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = paddle.matmul(x, self.weight)
        return out if self.bias is None else add_bias(out, self.bias, self.training)


class TiedOutput(nn.Layer):
    """An output layer that reads an embedding table, transposed: logits = x @ E^T (+ bias).

    The table stays owned (and saved) by the embedding alone, so the two are one parameter and a tied
    bundle holds it once; only the optional bias [V] is this layer's own. `weight` is the [in, V] view that
    code written for `nn.Linear` reads (the decoders' generation step, the evaluation scorer).
    """

    def __init__(self, embedding: nn.Embedding, bias: bool):
        super().__init__()
        self._embedding = [embedding]  # a list: not a sublayer, so the table is not saved twice
        vocab_size = embedding.weight.shape[0]
        self.bias = self.create_parameter([vocab_size], is_bias=True) if bias else None

    @property
    def weight(self) -> paddle.Tensor:
        return self._embedding[0].weight.T

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = paddle.matmul(x, self._embedding[0].weight, transpose_y=True)
        return out if self.bias is None else add_bias(out, self.bias, self.training)
