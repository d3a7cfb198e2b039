"""A Transformer decoder for the text VAE and its language model: Texar's vae_text VAE-Transformer.

The recipe is asyml/texar examples/vae_text/config_trans_ptb.py, the Transformer that the text-VAE
literature compares LSTM decoders with: 3 blocks, 8 heads, model size 256, feed-forward 1024, dropout 0.2
on the embeddings, the attention weights, the residual branches and after the ReLU, and an output layer
with no bias. Like Texar's, the blocks are pre-LayerNorm with a final LayerNorm, the word embeddings are
scaled by sqrt(d_model), and positions are *sinusoidal* (Texar's SinusoidsPositionEmbedder: sin in the
first half of the channels, cos in the second), so they add no parameters.

z reaches the decoder the way Texar gives it: projected to d_model and offered as a one-position memory
that every block cross-attends to. Attention over one position is computed as what it reduces to
(`ZAttention`): the softmax over a single key is 1, so every position receives the memory's value
projection, and the query and key projections of a general cross-attention layer would change nothing
and receive no gradient. `z_path="memory+embed"` also adds z's projection to every input embedding, a
second, more direct path. With latent_size 0 (the language model) the blocks have no z sublayer, which is
all a decoder-only Transformer is. The blocks' self-attention is paddle's MultiHeadAttention; their
dropouts on the residual branches, after the ReLU and on the embeddings draw their masks with
`cpu_dropout` (numpy's generator on CPU, Paddle's kernel elsewhere).

One set of weights, two ways to run them: `forward_fused` teacher-forces a batch under a causal mask, and
`cell` takes one step for `paddle.nn.dynamic_decode` from paddle's incremental attention caches. The
self-attention cache has a fixed number of slots (`max_steps`) instead of growing by one position per step
as `gen_cache`'s empty cache does, because decoding.py's SamplingDecoder runs only the unfinished rows and
scatters their new states back into the whole batch's, which needs every state tensor to keep its shape
from step to step. Each step the layer attends over the written slots plus the new position (unwritten
slots masked out), and the new position's keys and values are then written into slot `step`. z's
per-head contributions (`ZAttention.head_outputs`) are computed once per sentence and carried in the states.
"""
import math
from typing import List, Optional, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn import initializer as I

from ..config import Z_PATHS, ModelConfig
from .layers import dropout
from .layers import Linear, TiedOutput, add_bias, adopt

_NEG = 1e9  # what paddle itself turns a boolean "masked" into; exp(-1e9) is exactly 0 in float32


def sinusoid_table(max_len: int, dim: int) -> paddle.Tensor:
    """[max_len, dim] position signals: sin then cos of position / 10000^(i / (dim/2 - 1)) (Texar's layout)."""
    half = dim // 2
    rate = paddle.exp(paddle.arange(half, dtype="float32") * (-math.log(1e4) / max(half - 1, 1)))
    angle = paddle.arange(max_len, dtype="float32").unsqueeze(1) * rate.unsqueeze(0)
    return paddle.concat([paddle.sin(angle), paddle.cos(angle)], axis=1)


def _weight_attr(init_scale: float) -> paddle.ParamAttr:
    """U(-init_scale, init_scale), as the LSTM path initialises; init_scale <= 0 picks Texar's Xavier-uniform."""
    return paddle.ParamAttr(initializer=I.Uniform(-init_scale, init_scale) if init_scale > 0 else I.XavierUniform())


def _embed_attr(init_scale: float, dim: int) -> paddle.ParamAttr:
    """U(-init_scale, init_scale); init_scale <= 0 picks Texar's N(0, dim^-0.5) (unit scale after the sqrt(dim))."""
    return paddle.ParamAttr(initializer=I.Uniform(-init_scale, init_scale) if init_scale > 0
                            else I.Normal(0.0, dim ** -0.5))


def _additive_mask(allowed: paddle.Tensor, dtype) -> paddle.Tensor:
    """0 where attention is allowed, -1e9 where not: one float mask for both paths, so both round alike."""
    return (paddle.cast(allowed, dtype) - 1.0) * _NEG


