"""The Transformer's parts that replace Paddle's: attention to z's one-position memory, computed as what it
reduces to, and the blocks themselves (our own attention layers) against paddle's own Transformer stacks;
each against what it replaces."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_vae.config import ModelConfig
from paddle_vae.models.attention import ZAttention

B, T, D, H = 3, 5, 8, 2


def z_attention(p=0.0):
    paddle.seed(0)
    layer = ZAttention(D, H, p, paddle.ParamAttr(initializer=nn.initializer.Uniform(-0.5, 0.5)))
    layer.out_proj.bias.set_value(paddle.uniform([D], min=-0.5, max=0.5))
    return layer


def test_z_attention_equals_paddles_cross_attention_over_a_one_position_memory():
    layer = z_attention()
    layer.eval()
    general = nn.MultiHeadAttention(D, H)  # its own query and key projections: they cannot matter
    general.v_proj.weight.set_value(layer.v_proj.weight)
    general.v_proj.bias.set_value(layer.v_proj.bias)
    general.out_proj.weight.set_value(layer.out_proj.weight)
    general.out_proj.bias.set_value(layer.out_proj.bias)
    general.eval()
    memory, queries = paddle.randn([B, D]), paddle.randn([B, T, D])
    expected = general(queries, memory.unsqueeze(1), memory.unsqueeze(1)).numpy()
    got = layer(layer.head_outputs(memory), T).numpy()
    assert got.shape == (B, 1, D)
    np.testing.assert_allclose(np.broadcast_to(got, expected.shape), expected, rtol=1e-5, atol=1e-6)


def test_z_attention_in_training_drops_each_heads_weight_of_one():
    layer = z_attention(p=0.5)
    layer.train()
    heads = layer.head_outputs(paddle.randn([1, D]))
    out = layer(heads, 400).numpy()[0]  # [400, D]
    u, b = heads.numpy()[0], layer.out_proj.bias.numpy()
    combos = {(i, j): 2 * i * u[0] + 2 * j * u[1] + b for i in (0, 1) for j in (0, 1)}  # weights 0 or 1/(1-p)
    seen = [min(combos, key=lambda c: np.abs(combos[c] - row).max()) for row in out]
    assert all(np.allclose(row, combos[c], atol=1e-5) for row, c in zip(out, seen))
    assert set(seen) == set(combos)  # all four patterns occur over 400 positions


# Paddle's TransformerDecoderLayer / TransformerEncoderLayer names -> ours. The cross-attention's query and key
# projections and the LayerNorm before them have no counterpart: the softmax over z's one position is 1.
STACK_NAMES = {"vae": {"norm1.": "self_norm.", "norm3.": "ffn_norm.", "cross_attn.v_proj.": "z_attn.v_proj.",
                       "cross_attn.out_proj.": "z_attn.out_proj.", "cross_attn.q_proj.": None,
                       "cross_attn.k_proj.": None, "norm2.": None},
               "lm": {"norm1.": "self_norm.", "norm2.": "ffn_norm."}}


def stack_weights_by_our_names(stack: nn.Layer, kind: str) -> dict:
    renamed = {}
    for key, value in stack.state_dict().items():
        if key.startswith("norm."):
            renamed["final_norm." + key[len("norm."):]] = value
            continue
        _, index, rest = key.split(".", 2)  # layers.N.rest
        old = next((o for o in STACK_NAMES[kind] if rest.startswith(o)), None)
        if old is None:
            renamed[f"blocks.{index}.{rest}"] = value
        elif STACK_NAMES[kind][old] is not None:
            renamed[f"blocks.{index}.{STACK_NAMES[kind][old]}{rest[len(old):]}"] = value
    return renamed


@pytest.mark.parametrize("latent_size", [4, 0], ids=["vae", "lm"])
def test_the_blocks_compute_what_paddles_transformer_stacks_compute(latent_size):
    """Paddle's TransformerDecoderLayer (VAE) / TransformerEncoderLayer (LM) stacks, pre-norm: their weights,
    mapped onto our blocks by name, must give the same logits."""
    from paddle_vae.bundle import load_weights
    from paddle_vae.models.transformer import TransformerDecoder

    paddle.seed(0)
    config = ModelConfig(vocab_size=30, embed_dim=D, num_blocks=2, num_heads=H, ffn_size=32, decoder="transformer")
    rest = TransformerDecoder(config, latent_size, max_len=24)  # the embedder, z_fc and output layer around it
    layer = dict(d_model=D, nhead=H, dim_feedforward=32, dropout=0.2, normalize_before=True)
    stack = (nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), 2, nn.LayerNorm(D)) if latent_size
             else nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), 2, nn.LayerNorm(D)))
    for param in stack.parameters():  # LayerNorms too, so a swapped name cannot go unnoticed
        param.set_value(paddle.uniform(param.shape, min=-0.5, max=0.5))
    state = {k: v for k, v in rest.state_dict().items() if not k.startswith(("blocks.", "final_norm."))}
    state.update(stack_weights_by_our_names(stack, "vae" if latent_size else "lm"))

    current = TransformerDecoder(config, latent_size, max_len=24)
    load_weights(current, state, "paddle's stack")  # every current weight is found, and nothing else
    current.eval()
    stack.eval()
    trg = paddle.to_tensor([[1, 5, 7, 9, 0], [1, 4, 6, 0, 0]], dtype="int64")
    mask = paddle.cast(trg != 0, "float32")
    z = paddle.randn([2, latent_size]) if latent_size else None
    memory = current.z_memory(z).unsqueeze(1) if latent_size else None
    x = current.block_inputs(current.trg_embedder(trg), current.pos_table[:5].unsqueeze(0), memory)
    causal = (paddle.cast(paddle.tril(paddle.ones([5, 5])), "float32") - 1.0) * 1e9
    out = stack(x, memory, tgt_mask=causal) if latent_size else stack(x, causal)
    expected = current.output_fc(paddle.gather_nd(out, paddle.nonzero(mask))).numpy()
    got = current.output_fc(current.hidden(trg, paddle.to_tensor([4, 3]), mask, z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
