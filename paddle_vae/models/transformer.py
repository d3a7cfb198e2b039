"""A Transformer decoder for the text VAE and its language model: Texar's vae_text VAE-Transformer.

The recipe is asyml/texar examples/vae_text/config_trans_ptb.py, the Transformer that the text-VAE
literature compares LSTM decoders with: 3 blocks, 8 heads, model size 256, feed-forward 1024, dropout 0.2
on the embeddings, the attention weights, the residual branches and after the ReLU, and an output layer
with no bias. Like Texar's, the blocks are pre-LayerNorm with a final LayerNorm, the word embeddings are
scaled by sqrt(d_model), and positions are *sinusoidal* (Texar's SinusoidsPositionEmbedder: sin in the
first half of the channels, cos in the second), so they add no parameters.

z reaches the decoder the way Texar gives it: projected to d_model and offered as a one-position memory
that every block cross-attends to (`attention.ZAttention`). `z_path="memory+embed"` also adds z's
projection to every input embedding, a second, more direct path. With latent_size 0 (the language model)
the blocks have no z sublayer, which is all a decoder-only Transformer is.

One set of weights, two ways to run them: `hidden` teacher-forces a batch under a causal mask, and `cell`
takes one step for `paddle.nn.dynamic_decode` from each block's fixed-slot cache (`attention.SelfAttention`).
z's per-head contributions (`ZAttention.head_outputs`) are computed once per sentence and carried in the
states.
"""
import math
from typing import List, Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn import initializer as I

from ..config import Z_PATHS, ModelConfig
from .attention import KVCache, SelfAttention, ZAttention
from .layers import Linear, TiedOutput

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