class ZAttention(nn.Layer):
    """Multi-head cross-attention to z's one-position memory, as what it reduces to.

    Each head's softmax over one key is 1, so the layer's output at every position is
    out_proj(v_proj(memory)): `head_outputs` computes each head's share of it once per sentence,
    u_h = v_h @ out_proj.weight[rows of head h], [B, H, d]. Texar's (and paddle's) dropout on the attention
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
        weights = dropout(paddle.ones([heads.shape[0], length, self.num_heads], heads.dtype), self.dropout)
        out = paddle.matmul(weights, heads)
        return out if bias is None else add_bias(out, bias)


class TransformerBlock(nn.Layer):
    """Pre-LayerNorm block: causal self-attention, then (for the VAE) attention to z, then the
    feed-forward, each on a residual branch with dropout; Texar's layout, with paddle's
    MultiHeadAttention (and its incremental cache) for the self-attention."""

    def __init__(self, embed_dim: int, num_heads: int, ffn_size: int, dropout: float,
                 weight_attr: paddle.ParamAttr, with_z: bool, attn_bias: bool = True):
        super().__init__()
        self.dropout = dropout
        self.self_norm = nn.LayerNorm(embed_dim)
        self.self_attn = nn.MultiHeadAttention(embed_dim, num_heads, dropout=dropout, weight_attr=weight_attr,
                                               bias_attr=None if attn_bias else False)
        attn = self.self_attn
        for projection in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
            adopt(projection)
        self.z_attn = ZAttention(embed_dim, num_heads, dropout, weight_attr, attn_bias) if with_z else None
        self.ffn_norm = nn.LayerNorm(embed_dim)
        self.linear1 = Linear(embed_dim, ffn_size, weight_attr=weight_attr)
        self.linear2 = Linear(ffn_size, embed_dim, weight_attr=weight_attr)

    def _drop(self, x: paddle.Tensor) -> paddle.Tensor:
        return dropout(x, self.dropout, self.training)

    def forward(self, x: paddle.Tensor, mask: paddle.Tensor, z_heads: Optional[paddle.Tensor] = None,
                cache=None):
        """x [B, T, d] -> [B, T, d]; with a self-attention `cache`, also the grown cache."""
        h = self.self_norm(x)
        if cache is None:
            attended = self.self_attn(h, h, h, mask)
        else:
            attended, cache = self.self_attn(h, h, h, mask, cache)
        x = x + self._drop(attended)
        if self.z_attn is not None:
            x = x + self._drop(self.z_attn(z_heads, x.shape[1]))
        x = x + self._drop(self.linear2(self._drop(F.relu(self.linear1(self.ffn_norm(x))))))
        return x if cache is None else (x, cache)


class TransformerDecoderCell(nn.RNNCellBase):
    """One decoding step for `paddle.nn.dynamic_decode`: embedded token [B, d] -> top-block output [B, d].

    States are `[[step, (z_in)], caches]` (see `TransformerDecoder.initial_cell_states`). `latent_z` is
    accepted so the LSTM's dynamic_decode call works unchanged, and ignored: z is already in the states,
    as each block's z heads (and, with "memory+embed", as `z_in`), so beam search tiles and reorders it
    along with everything else.
    """

    def __init__(self, decoder: "TransformerDecoder"):
        super().__init__()
        self._decoder = [decoder]  # a list, so the decoder stays the only owner of the parameters

    def forward(self, inputs: paddle.Tensor, states: List, latent_z: Optional[paddle.Tensor] = None):
        dec = self._decoder[0]
        head, caches = states
        step = head[0]  # [B, 1] int64: the position of this step
        z_in = head[1].unsqueeze(1) if len(head) > 1 else None
        x = dec.block_inputs(inputs.unsqueeze(1), paddle.gather(dec.pos_table, step[:, 0]).unsqueeze(1), z_in)
        self_caches = [c[0] for c in caches] if dec.latent_size > 0 else list(caches)
        slots = paddle.arange(self_caches[0].k.shape[2], dtype="int64").unsqueeze(0)  # [1, max_steps]
        allowed = paddle.concat([paddle.cast(slots < step, x.dtype), paddle.ones_like(x[:, :, 0])], axis=1)
        mask = _additive_mask(allowed, x.dtype)[:, None, None, :]  # [B, 1, 1, max_steps + 1]: written slots + self
        here = paddle.cast(slots == step, x.dtype)[:, None, :, None]  # [B, 1, max_steps, 1]: the slot to write

        def write(old, new):  # the layer appended this step's k/v after the slots; move it into slot `step`
            return old * (1.0 - here) + new[:, :, -1:, :] * here

        new_caches = []
        for block, cache, self_cache in zip(dec.blocks, caches, self_caches):
            x, grown = block(x, mask, cache[1] if dec.latent_size > 0 else None, self_cache)
            written = nn.MultiHeadAttention.Cache(write(self_cache.k, grown.k), write(self_cache.v, grown.v))
            new_caches.append((written, cache[1]) if dec.latent_size > 0 else written)
        return dec.final_norm(x)[:, 0], [[step + 1] + list(head[1:]), new_caches]


class TransformerDecoder(nn.Layer):
    """Embedding + sinusoidal positions -> Transformer blocks (cross-attending to z when there is one)
    -> bias-free output layer; `embed_dim` is d_model. The interface is `LSTMDecoder`'s: `trg_embedder`,
    `forward_fused`, `cell`, `output_fc`.

    Weights are U(-init_scale, init_scale) as on the LSTM path (at d_model 256 that is about Xavier's
    bound for the attention weights); `init_scale=0` gives Texar's Xavier-uniform / N(0, d^-0.5) instead.
    Biases start at zero and LayerNorms at unit scale (paddle's defaults).
    """

    def __init__(self, vocab_size: int, embed_dim: int, latent_size: int, num_blocks: int = ModelConfig.num_blocks,
                 num_heads: int = ModelConfig.num_heads, ffn_size: int = ModelConfig.ffn_size,
                 dropout: float = ModelConfig.trans_dropout, init_scale: float = ModelConfig.init_scale,
                 z_path: str = ModelConfig.z_path, max_len: int = 256,
                 tie_embeddings: bool = ModelConfig.tie_embeddings, attn_bias: bool = ModelConfig.attn_bias):
        super().__init__()
        if z_path not in Z_PATHS:
            raise ValueError(f"z_path must be one of {Z_PATHS}, got {z_path!r}")
        if embed_dim % num_heads or embed_dim % 2:
            raise ValueError(f"embed_dim ({embed_dim}) must be even and divisible by num_heads ({num_heads})")
        self.vocab_size, self.embed_dim, self.latent_size = vocab_size, embed_dim, latent_size
        self.num_heads, self.dropout, self.z_path, self.max_len = num_heads, dropout, z_path, max_len
        self.trg_embedder = nn.Embedding(vocab_size, embed_dim, weight_attr=_embed_attr(init_scale, embed_dim))
        self.register_buffer("pos_table", sinusoid_table(max_len, embed_dim), persistable=False)
        if latent_size > 0:
            self.z_fc = Linear(latent_size, embed_dim, weight_attr=_weight_attr(init_scale))
        self.blocks = nn.LayerList([TransformerBlock(embed_dim, num_heads, ffn_size, dropout, _weight_attr(init_scale),
                                                     with_z=latent_size > 0, attn_bias=attn_bias)
                                    for _ in range(num_blocks)])
        self.final_norm = nn.LayerNorm(embed_dim)
        if tie_embeddings:  # Texar's: logits from the word embedding, transposed, with no bias
            self.output_fc = TiedOutput(self.trg_embedder, bias=False)
        else:
            self.output_fc = Linear(embed_dim, vocab_size, weight_attr=_weight_attr(init_scale), bias_attr=False)
        self.cell = TransformerDecoderCell(self)

    def z_memory(self, latent_z: paddle.Tensor) -> paddle.Tensor:
        """z as the blocks' one-position memory, [B, d]."""
        return self.z_fc(latent_z)

    def run_blocks(self, x: paddle.Tensor, mask: paddle.Tensor, memory: Optional[paddle.Tensor]) -> paddle.Tensor:
        for block in self.blocks:
            x = block(x, mask, None if memory is None else block.z_attn.head_outputs(memory))
        return self.final_norm(x)

    def block_inputs(self, emb: paddle.Tensor, pos: paddle.Tensor, z_in: Optional[paddle.Tensor]) -> paddle.Tensor:
        """Scaled word embeddings + positions (+ z on the "memory+embed" path), then embedding dropout."""
        x = emb * (self.embed_dim ** 0.5) + pos
        if self.z_path == "memory+embed" and z_in is not None:
            x = x + z_in
        return dropout(x, self.dropout, self.training)

    def forward_fused(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
                      latent_z: Optional[paddle.Tensor], init_states=None, return_hidden: bool = False
                      ) -> paddle.Tensor:
        """Logits at non-pad positions, [num_words, V], row-major over (batch, time) like `LSTMDecoder`'s
        (the top block's rows, [num_words, d], with `return_hidden`).

        Padding sits after each sentence, so the causal mask already keeps every word from seeing it and
        no padding mask is needed. `trg_length` and `init_states` (the Transformer has no initial state: z
        enters as memory) are accepted for the LSTM decoder's signature; `latent_z` is None for the LM.
        """
        T = trg.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds the position table's max_len {self.max_len}")
        memory = self.z_memory(latent_z) if self.latent_size > 0 else None
        z_in = None if memory is None else memory.unsqueeze(1)
        x = self.block_inputs(self.trg_embedder(trg), self.pos_table[:T].unsqueeze(0), z_in)
        t = paddle.arange(T, dtype="int64")
        causal = _additive_mask(t.unsqueeze(0) <= t.unsqueeze(1), x.dtype)  # [T, T]: key j visible to query i >= j
        out = self.run_blocks(x, causal, memory)
        hidden = paddle.gather_nd(out, paddle.nonzero(trg_mask))
        return hidden if return_hidden else self.output_fc(hidden)

    def initial_cell_states(self, z_or_batch_size: Union[paddle.Tensor, int], max_steps: Optional[int] = None
                            ) -> List:
        """The cell's states for step 0: `[[step, (z_in)], caches]`.

        Give latent_z [B, latent] for the VAE, the batch size for the LM. `step` [B, 1] int64 (zeros) comes
        first because SamplingDecoder and BeamSearchDecoder take the batch size from the first state.
        `caches` holds, per block, a `MultiHeadAttention.Cache` of `max_steps` empty slots (default max_len;
        it must cover every step dynamic_decode takes, i.e. max_step_num + 1) and, for the VAE, the block's
        z heads [B, H, d] (`ZAttention.head_outputs`). `z_in` (only with "memory+embed") is z's projection.
        """
        max_steps = self.max_len if max_steps is None else max_steps
        if max_steps > self.max_len:
            raise ValueError(f"max_steps {max_steps} exceeds the position table's max_len {self.max_len}")
        if self.latent_size > 0:
            if not isinstance(z_or_batch_size, paddle.Tensor):
                raise ValueError("the VAE's decoder starts from latent_z, not a batch size")
            memory = self.z_memory(z_or_batch_size)
            step = paddle.zeros_like(memory[:, :1], dtype="int64")
        else:
            memory, step = None, paddle.zeros([int(z_or_batch_size), 1], dtype="int64")
        head_dim = self.embed_dim // self.num_heads
        empty = paddle.zeros([step.shape[0], self.num_heads, max_steps, head_dim], dtype=self.pos_table.dtype)
        caches = []
        for block in self.blocks:
            self_cache = block.self_attn.gen_cache(empty, empty)  # gen_cache's "initial value" form: a Cache
            caches.append(self_cache if memory is None else (self_cache, block.z_attn.head_outputs(memory)))
        head = [step] + ([memory] if memory is not None and self.z_path == "memory+embed" else [])
        return [head, caches]
