"""paddle_vae.models.layers: the same values and gradients as nn.Linear, with the bias gradient as a product,
and the one seam through which the decoders use it."""
import numpy as np
import paddle
import pytest

from paddle_vae.models.layers import Linear, add_bias


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


def test_outside_training_or_without_grad_it_is_the_plain_add(monkeypatch):
    from paddle_vae.models import layers

    def refuse(*args):
        raise AssertionError("the PyLayer ran")

    monkeypatch.setattr(layers._BiasAdd, "apply", refuse)
    x, bias = paddle.ones([2, 3]), paddle.to_tensor([1.0, 2.0, 3.0], stop_gradient=False)
    np.testing.assert_allclose(add_bias(x, bias, training=False).numpy(), [[2, 3, 4], [2, 3, 4]])
    with paddle.no_grad():
        add_bias(x, bias)
    with pytest.raises(AssertionError, match="the PyLayer ran"):  # and in training it is the PyLayer
        add_bias(x, bias)


def test_every_linear_layer_of_either_decoder_is_ours_and_no_paddle_layer_was_changed():
    from paddle_vae.config import ModelConfig
    from paddle_vae.models.vae import VAESeq2SeqModel

    for decoder in ("lstm", "transformer"):
        net = VAESeq2SeqModel(ModelConfig(vocab_size=20, embed_dim=16, hidden_size=16, latent_size=4, decoder=decoder,
                                          num_blocks=1, num_heads=2, ffn_size=8))
        plain = [name for name, layer in net.named_sublayers() if type(layer) is paddle.nn.Linear]
        assert plain == [], f"{decoder}: {plain} still pay Paddle's broadcast bias gradient"
        assert not any(isinstance(layer, paddle.nn.MultiHeadAttention) for layer in net.sublayers())
    assert paddle.nn.Linear.forward.__module__.startswith("paddle.")  # Paddle's own class is left as it was
