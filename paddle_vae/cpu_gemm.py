"""The output layer's products through numpy's BLAS when it beats Paddle's on this CPU.

The output layer ([rows, hidden] x [hidden, V]) is nearly all of an IW
evaluation. On the 2-core AMD EPYC dev machine numpy's OpenBLAS ran that
product about 3x faster than the MKLML build inside Paddle's CPU wheel, and IW
evaluation 1.35x faster end to end (README, "Speed"); on another CPU model the
order can flip. So `"auto"` (the default) times both once per process at the
layer's own shape and keeps the faster for products without gradients
(evaluation, scoring, sampling). Training products stay on Paddle's BLAS under
"auto": in the full step, next to Paddle's own threads, numpy's GEMMs gained
nothing on the dev machine (0.139 vs 0.139 s/step). `"numpy"` routes training
too (forward and both gradients); `"paddle"` routes nothing.

Tensors cross between the two by DLPack, without copies, where the installed
Paddle supports it. The mathematics is the same `x @ W + b`; only the BLAS and
its summation order differ, so results agree with Paddle's within float
tolerance (tests/test_cpu_gemm.py). Only float32 CPU tensors take this path.
"""
import time
from typing import Dict, Tuple

import numpy as np
import paddle
from paddle.autograd import PyLayer

BACKENDS = ("auto", "paddle", "numpy")
AUTO_MARGIN = 1.1  # numpy must be this much faster before auto picks it
_backend = "auto"
_auto_choice: Dict[Tuple[int, int], str] = {}


def set_backend(name: str) -> None:
    """Choose the output layer's GEMM: "auto" (time both once per shape), "paddle" or "numpy"."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"output GEMM backend must be one of {BACKENDS}, got {name!r}")
    _backend = name


def _as_numpy(t: paddle.Tensor) -> np.ndarray:
    try:
        return np.from_dlpack(t)
    except (AttributeError, TypeError, RuntimeError, BufferError):  # Paddle 2.6 has no Tensor.__dlpack__
        return t.numpy()


def _as_tensor(a: np.ndarray) -> paddle.Tensor:
    a = np.ascontiguousarray(a)
    try:
        return paddle.utils.dlpack.from_dlpack(a.__dlpack__())
    except (AttributeError, TypeError, RuntimeError, ValueError):
        return paddle.to_tensor(a)


def _best_seconds(fn, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _timed_choice(in_features: int, out_features: int, rows: int = 512) -> str:
    """"numpy" when its GEMM is AUTO_MARGIN faster than Paddle's at [rows, in] x [in, out] here."""
    rng = np.random.RandomState(0)
    x = rng.standard_normal((rows, in_features)).astype("float32")
    w = rng.standard_normal((in_features, out_features)).astype("float32")
    px, pw = paddle.to_tensor(x), paddle.to_tensor(w)
    t_paddle = _best_seconds(lambda: paddle.matmul(px, pw))
    t_numpy = _best_seconds(lambda: _as_tensor(_as_numpy(px) @ _as_numpy(pw)))
    return "numpy" if t_paddle > AUTO_MARGIN * t_numpy else "paddle"


def backend_for(in_features: int, out_features: int, with_grad: bool = False) -> str:
    """The backend a CPU product of this shape uses ("paddle" or "numpy")."""
    if _backend != "auto":
        return _backend
    if with_grad:
        return "paddle"
    key = (in_features, out_features)
    if key not in _auto_choice:
        _auto_choice[key] = _timed_choice(in_features, out_features)
    return _auto_choice[key]


class _NumpyLinear(PyLayer):
    """x @ W + b with the bias folded into the product as a row of W against a column of ones."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x_aug = np.concatenate([_as_numpy(x), np.ones((x.shape[0], 1), dtype=np.float32)], axis=1)
        w_aug = np.concatenate([_as_numpy(weight), _as_numpy(bias)[None, :]])
        ctx.saved = (x_aug, w_aug)
        return _as_tensor(x_aug @ w_aug)

    @staticmethod
    def backward(ctx, grad_out):
        x_aug, w_aug = ctx.saved
        g = _as_numpy(grad_out)
        hidden = w_aug.shape[0] - 1
        dx = g @ w_aug[:hidden].T
        dw_aug = x_aug.T @ g  # [hidden + 1, V]: the weight's gradient and, in its last row, the bias's
        return _as_tensor(dx), _as_tensor(dw_aug[:hidden]), _as_tensor(dw_aug[hidden])


def linear(x: paddle.Tensor, layer: paddle.nn.Linear) -> paddle.Tensor:
    """`layer(x)` for 2-D `x`, through numpy's BLAS when the backend says so and `x` is on the CPU."""
    if x.ndim != 2 or not x.place.is_cpu_place() or x.dtype != paddle.float32:
        return layer(x)
    with_grad = paddle.is_grad_enabled() and not (x.stop_gradient and layer.weight.stop_gradient)
    if backend_for(*layer.weight.shape, with_grad=with_grad) != "numpy" or x.shape[0] == 0:
        return layer(x)
    return _NumpyLinear.apply(x, layer.weight, layer.bias)
