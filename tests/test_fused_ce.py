"""fused_ce: the chunked output layer + cross-entropy gives Paddle's losses and gradients, and
--output_loss fused trains like the default --output_loss paddle."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_vae import fused_ce
from paddle_vae.fused_ce import linear_cross_entropy
from paddle_vae.loss import CrossEntropyWithKL

from conftest import TINY, run_train


def _case(n=37, hidden=8, vocab=23, seed=0):
    paddle.seed(seed)
    layer = paddle.nn.Linear(hidden, vocab)
    h = paddle.randn([n, hidden]) * 3  # large logits: the max-shift must keep exp finite
    h.stop_gradient = False
    label = paddle.randint(0, vocab, [n])
    return layer, h, label


def _grads(loss, h, layer):
    loss.backward()
    out = [t.grad.numpy().copy() for t in (h, layer.weight, layer.bias)]
    for t in (h, layer.weight, layer.bias):
        t.clear_gradient()
    return out


@pytest.mark.parametrize("rows_per_chunk", [1, 5, 37, 128])
def test_matches_paddle_losses_and_gradients(monkeypatch, rows_per_chunk):
    monkeypatch.setattr(fused_ce, "ROWS_PER_CHUNK", rows_per_chunk)
    layer, h, label = _case()
    expected = F.cross_entropy(layer(h), label.unsqueeze(-1), reduction="none").squeeze(-1)
    want = _grads(expected.sum() / 3, h, layer)
    got = linear_cross_entropy(h, layer.weight, layer.bias, label)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    for g, w in zip(_grads(got.sum() / 3, h, layer), want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_non_uniform_upstream_gradient_is_exact():
    """The gradients computed in forward assume one weight per token; anything else is recomputed."""
    layer, h, label = _case()
    weights = paddle.linspace(-1.0, 2.0, 37)
    expected = F.cross_entropy(layer(h), label.unsqueeze(-1), reduction="none").squeeze(-1)
    want = _grads((expected * weights).sum(), h, layer)
    got = _grads((linear_cross_entropy(h, layer.weight, layer.bias, label) * weights).sum(), h, layer)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_no_grad_gives_the_loss_only():
    layer, h, label = _case()
    with paddle.no_grad():
        got = linear_cross_entropy(h, layer.weight, layer.bias, label)
    expected = F.cross_entropy(layer(h), label.unsqueeze(-1), reduction="none").squeeze(-1)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_loss_layer_takes_hidden_rows_or_logits():
    """CrossEntropyWithKL with an output layer gives the same loss for hidden rows as for their logits."""
    from test_model_loss import batch, tiny_model

    fused, plain = tiny_model(output_loss="fused"), tiny_model(output_loss="paddle")
    src, src_len, trg, trg_len, label = batch()
    losses = []
    for net in (fused, plain):
        net.train()
        paddle.seed(3)
        kl, dec_output, mask = net(src, src_len, trg, trg_len)
        losses.append(float(CrossEntropyWithKL(0.5, 0.0, output_layer=net.decoder.output_fc)(kl, dec_output,
                                                                                              mask, label)))
    assert fused.decoder.output_fc.weight.shape[0] == 16  # hidden rows went in, not logits
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def _train_log(path):
    import json

    return [json.loads(line) for line in open(path / "train_log.jsonl")]


def test_fused_training_step_gives_the_default_paths_losses(tmp_path):
    """--output_loss fused reproduces the default --output_loss paddle's per-step losses on the demo corpus."""
    runs = {}
    for impl in ("fused", "paddle"):
        out = tmp_path / impl
        assert run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_steps", "12",
                                 "--log_freq", "1", "--output_loss", impl, "--final_eval", "none"]) == 0
        runs[impl] = [r["loss"] for r in _train_log(out) if "loss" in r]
    assert len(runs["fused"]) >= 10
    np.testing.assert_allclose(runs["fused"], runs["paddle"], rtol=1e-4)
