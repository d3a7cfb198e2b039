"""Output layer and token cross-entropy in one pass over row chunks, forward and backward.

Paddle's `Linear` followed by `cross_entropy` materialises the [N, V] logits,
adds the bias in a separate pass, writes a [N, V] softmax next to them and
reduces the bias gradient in yet another pass. Here each chunk of rows goes
logits -> softmax -> (softmax - one-hot) -> both gradient products while it is
still in cache, and nothing of size [N, V] is kept. It is opt-in
(`--output_loss fused`): numpy's elementwise passes run on one thread, and on
the 2-core dev machine it was 1.5x slower per step at 2 threads and about even
at 1 (README, "Speed").

The gradients are computed during the forward pass, for an upstream gradient
of 1 per token, and scaled in `backward`. That is exact when the upstream
gradient is the same for every token -- as it is for the training loss, a sum
over tokens divided by the batch size. Any other upstream gradient makes
`backward` recompute the chunks with per-row weights, so the result is exact
either way. Outside a gradient context only the loss is computed.
"""
from typing import Optional, Tuple

import numpy as np
import paddle
from scipy.linalg import blas
from paddle.autograd import PyLayer

ROWS_PER_CHUNK = 128  # [128, V] float32 logits: 5 MB at V=10k, within a server CPU's L2+L3 share


def _chunk_grads(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, label: np.ndarray,
                 row_weight: Optional[np.ndarray], need_grad: bool
                 ) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """Token NLL [N] and, with `need_grad`, (dh, dW, db) for per-row upstream weights (None: all 1).

    The bias rides in the products as an extra input row of ones, so neither it nor its gradient
    costs a pass of its own; the weight gradient is accumulated in place by BLAS (beta = 1).
    """
    n, hidden = h.shape
    w_aug = np.concatenate([weight, bias[None, :]])  # [H + 1, V]
    h_aug = np.concatenate([h, np.ones((n, 1), dtype=h.dtype)], axis=1)  # [N, H + 1]
    nll = np.empty(n, dtype=np.float32)
    dh = np.empty_like(h) if need_grad else None
    dw_aug_t = np.zeros(w_aug.shape[::-1], dtype=np.float32, order="F") if need_grad else None  # [V, H + 1]
    for lo in range(0, n, ROWS_PER_CHUNK):
        hi = min(lo + ROWS_PER_CHUNK, n)
        rows = np.arange(hi - lo)
        logits = h_aug[lo:hi] @ w_aug
        true_logit = logits[rows, label[lo:hi]]
        row_max = logits.max(axis=1)
        logits -= row_max[:, None]
        np.exp(logits, out=logits)
        total = logits.sum(axis=1)
        nll[lo:hi] = np.log(total) + row_max - true_logit
        if not need_grad:
            continue
        scale = 1.0 / total if row_weight is None else row_weight[lo:hi] / total
        logits *= scale[:, None]  # softmax (times the row's upstream weight)
        logits[rows, label[lo:hi]] -= 1.0 if row_weight is None else row_weight[lo:hi]  # d nll / d logits
        dh[lo:hi] = logits @ w_aug[:hidden].T
        blas.sgemm(1.0, logits.T, h_aug[lo:hi], beta=1.0, c=dw_aug_t, overwrite_c=True)
    if not need_grad:
        return nll, None, None, None
    dw_aug = dw_aug_t.T  # C-contiguous [H + 1, V], no copy
    return nll, dh, np.ascontiguousarray(dw_aug[:hidden]), np.ascontiguousarray(dw_aug[hidden])


class _LinearCrossEntropy(PyLayer):
    @staticmethod
    def forward(ctx, hidden, weight, bias, label):
        h, w, b = hidden.numpy(), weight.numpy(), bias.numpy()
        lab = label.numpy().astype(np.int64).reshape(-1)
        need_grad = paddle.is_grad_enabled() and not (hidden.stop_gradient and weight.stop_gradient)
        nll, dh, dw, db = _chunk_grads(h, w, b, lab, None, need_grad)
        ctx.saved = (h, w, b, lab, dh, dw, db)
        return paddle.to_tensor(nll)

    @staticmethod
    def backward(ctx, grad_nll):
        h, w, b, lab, dh, dw, db = ctx.saved
        g = grad_nll.numpy().reshape(-1)
        if dh is None:  # forward ran without gradients
            _, dh, dw, db = _chunk_grads(h, w, b, lab, g, True)
        elif g.size and np.all(g == g[0]):
            scale = g[0]
            dh, dw, db = dh * scale, dw * scale, db * scale
        else:
            _, dh, dw, db = _chunk_grads(h, w, b, lab, g, True)
        return paddle.to_tensor(dh), paddle.to_tensor(dw), paddle.to_tensor(db)


def linear_cross_entropy(hidden: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor,
                         label: paddle.Tensor) -> paddle.Tensor:
    """Per-row -log softmax(hidden @ weight + bias)[label], [N]; `weight` is [H, V] as in `nn.Linear`."""
    return _LinearCrossEntropy.apply(hidden, weight, bias, label)
