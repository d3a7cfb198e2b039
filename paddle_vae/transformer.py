"""A Transformer decoder for the text VAE and its language model: Texar's vae_text VAE-Transformer.

The recipe is asyml/texar examples/vae_text/config_trans_ptb.py, the Transformer that the text-VAE
literature compares LSTM decoders with: 3 blocks, 8 heads, model size 256, feed-forward 1024, dropout 0.2
on the embeddings, the attention weights, the residual branches and after the ReLU, and an output layer
with no bias. Like Texar's, the blocks are pre-LayerNorm with a final LayerNorm, the word embeddings are
scaled by sqrt(d_model), and positions are *sinusoidal* (Texar's SinusoidsPositionEmbedder: sin in the
first half of the channels, cos in the second), so they add no parameters.

z reaches the decoder the way Texar gives it: projected to d_model and offered as a one-position memory
that every block cross-attends to. `z_path="memory+embed"` also adds that projection to every input
embedding, a second, more direct path. With latent_size 0 (the language model) there is no memory and no
cross-attention: the blocks are paddle's TransformerEncoderLayer under a causal mask, which is all a
decoder-only Transformer is.

One set of weights, two ways to run them: `forward_fused` teacher-forces a batch under a causal mask, and
`cell` takes one step for `paddle.nn.dynamic_decode` from paddle's incremental attention caches. The
self-attention cache has a fixed number of slots (`max_steps`) instead of growing by one position per step
as `gen_cache`'s empty cache does, because model.py's SamplingDecoder runs only the unfinished rows and
scatters their new states back into the whole batch's, which needs every state tensor to keep its shape
from step to step. Each step the layer attends over the written slots plus the new position (unwritten
slots masked out), and the new position's keys and values are then written into slot `step`. The
cross-attention to z is a `StaticCache`, projected once per sentence.
"""
import math
from typing import List, Optional, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn import initializer as I

Z_PATHS = ("memory", "memory+embed")
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


