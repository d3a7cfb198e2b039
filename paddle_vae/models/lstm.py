"""The LSTM encoder and decoder of Bowman et al. 2015, shaped and named like PaddleNLP's vae-seq2seq.

The decoder keeps one set of LSTM weights and two ways to run them: the fused `nn.LSTM` kernel for
teacher forcing (fast), and a step cell over the same parameters for `nn.RNN` (the reference's shape,
`decoder_impl="cell"`) and for `paddle.nn.dynamic_decode` at generation time.
"""
from typing import List, Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn import initializer as I

from ..config import ModelConfig
from .layers import Linear, TiedOutput


def uniform_init(init_scale: float) -> Optional[paddle.ParamAttr]:
    """The reference initialises embeddings and linear weights U(-init_scale, init_scale)."""
    return paddle.ParamAttr(initializer=I.Uniform(-init_scale, init_scale)) if init_scale > 0 else None


class LSTMEncoder(nn.Layer):
    """Embedding and LSTM over the source sentence; its summary is every layer's final (h, c)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.src_embedder = nn.Embedding(cfg.vocab_size, cfg.embed_dim, weight_attr=uniform_init(cfg.init_scale))
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.enc_dropout)
        self.dropout = nn.Dropout(cfg.enc_dropout) if cfg.enc_dropout > 0 else None

    def forward(self, src: paddle.Tensor, src_length: paddle.Tensor) -> paddle.Tensor:
        """Final (h, c) of every layer, concatenated: [B, 2 * hidden * layers]."""
        emb = self.src_embedder(src)
        if self.dropout is not None:
            emb = self.dropout(emb)
        _, (h, c) = self.lstm(emb, sequence_length=src_length)
        return paddle.concat([paddle.concat([h[i], c[i]], axis=-1) for i in range(h.shape[0])], axis=-1)


class LSTMDecoderCell(nn.RNNCellBase):
    """One decoder step over the fused LSTM's own per-layer cells: [input; z] -> layers -> output.

    The cells are the ones `nn.LSTM` already holds and shares weights with,
    so both paths read the same parameters. Dropout is applied once to each
    layer's output (the reference applied it twice to the top layer).
    """

    def __init__(self, lstm: nn.LSTM, dropout: float):
        super().__init__()
        self._lstm = [lstm]  # a list, so the parameters stay owned (and saved) by the LSTM alone
        self.dropout = dropout
        self.num_layers = lstm.num_layers
        self.hidden_size = lstm.hidden_size

    @property
    def state_shape(self) -> List[List[Tuple[int]]]:
        return [[(self.hidden_size,), (self.hidden_size,)] for _ in range(self.num_layers)]

    def forward(self, step_input: paddle.Tensor, states: List, latent_z: Optional[paddle.Tensor] = None
                ) -> Tuple[paddle.Tensor, List]:
        lstm = self._lstm[0]
        x = step_input if latent_z is None else paddle.concat([step_input, latent_z], axis=-1)
        new_states = []
        for i in range(self.num_layers):
            x, state = lstm[i].cell(x, states[i])
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, training=lstm.training)
            new_states.append(state)
        return x, new_states


class LSTMDecoder(nn.Layer):
    """Embedding, LSTM over [embedding; z] and output layer (`latent_size` 0: the language model's, no z)."""

    def __init__(self, cfg: ModelConfig, latent_size: int):
        super().__init__()
        if cfg.tie_embeddings and cfg.hidden_size != cfg.embed_dim:
            raise ValueError(f"tie_embeddings needs hidden_size ({cfg.hidden_size}) == embed_dim ({cfg.embed_dim})")
        self.trg_embedder = nn.Embedding(cfg.vocab_size, cfg.embed_dim, weight_attr=uniform_init(cfg.init_scale))
        self.lstm = nn.LSTM(cfg.embed_dim + latent_size, cfg.hidden_size, num_layers=cfg.num_layers,
                            dropout=cfg.dec_dropout)
        self.cell = LSTMDecoderCell(self.lstm, cfg.dec_dropout)
        if cfg.tie_embeddings:  # the reference's output bias is kept
            self.output_fc = TiedOutput(self.trg_embedder, bias=True)
        else:
            self.output_fc = Linear(cfg.hidden_size, cfg.vocab_size, weight_attr=uniform_init(cfg.init_scale))
        self.dropout = cfg.dec_dropout

    def embed(self, trg: paddle.Tensor) -> paddle.Tensor:
        emb = self.trg_embedder(trg)
        return F.dropout(emb, self.dropout, training=self.training) if self.dropout > 0 else emb

    def hidden(self, trg: paddle.Tensor, trg_length: paddle.Tensor, trg_mask: paddle.Tensor,
               latent_z: Optional[paddle.Tensor], init_states: Optional[Tuple[paddle.Tensor, paddle.Tensor]]
               ) -> paddle.Tensor:
        """The top layer's outputs at non-pad positions only, [num_words, hidden], in row-major (batch, time)
        order, by the fused kernel; `output_fc` turns them into logits. No z and no initial state: the LM."""
        emb = self.embed(trg)
        if latent_z is not None:
            z = paddle.expand(latent_z.unsqueeze(1), [emb.shape[0], emb.shape[1], latent_z.shape[-1]])
            emb = paddle.concat([emb, z], axis=-1)
        out, _ = self.lstm(emb, initial_states=init_states, sequence_length=trg_length)
        if self.dropout > 0:
            out = F.dropout(out, self.dropout, training=self.training)
        return paddle.gather_nd(out, paddle.nonzero(trg_mask))

    def forward_cell(self, trg: paddle.Tensor, latent_z: paddle.Tensor,
                     init_states: Tuple[paddle.Tensor, paddle.Tensor]) -> paddle.Tensor:
        """The reference's path: a per-step cell loop and logits at every padded position, [B, T, V]."""
        h, c = init_states
        states = [[h[i], c[i]] for i in range(h.shape[0])]
        out, _ = nn.RNN(self.cell)(self.embed(trg), initial_states=states, latent_z=latent_z)
        return self.output_fc(out)
