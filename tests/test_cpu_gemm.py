"""cpu_gemm: the output layer on numpy's BLAS gives Paddle's values and gradients, IW estimates and
training losses; "auto" keeps training on Paddle's BLAS."""
import json

import numpy as np
import paddle
import pytest

from paddle_vae import cpu_gemm, metrics

from conftest import TINY, run_train
from test_metrics import tiny_batch, tiny_vae


@pytest.fixture(autouse=True)
def restore_backend():
    yield
    cpu_gemm.set_backend("auto")


def _linear_case():
    paddle.seed(0)
    layer = paddle.nn.Linear(8, 23)
    x = paddle.randn([37, 8]) * 3
    x.stop_gradient = False
    return layer, x


def _values_and_grads(backend, layer, x):
    cpu_gemm.set_backend(backend)
    y = cpu_gemm.linear(x, layer)
    (y * paddle.linspace(-1.0, 2.0, 23)).sum().backward()  # a non-uniform upstream gradient
    out = [y.numpy()] + [t.grad.numpy().copy() for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.clear_gradient()
    return out


def test_numpy_backend_matches_paddle_values_and_gradients():
    layer, x = _linear_case()
    want = _values_and_grads("paddle", layer, x)
    got = _values_and_grads("numpy", layer, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_copying_fallback_without_dlpack(monkeypatch):
    """Paddle 2.6 has no Tensor.__dlpack__: the copies numpy and Paddle fall back to give the same values."""
    layer, x = _linear_case()
    want = _values_and_grads("numpy", layer, x)

    def no_dlpack(_):
        raise AttributeError("no __dlpack__")
    monkeypatch.setattr(np, "from_dlpack", no_dlpack)
    monkeypatch.setattr(paddle.utils.dlpack, "from_dlpack", no_dlpack)
    for g, w in zip(_values_and_grads("numpy", layer, x), want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_auto_keeps_products_with_gradients_on_paddle(monkeypatch):
    monkeypatch.setattr(cpu_gemm, "_timed_choice", lambda *shape: "numpy")
    cpu_gemm.set_backend("auto")
    cpu_gemm._auto_choice.clear()
    assert cpu_gemm.backend_for(8, 23) == "numpy"
    assert cpu_gemm.backend_for(8, 23, with_grad=True) == "paddle"
    cpu_gemm._auto_choice.clear()
    with pytest.raises(ValueError, match="backend"):
        cpu_gemm.set_backend("mkl")


def test_iw_estimate_is_the_same_on_either_blas():
    net, batch = tiny_vae(), tiny_batch()
    results = {}
    for backend in ("paddle", "numpy"):
        cpu_gemm.set_backend(backend)
        paddle.seed(7)
        results[backend] = metrics.iw_log_likelihood(net, *batch, num_samples=25, max_rows=20)
    np.testing.assert_allclose(results["numpy"], results["paddle"], rtol=1e-5)


def test_training_on_numpy_blas_gives_the_default_losses(tmp_path):
    runs = {}
    for backend in ("numpy", "auto"):
        out = tmp_path / backend
        assert run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_steps", "12",
                                 "--log_freq", "1", "--output_gemm", backend, "--final_eval", "none"]) == 0
        runs[backend] = [r["loss"] for r in map(json.loads, open(out / "train_log.jsonl")) if "loss" in r]
    assert len(runs["numpy"]) >= 10
    np.testing.assert_allclose(runs["numpy"], runs["auto"], rtol=1e-4)