class TransformerDecoderCell(nn.RNNCellBase):
    """One decoding step for `paddle.nn.dynamic_decode`: embedded token [B, d] -> top-block output [B, d].

    States are `[[step, (z_in)], caches]` (see `TransformerDecoder.initial_cell_states`). `latent_z` is
    accepted so the LSTM's dynamic_decode call works unchanged, and ignored: z is already in the states,
    as the cross-attention's StaticCache (and, with "memory+embed", as `z_in`), so beam search tiles and
    reorders it along with everything else.
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
        if dec.latent_size > 0:  # z's keys/values come from the StaticCache: the layer reads only the dtype of `memory`
            out, grown = dec.blocks(x, x, tgt_mask=mask, cache=caches)
            grown_self = [g[0] for g in grown]
        else:
            out, grown_self = dec.blocks(x, mask, cache=caches)
        here = paddle.cast(slots == step, x.dtype)[:, None, :, None]  # [B, 1, max_steps, 1]: the slot to write

        def write(old, new):  # the layer appended this step's k/v after the slots; move it into slot `step`
            return old * (1.0 - here) + new[:, :, -1:, :] * here

        new_self = [nn.MultiHeadAttention.Cache(write(o.k, n.k), write(o.v, n.v))
                    for o, n in zip(self_caches, grown_self)]
        new_caches = [(s, c[1]) for s, c in zip(new_self, caches)] if dec.latent_size > 0 else new_self
        return out[:, 0], [[step + 1] + list(head[1:]), new_caches]


class TransformerDecoder(nn.Layer):
    """Embedding + sinusoidal positions -> Transformer blocks (cross-attending to z when there is one)
    -> bias-free output layer; `embed_dim` is d_model. The interface is `LSTMDecoder`'s: `trg_embedder`,
    `forward_fused`, `cell`, `output_fc`.

    Weights are U(-init_scale, init_scale) as on the LSTM path (at d_model 256 that is about Xavier's
    bound for the attention weights); `init_scale=0` gives Texar's Xavier-uniform / N(0, d^-0.5) instead.
    Biases start at zero and LayerNorms at unit scale (paddle's defaults).
    """

    def __init__(self, vocab_size: int, embed_dim: int, latent_size: int, num_blocks: int = 3, num_heads: int = 8,
                 ffn_size: int = 1024, dropout: float = 0.2, init_scale: float = 0.1, z_path: str = "memory",
                 max_len: int = 256):
        super().__init__()
        if z_path not in Z_PATHS:
            raise ValueError(f"z_path must be one of {Z_PATHS}, got {z_path!r}")
        if embed_dim % num_heads or embed_dim % 2:
            raise ValueError(f"embed_dim ({embed_dim}) must be even and divisible by num_heads ({num_heads})")
        self.vocab_size, self.embed_dim, self.latent_size = vocab_size, embed_dim, latent_size
        self.num_heads, self.dropout, self.z_path, self.max_len = num_heads, dropout, z_path, max_len
        self.trg_embedder = nn.Embedding(vocab_size, embed_dim, weight_attr=_embed_attr(init_scale, embed_dim))
        self.register_buffer("pos_table", sinusoid_table(max_len, embed_dim), persistable=False)
        block = dict(d_model=embed_dim, nhead=num_heads, dim_feedforward=ffn_size, dropout=dropout,
                     normalize_before=True, weight_attr=_weight_attr(init_scale))
        if latent_size > 0:
            self.z_fc = nn.Linear(latent_size, embed_dim, weight_attr=_weight_attr(init_scale))
            self.blocks = nn.TransformerDecoder(nn.TransformerDecoderLayer(**block), num_blocks,
                                                nn.LayerNorm(embed_dim))
        else:  # the language model: causal self-attention only
            self.blocks = nn.TransformerEncoder(nn.TransformerEncoderLayer(**block), num_blocks,
                                                nn.LayerNorm(embed_dim))
        self.output_fc = nn.Linear(embed_dim, vocab_size, weight_attr=_weight_attr(init_scale), bias_attr=False)
        self.cell = TransformerDecoderCell(self)

    def z_memory(self, latent_z: paddle.Tensor) -> paddle.Tensor:
        """z as the blocks' one-position memory, [B, 1, d]."""
        return self.z_fc(latent_z).unsqueeze(1)

    def block_inputs(self, emb: paddle.Tensor, pos: paddle.Tensor, z_in: Optional[paddle.Tensor]) -> paddle.Tensor:
        """Scaled word embeddings + positions (+ z on the "memory+embed" path), then embedding dropout."""
        x = emb * (self.embed_dim ** 0.5) + pos
        if self.z_path == "memory+embed" and z_in is not None:
            x = x + z_in
        return F.dropout(x, self.dropout, training=self.training) if self.dropout > 0 else x

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
        x = self.block_inputs(self.trg_embedder(trg), self.pos_table[:T].unsqueeze(0), memory)
        t = paddle.arange(T, dtype="int64")
        causal = _additive_mask(t.unsqueeze(0) <= t.unsqueeze(1), x.dtype)  # [T, T]: key j visible to query i >= j
        out = self.blocks(x, memory, tgt_mask=causal) if memory is not None else self.blocks(x, causal)
        hidden = paddle.gather_nd(out, paddle.nonzero(trg_mask))
        return hidden if return_hidden else self.output_fc(hidden)

    def initial_cell_states(self, z_or_batch_size: Union[paddle.Tensor, int], max_steps: Optional[int] = None
                            ) -> List:
        """The cell's states for step 0: `[[step, (z_in)], caches]`.

        Give latent_z [B, latent] for the VAE, the batch size for the LM. `step` [B, 1] int64 (zeros) comes
        first because SamplingDecoder and BeamSearchDecoder take the batch size from the first state.
        `caches` holds, per block, a `MultiHeadAttention.Cache` of `max_steps` empty slots (default max_len;
        it must cover every step dynamic_decode takes, i.e. max_step_num + 1) and, for the VAE, the
        `StaticCache` of z's keys and values. `z_in` (only with "memory+embed") is z's projection.
        """
        max_steps = self.max_len if max_steps is None else max_steps
        if max_steps > self.max_len:
            raise ValueError(f"max_steps {max_steps} exceeds the position table's max_len {self.max_len}")
        if self.latent_size > 0:
            if not isinstance(z_or_batch_size, paddle.Tensor):
                raise ValueError("the VAE's decoder starts from latent_z, not a batch size")
            memory = self.z_memory(z_or_batch_size)
            step = paddle.zeros_like(memory[:, 0, :1], dtype="int64")
        else:
            memory, step = None, paddle.zeros([int(z_or_batch_size), 1], dtype="int64")
        head_dim = self.embed_dim // self.num_heads
        empty = paddle.zeros([step.shape[0], self.num_heads, max_steps, head_dim], dtype=self.pos_table.dtype)
        caches = []
        for layer in self.blocks.layers:
            self_cache = layer.self_attn.gen_cache(empty, empty)  # gen_cache's "initial value" form: a Cache
            if memory is not None:
                self_cache = (self_cache, layer.cross_attn.gen_cache(memory, memory, type=layer.cross_attn.StaticCache))
            caches.append(self_cache)
        head = [step] + ([memory[:, 0]] if memory is not None and self.z_path == "memory+embed" else [])
        return [head, caches]