class TransformerBlock(nn.Layer):
    """Pre-LayerNorm block: causal self-attention, then (for the VAE) attention to z, then the
    feed-forward, each on a residual branch with dropout; Texar's layout."""

    def __init__(self, embed_dim: int, num_heads: int, ffn_size: int, dropout: float,
                 weight_attr: paddle.ParamAttr, with_z: bool, attn_bias: bool = True):
        super().__init__()
        self.dropout = dropout
        self.self_norm = nn.LayerNorm(embed_dim)
        self.self_attn = SelfAttention(embed_dim, num_heads, dropout, weight_attr, attn_bias)
        self.z_attn = ZAttention(embed_dim, num_heads, dropout, weight_attr, attn_bias) if with_z else None
        self.ffn_norm = nn.LayerNorm(embed_dim)
        self.linear1 = Linear(embed_dim, ffn_size, weight_attr=weight_attr)
        self.linear2 = Linear(ffn_size, embed_dim, weight_attr=weight_attr)

    def _drop(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.dropout(x, self.dropout, training=self.training)

    def _after_attention(self, x: paddle.Tensor, attended: paddle.Tensor, z_heads: Optional[paddle.Tensor]
                         ) -> paddle.Tensor:
        x = x + self._drop(attended)
        if self.z_attn is not None:
            x = x + self._drop(self.z_attn(z_heads, x.shape[1]))
        return x + self._drop(self.linear2(self._drop(F.relu(self.linear1(self.ffn_norm(x))))))

    def forward(self, x: paddle.Tensor, mask: paddle.Tensor, z_heads: Optional[paddle.Tensor] = None
                ) -> paddle.Tensor:
        """x [B, T, d] -> [B, T, d] under the additive causal `mask` [T, T]."""
        return self._after_attention(x, self.self_attn(self.self_norm(x), mask), z_heads)

    def step(self, x: paddle.Tensor, step: paddle.Tensor, cache: KVCache, z_heads: Optional[paddle.Tensor]
             ) -> Tuple[paddle.Tensor, KVCache]:
        """One decoding position, x [B, 1, d]: its output and the block's cache with this position written."""
        attended, cache = self.self_attn.step(self.self_norm(x), step, cache)
        return self._after_attention(x, attended, z_heads), cache


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

    def forward(self, inputs: paddle.Tensor, states: List, latent_z: Optional[paddle.Tensor] = None
                ) -> Tuple[paddle.Tensor, List]:
        dec = self._decoder[0]
        head, caches = states
        step = head[0]  # [B, 1] int64: the position of this step
        z_in = head[1].unsqueeze(1) if len(head) > 1 else None
        x = dec.block_inputs(inputs.unsqueeze(1), paddle.gather(dec.pos_table, step[:, 0]).unsqueeze(1), z_in)
        new_caches = []
        for block, cache in zip(dec.blocks, caches):
            self_cache, z_heads = (cache[0], cache[1]) if dec.latent_size > 0 else (cache, None)
            x, self_cache = block.step(x, step, self_cache, z_heads)
            new_caches.append((self_cache, z_heads) if dec.latent_size > 0 else self_cache)
        return dec.final_norm(x)[:, 0], [[step + 1] + list(head[1:]), new_caches]


class TransformerDecoder(nn.Layer):
    """Embedding + sinusoidal positions -> Transformer blocks (cross-attending to z when there is one)
    -> bias-free output layer; `embed_dim` is d_model. The interface is `LSTMDecoder`'s: `trg_embedder`,
    `hidden`, `cell`, `output_fc`.

    Weights are U(-init_scale, init_scale) as on the LSTM path (at d_model 256 that is about Xavier's
    bound for the attention weights); `init_scale=0` gives Texar's Xavier-uniform / N(0, d^-0.5) instead.
    Biases start at zero and LayerNorms at unit scale (paddle's defaults). `latent_size` is 0 for the
    language model; `max_len` sizes the position table.
    """

    def __init__(self, cfg: ModelConfig, latent_size: int, max_len: int = 256):
        super().__init__()
        if cfg.z_path not in Z_PATHS:
            raise ValueError(f"z_path must be one of {Z_PATHS}, got {cfg.z_path!r}")
        embed_dim, num_heads = cfg.embed_dim, cfg.num_heads
        if embed_dim % num_heads or embed_dim % 2:
            raise ValueError(f"embed_dim ({embed_dim}) must be even and divisible by num_heads ({num_heads})")
        self.vocab_size, self.embed_dim, self.latent_size = cfg.vocab_size, embed_dim, latent_size
        self.num_heads, self.dropout, self.z_path, self.max_len = num_heads, cfg.trans_dropout, cfg.z_path, max_len
        weight_attr = _weight_attr(cfg.init_scale)
        self.trg_embedder = nn.Embedding(cfg.vocab_size, embed_dim, weight_attr=_embed_attr(cfg.init_scale, embed_dim))
        self.register_buffer("pos_table", sinusoid_table(max_len, embed_dim), persistable=False)
        if latent_size > 0:
            self.z_fc = Linear(latent_size, embed_dim, weight_attr=weight_attr)
        self.blocks = nn.LayerList([TransformerBlock(embed_dim, num_heads, cfg.ffn_size, cfg.trans_dropout,
                                                     weight_attr, with_z=latent_size > 0, attn_bias=cfg.attn_bias)
                                    for _ in range(cfg.num_blocks)])
        self.final_norm = nn.LayerNorm(embed_dim)
        if cfg.tie_embeddings:  # Texar's: logits from the word embedding, transposed, with no bias
            self.output_fc = TiedOutput(self.trg_embedder, bias=False)
        else:
            self.output_fc = Linear(embed_dim, cfg.vocab_size, weight_attr=weight_attr, bias_attr=False)
        self.cell = TransformerDecoderCell(self)

    def z_memory(self, latent_z: paddle.Tensor) -> paddle.Tensor:
        """z as the blocks' one-position memory, [B, d]."""
        return self.z_fc(latent_z)

    def block_inputs(self, emb: paddle.Tensor, pos: paddle.Tensor, z_in: Optional[paddle.Tensor]) -> paddle.Tensor:
        """Scaled word embeddings + positions (+ z on the "memory+embed" path), then embedding dropout."""
        x = emb * (self.embed_dim ** 0.5) + pos
        if self.z_path == "memory+embed" and z_in is not None:
            x = x + z_in
        return F.dropout(x, self.dropout, training=self.training)

    def hidden(self, trg: paddle.Tensor, trg_length: Optional[paddle.Tensor], trg_mask: paddle.Tensor,
               latent_z: Optional[paddle.Tensor], init_states: Optional[Tuple[paddle.Tensor, paddle.Tensor]] = None
               ) -> paddle.Tensor:
        """The top block's outputs at non-pad positions, [num_words, d], row-major over (batch, time) like
        `LSTMDecoder.hidden`; `output_fc` turns them into logits.

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
        allowed = paddle.cast(t.unsqueeze(0) <= t.unsqueeze(1), x.dtype)  # [T, T]: key j visible to query i >= j
        causal = (allowed - 1.0) * _NEG
        for block in self.blocks:
            x = block(x, causal, None if memory is None else block.z_attn.head_outputs(memory))
        return paddle.gather_nd(self.final_norm(x), paddle.nonzero(trg_mask))

    def initial_cell_states(self, z_or_batch_size: Union[paddle.Tensor, int], max_steps: Optional[int] = None
                            ) -> List:
        """The cell's states for step 0: `[[step, (z_in)], caches]`.

        Give latent_z [B, latent] for the VAE, the batch size for the LM. `step` [B, 1] int64 (zeros) comes
        first because SamplingDecoder and BeamSearchDecoder take the batch size from the first state.
        `caches` holds, per block, a `KVCache` of `max_steps` empty slots (default max_len; it must cover
        every step dynamic_decode takes, i.e. max_step_num + 1) and, for the VAE, the block's z heads
        [B, H, d] (`ZAttention.head_outputs`). `z_in` (only with "memory+embed") is z's projection.
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
        caches = []
        for block in self.blocks:
            empty = block.self_attn.empty_cache(step.shape[0], max_steps, self.pos_table.dtype)
            caches.append(empty if memory is None else (empty, block.z_attn.head_outputs(memory)))
        head = [step] + ([memory] if memory is not None and self.z_path == "memory+embed" else [])
        return [head, caches]
