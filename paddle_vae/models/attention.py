"""The Transformer decoder's two attention layers, built from `layers.Linear`.

`SelfAttention` is multi-head causal self-attention, computed as Paddle's `nn.MultiHeadAttention` computes it
(the same projections, names and initialisation order, so bundles and seeds carry over), with the
incremental cache that decoding needs: a fixed number of slots (`max_steps`) instead of one more position
per step, because decoding.py's SamplingDecoder runs only the unfinished rows and scatters their new states
back into the whole batch's, which needs every state tensor to keep its shape from step to step. Each step
writes the new position's keys and values into slot `step` and attends over the slots written so far.

`ZAttention` is cross-attention to z's one-position memory, computed as what it reduces to: the softmax over
a single key is 1, so every position receives the memory's value projection, and the query and key
projections of a general cross-attention layer would change nothing and receive no gradient.
"""
from typing import NamedTuple, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .layers import Linear, add_bias


class KVCache(NamedTuple):
    """One block's decoding cache: keys and values per head in `max_steps` slots, [B, H, max_steps, d/H]."""

    k: paddle.Tensor
    v: paddle.Tensor


class SelfAttention(nn.Layer):
    """Multi-head self-attention with dropout on the attention weights (Texar's and Paddle's layout)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, weight_attr: paddle.ParamAttr,
                 bias: bool = True):
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, embed_dim // num_heads, dropout
        bias_attr = None if bias else False
        self.q_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)
        self.k_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)
        self.v_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)
        self.out_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)

    def _heads(self, x: paddle.Tensor) -> paddle.Tensor:
        """[B, T, d] -> [B, H, T, d/H]."""
        return x.reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])

    def _attend(self, q: paddle.Tensor, k: paddle.Tensor, v: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        """softmax(q k^T / sqrt(d/H) + mask) v, merged back to [B, T, d] and projected."""
        product = paddle.matmul(q * (self.head_dim ** -0.5), k, transpose_y=True) + mask
        weights = F.softmax(product)
        if self.dropout:
            weights = F.dropout(weights, self.dropout, training=self.training)
        out = paddle.matmul(weights, v).transpose([0, 2, 1, 3])
        return self.out_proj(out.reshape([0, 0, out.shape[2] * out.shape[3]]))

    def forward(self, x: paddle.Tensor, mask: paddle.Tensor) -> paddle.Tensor:
        """x [B, T, d] attending under an additive `mask` [T, T] (0 allowed, -1e9 not) -> [B, T, d]."""
        return self._attend(self._heads(self.q_proj(x)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x)),
                            mask)

    def empty_cache(self, batch_size: int, max_steps: int, dtype: paddle.dtype) -> KVCache:
        empty = paddle.zeros([batch_size, self.num_heads, max_steps, self.head_dim], dtype=dtype)
        return KVCache(empty, empty)

    def step(self, x: paddle.Tensor, step: paddle.Tensor, cache: KVCache) -> Tuple[paddle.Tensor, KVCache]:
        """One decoding position per row, x [B, 1, d] at position `step` [B, 1] (int64): its output [B, 1, d]
        and the cache with its keys and values written into slot `step`."""
        slots = paddle.arange(cache.k.shape[2], dtype="int64").unsqueeze(0)  # [1, max_steps]
        here = paddle.cast(slots == step, x.dtype)[:, None, :, None]  # [B, 1, max_steps, 1]: the slot to write
        k = cache.k * (1.0 - here) + self._heads(self.k_proj(x)) * here
        v = cache.v * (1.0 - here) + self._heads(self.v_proj(x)) * here
        mask = (paddle.cast(slots <= step, x.dtype) - 1.0) * 1e9  # the written slots, this one included
        return self._attend(self._heads(self.q_proj(x)), k, v, mask[:, None, None, :]), KVCache(k, v)


class ZAttention(nn.Layer):
    """Multi-head cross-attention to z's one-position memory, as what it reduces to.

    Each head's softmax over one key is 1, so the layer's output at every position is
    out_proj(v_proj(memory)): `head_outputs` computes each head's share of it once per sentence,
    u_h = v_h @ out_proj.weight[rows of head h], [B, H, d]. Texar's (and Paddle's) dropout on the attention
    weights drops each (position, head) weight of 1 with probability p and scales the kept ones by 1/(1-p),
    so in training position t gets sum_h mask[t, h] * u_h + bias; in evaluation every position gets
    sum_h u_h + bias, once, as [B, 1, d].
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, weight_attr: paddle.ParamAttr,
                 bias: bool = True):
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        bias_attr = None if bias else False
        self.v_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)
        self.out_proj = Linear(embed_dim, embed_dim, weight_attr=weight_attr, bias_attr=bias_attr)

    def head_outputs(self, memory: paddle.Tensor) -> paddle.Tensor:
        """[B, d] memory -> [B, H, d]: each head's value through its rows of the output projection."""
        d, h = memory.shape[-1], self.num_heads
        v = self.v_proj(memory).reshape([-1, h, d // h]).transpose([1, 0, 2])  # [H, B, d/H]
        return paddle.matmul(v, self.out_proj.weight.reshape([h, d // h, d])).transpose([1, 0, 2])

    def forward(self, heads: paddle.Tensor, length: int) -> paddle.Tensor:
        """The attention output at `length` positions ([B, length, d]; [B, 1, d] outside training)."""
        bias = self.out_proj.bias
        if not self.training or self.dropout == 0.0:
            out = heads.sum(axis=1, keepdim=True)
            return out if bias is None else out + bias
        weights = F.dropout(paddle.ones([heads.shape[0], length, self.num_heads], heads.dtype), self.dropout)
        out = paddle.matmul(weights, heads)
        return out if bias is None else add_bias(out, bias)
