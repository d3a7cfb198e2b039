"""paddle_vae.models.layers: the same values and gradients as nn.Linear, with the bias gradient as a product."""
import numpy as np
import paddle
import pytest

from paddle_vae.models.layers import Linear, add_bias, adopt


def _grads(layer, x):
    x = paddle.to_tensor(x, stop_gradient=False)
    out = layer(x)
    (out * paddle.arange(out.size, dtype=out.dtype).reshape(out.shape)).sum().backward()
    grads = [out.numpy(), x.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy()]
    layer.clear_gradients()
    return grads


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5)])
def test_linear_gives_nn_linears_outputs_and_gradients_for_2d_and_3d_inputs(shape):
    paddle.seed(3)
    plain = paddle.nn.Linear(5, 6)
    ours = Linear(5, 6)
    ours.set_state_dict(plain.state_dict())
    x = np.random.RandomState(0).randn(*shape).astype("float32")
    for want, got in zip(_grads(plain, x), _grads(ours, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_a_trainable_bias_behind_a_frozen_weight_still_gets_its_gradient():
    layer = Linear(4, 3)
    layer.weight.stop_gradient = True
    out = layer(paddle.ones([2, 4]))
    out.sum().backward()
    np.testing.assert_allclose(layer.bias.grad.numpy(), [2.0, 2.0, 2.0])


def test_outside_training_without_grad_or_when_disabled_it_is_the_plain_add(monkeypatch):
    from paddle_vae.models import layers as linear

    def refuse(*args):
        raise AssertionError("the PyLayer ran")

    monkeypatch.setattr(linear._BiasAdd, "apply", refuse)
    x, bias = paddle.ones([2, 3]), paddle.to_tensor([1.0, 2.0, 3.0], stop_gradient=False)
    np.testing.assert_allclose(add_bias(x, bias, training=False).numpy(), [[2, 3, 4], [2, 3, 4]])
    with paddle.no_grad():
        add_bias(x, bias)
    monkeypatch.setattr(linear, "ENABLED", False)
    add_bias(x, bias)
    monkeypatch.setattr(linear, "ENABLED", True)
    with pytest.raises(AssertionError, match="the PyLayer ran"):  # and in training it is the PyLayer
        add_bias(x, bias)


def test_adopt_keeps_the_layers_parameters_and_refuses_what_is_not_an_nn_linear():
    layer = paddle.nn.Linear(3, 2)
    names = list(layer.state_dict())
    weight = layer.weight
    assert adopt(layer) is layer and isinstance(layer, Linear)
    assert list(layer.state_dict()) == names and layer.weight is weight
    with pytest.raises(TypeError):
        adopt(layer)  # already a Linear
    with pytest.raises(TypeError):
        adopt(paddle.nn.LayerNorm(3))


def test_no_linear_layer_of_either_decoder_is_left_a_plain_nn_linear():
    from paddle_vae.models.vae import VAESeq2SeqModel

    for decoder in ("lstm", "transformer"):
        net = VAESeq2SeqModel(embed_dim=16, hidden_size=16, latent_size=4, vocab_size=20, decoder=decoder,
                              transformer={"num_blocks": 1, "num_heads": 2, "ffn_size": 8} if decoder == "transformer"
                              else None)
        plain = [name for name, layer in net.named_sublayers() if type(layer) is paddle.nn.Linear]
        assert plain == [], f"{decoder}: {plain} still pay Paddle's broadcast bias gradient"
