"""A linear layer whose bias gradient is one matrix-vector product instead of Paddle's broadcast reduction.

On CPU, Paddle's gradient of `x + bias` (a [N, d] tensor plus a [d] bias) reduces over the rows with a
generic broadcast kernel that can cost as much as the matrix product beside it, where `ones[1, N] @ grad`
costs next to nothing. `nn.Linear` is a matmul plus that add, so every biased layer of a training step pays
it, the Transformer's feed-forward (d = 1,024) most. `add_bias` gives the same values and gradients and
computes the bias's as `ones @ grad`; the bench's `ours_transformer_broadcast_bias` row shows what it gives.

`Linear` is `nn.Linear` with that add: the same parameters, names and initialisation, so bundles and seeds
are unchanged. `adopt` turns a layer that Paddle built (the projections inside `nn.MultiHeadAttention`)
into one, in place. Outside training (evaluation, decoding, the static graph of `export`) the plain add runs,
as it does everywhere with `ENABLED = False`.

Dropout with the mask drawn by numpy for CPU tensors: the same Bernoulli(1 - p) mask, drawn faster.

Paddle's CPU dropout kernel draws one uniform number per element from a serial engine, on one thread
whatever the thread count, and numpy's PCG64 draws float32 uniforms faster. The Transformer decoder drops out
about five million activations per PTB step (the feed-forward's hidden units, three residual branches per
block, the embeddings); with Paddle's kernel its step was 1.07-1.11x slower (docs/transformer.md, the
`ours_transformer_paddle_dropout` bench row).

The mask's seed is drawn from Paddle's generator, so `paddle.seed` still fixes every mask and a run resumed
from a step bundle (which reseeds Paddle per step) draws the same ones. Off the CPU, or with
`ENABLED = False` (the bench's row with Paddle's own kernel), it is `F.dropout`.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.autograd import PyLayer


ENABLED = True


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
    if ENABLED and training and paddle.in_dynamic_mode() and not bias.stop_gradient and paddle.is_grad_enabled():
        return _BiasAdd.apply(x, bias)
    return x + bias


class Linear(nn.Linear):
    """`nn.Linear` whose bias gradient is computed by `add_bias`."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = paddle.matmul(x, self.weight)
        return out if self.bias is None else add_bias(out, self.bias, self.training)


def adopt(layer: nn.Linear) -> Linear:
    """Make an `nn.Linear` built elsewhere a `Linear`, in place (it adds no state, only its forward)."""
    if type(layer) is not nn.Linear:
        raise TypeError(f"adopt takes an nn.Linear, got {type(layer).__name__}")
    layer.__class__ = Linear
    return layer


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


ENABLED = True


def dropout(x: paddle.Tensor, p: float, training: bool = True) -> paddle.Tensor:
    """`F.dropout(x, p, training)` in "upscale_in_train" mode: kept elements are scaled by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if not ENABLED or p >= 1.0 or not x.place.is_cpu_place():
        return F.dropout(x, p, training=True)
    seed = int(paddle.randint(0, 2 ** 31 - 1, [1]).numpy()[0])
    keep = np.random.Generator(np.random.PCG64(seed)).random(x.shape, dtype=np.float32) >= p
    mask = paddle.to_tensor(keep.astype(np.float32) * np.float32(1.0 / (1.0 - p)))
    return x * (mask if mask.dtype == x.dtype else paddle.cast(mask, x.dtype))
