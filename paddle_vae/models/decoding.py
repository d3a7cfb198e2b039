"""Decoders for `paddle.nn.dynamic_decode`: greedy / ancestral sampling, and beam search.

Both take any step cell (the LSTM's or the Transformer's) with its embedding and output functions.
`Generates` is what the VAE's and the language model's generation networks share on top of them.
"""
from typing import List, Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.decode import Decoder

from ..config import ModelConfig


class SamplingDecoder(Decoder):
    """Greedy or ancestral-sampling decoding for `paddle.nn.dynamic_decode`.

    Samples straight from the logits (no one-hot round trip) and stops once
    every sentence has emitted EOS. In dygraph it also runs the cell and the
    vocabulary projection only on the sentences still going (finished rows are
    gathered out and their outputs held at EOS): sentences end after ~20 PTB
    tokens while a large batch runs to its longest, so this saves most of the work.
    """

    def __init__(self, cell, start_token: int, end_token: int, embedding_fn, output_fn, greedy: bool,
                 temperature: float = 1.0):
        super().__init__()
        self.cell, self.start_token, self.end_token = cell, start_token, end_token
        self.embedding_fn, self.output_fn = embedding_fn, output_fn
        self.greedy, self.temperature = greedy, temperature
        self.compact = paddle.in_dynamic_mode()  # a traced program (export) keeps the full batch

    @property
    def tracks_own_finished(self) -> bool:
        return self.compact

    def initialize(self, initial_cell_states: List
                   ) -> Tuple[paddle.Tensor, Union[List, Tuple[List, paddle.Tensor]], paddle.Tensor]:
        # Sized from a tensor, not `.shape[0]`, which is -1 when traced for export.
        start = paddle.full_like(initial_cell_states[0][0][:, 0], self.start_token, dtype="int64")
        finished = paddle.zeros_like(start, dtype="bool")
        states = (initial_cell_states, finished) if self.compact else initial_cell_states
        return self.embedding_fn(start), states, finished

    def _next_ids(self, inputs, states, **kwargs):
        cell_outputs, next_states = self.cell(inputs, states, **kwargs)
        logits = self.output_fn(cell_outputs)
        if self.greedy:
            return paddle.argmax(logits, axis=-1), next_states
        probs = F.softmax(logits if self.temperature == 1.0 else logits / self.temperature, axis=-1)
        return paddle.multinomial(probs, num_samples=1).squeeze(-1), next_states

    def step(self, time: paddle.Tensor, inputs: paddle.Tensor, states: Union[List, Tuple[List, paddle.Tensor]],
             **kwargs: paddle.Tensor
             ) -> Tuple[paddle.Tensor, Union[List, Tuple[List, paddle.Tensor]], paddle.Tensor, paddle.Tensor]:
        """One step for `dynamic_decode`: ids, states, next inputs, finished. In dygraph only the unfinished
        sentences run through the cell and the output layer; finished ones are held at EOS."""
        if not self.compact:
            ids, next_states = self._next_ids(inputs, states, **kwargs)
            return ids, next_states, self.embedding_fn(ids), ids == self.end_token
        cell_states, finished = states
        active = paddle.nonzero(paddle.logical_not(finished)).squeeze(-1)
        pick = lambda x: paddle.gather(x, active)  # noqa: E731
        active_ids, active_states = self._next_ids(pick(inputs), paddle.utils.map_structure(pick, cell_states),
                                                   **{k: pick(v) for k, v in kwargs.items()})
        ids = paddle.scatter(paddle.full_like(finished, self.end_token, dtype="int64"), active, active_ids)
        next_states = paddle.utils.map_structure(lambda full, part: paddle.scatter(full, active, part),
                                                 cell_states, active_states)
        next_finished = paddle.logical_or(finished, ids == self.end_token)
        return ids, (next_states, next_finished), self.embedding_fn(ids), next_finished


class BeamSearchDecoder(nn.BeamSearchDecoder):
    """Paddle's beam search with batch/beam reshapes that also export on Paddle 3.x.

    The stock `_merge_batch_beams` reshapes with two -1-ish dims, which
    `paddle.jit.save` rejects on 3.3; flatten/unflatten say the same thing.
    """

    def _merge_batch_beams(self, x):
        return paddle.flatten(x, 0, 1)

    def _split_batch_beams(self, x):
        return paddle.reshape(x, [-1, self.beam_size] + list(x.shape[1:]))


STRATEGIES = ("sampling", "greedy", "beam")


class Generates:
    """The decoding half of a generation network (the VAE's from z, the LM's from nothing): its settings,
    <pad> and <bos> ruled out at every step, and the `dynamic_decode` call over `self.decoder`'s step cell."""

    def init_generation(self, cfg: ModelConfig, beam_size: int, max_out_len: int, decode_strategy: str,
                        temperature: float) -> None:
        """Decoding from <bos> (`cfg.bos_id`) to <eos> (`cfg.eos_id`) with the given strategy and limits."""
        if decode_strategy not in STRATEGIES:
            raise ValueError(f"decode_strategy must be sampling, greedy or beam, got {decode_strategy!r}")
        self.start_token, self.end_token = cfg.bos_id, cfg.eos_id
        self.beam_size, self.max_out_len = beam_size, max_out_len
        self.decode_strategy, self.temperature = decode_strategy, temperature
        forbidden = paddle.zeros([cfg.vocab_size])
        forbidden[cfg.pad_id] = -1e9
        forbidden[cfg.bos_id] = -1e9
        self.register_buffer("forbidden_logits", forbidden, persistable=False)

    def output_logits(self, cell_outputs: paddle.Tensor) -> paddle.Tensor:
        """Vocabulary logits with <pad> and <bos> ruled out: neither is ever a word to emit."""
        fc = self.decoder.output_fc  # folded into the bias: one [V] add per step instead of one per row
        bias = self.forbidden_logits if fc.bias is None else fc.bias + self.forbidden_logits
        return F.linear(cell_outputs, fc.weight, bias)

    def generate(self, states: List, latent_z: Optional[paddle.Tensor] = None) -> paddle.Tensor:
        """ids [B, T] decoded from the cell's initial states (the best beam for beam search); `latent_z`
        reaches every step where there is one."""
        dec, beam = self.decoder, self.decode_strategy == "beam"
        if beam:
            decoder = BeamSearchDecoder(dec.cell, self.start_token, self.end_token, self.beam_size,
                                        embedding_fn=dec.trg_embedder, output_fn=self.output_logits)
            if latent_z is not None:
                latent_z = decoder.tile_beam_merge_with_batch(latent_z, self.beam_size)
        else:
            decoder = SamplingDecoder(dec.cell, self.start_token, self.end_token, dec.trg_embedder,
                                      self.output_logits, greedy=self.decode_strategy == "greedy",
                                      temperature=self.temperature)
        z = {} if latent_z is None else {"latent_z": latent_z}  # the LM's cell takes no z at all
        outputs, _ = nn.dynamic_decode(decoder, inits=states, max_step_num=self.max_out_len - 1, **z)
        return outputs[:, :, 0] if beam else outputs
