"""The Transformer decoder: its step cell and its teacher-forced pass are one model, and the decoders of
decoding.py driven by the cell find what the teacher-forced pass scores."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_vae.config import ModelConfig
from paddle_vae.models.decoding import BeamSearchDecoder, SamplingDecoder
from paddle_vae.models.transformer import TransformerDecoder

V, D, LATENT, PAD, BOS = 30, 16, 8, 0, 1
CONFIGS = [pytest.param(LATENT, "memory", id="vae-memory"), pytest.param(LATENT, "memory+embed", id="vae-embed"),
           pytest.param(0, "memory", id="lm")]


def tiny(latent_size: int, z_path: str) -> TransformerDecoder:
    paddle.seed(0)
    cfg = ModelConfig(vocab_size=V, embed_dim=D, decoder="transformer", num_blocks=2, num_heads=2, ffn_size=32,
                      z_path=z_path)
    dec = TransformerDecoder(cfg, latent_size, max_len=24)
    dec.eval()  # dropout off: the two paths must agree exactly
    return dec


def teacher_forced(dec, trg, lengths, mask, z):
    """Logits at the non-pad positions: the decoder's hidden rows through its output layer."""
    return dec.output_fc(dec.hidden(trg, lengths, mask, z))


def padded(rows):
    """[BOS, words..., PAD...] batch, its lengths and its mask."""
    ids = np.full([len(rows), max(map(len, rows)) + 1], PAD, "int64")
    for b, words in enumerate(rows):
        ids[b, :len(words) + 1] = [BOS] + list(words)
    trg = paddle.to_tensor(ids)
    return trg, paddle.to_tensor([len(r) + 1 for r in rows], dtype="int64"), paddle.cast(trg != PAD, "float32")


def random_rows(lengths, seed=1):
    rng = np.random.RandomState(seed)
    return [rng.randint(3, V, n).tolist() for n in lengths]


def latent(dec: TransformerDecoder, batch: int, seed: int = 2, scale: float = 1.0):
    """A z per row (None for the LM); a large `scale` makes the untrained rows decode differently."""
    if dec.latent_size == 0:
        return None
    return paddle.to_tensor(scale * np.random.RandomState(seed).randn(batch, LATENT).astype("float32"))


def start_states(dec, z, batch, max_steps):
    return dec.initial_cell_states(batch if z is None else z, max_steps)


def z_kwargs(z):
    return {} if z is None else {"latent_z": z}


@pytest.mark.parametrize("latent_size,z_path", CONFIGS)
def test_step_cell_matches_teacher_forcing_at_every_position(latent_size, z_path):
    dec = tiny(latent_size, z_path)
    trg, lengths, mask = padded(random_rows([6, 3, 1, 4]))
    z = latent(dec, trg.shape[0])
    fused = teacher_forced(dec, trg, lengths, mask, z).numpy()

    states = start_states(dec, z, trg.shape[0], trg.shape[1])
    steps = []
    for t in range(trg.shape[1]):
        out, states = dec.cell(dec.trg_embedder(trg[:, t]), states, **z_kwargs(z))
        steps.append(dec.output_fc(out).numpy())
    steps = np.stack(steps, axis=1)  # [B, T, V]
    stepped = np.concatenate([steps[b, :n] for b, n in enumerate(lengths.numpy())])
    assert fused.shape == (int(mask.sum()), V)
    np.testing.assert_allclose(stepped, fused, atol=1e-5, rtol=0)


@pytest.mark.parametrize("latent_size,z_path", CONFIGS)
def test_padding_leaves_the_words_outputs_unchanged(latent_size, z_path):
    dec = tiny(latent_size, z_path)
    rows = random_rows([7, 3, 5])
    trg, lengths, mask = padded(rows)
    z = latent(dec, len(rows))
    in_batch = teacher_forced(dec, trg, lengths, mask, z).numpy()[8:12]  # row 1's 4 positions, after row 0's 8
    trg1, lengths1, mask1 = padded(rows[1:2])
    alone = teacher_forced(dec, trg1, lengths1, mask1, None if z is None else z[1:2]).numpy()
    np.testing.assert_allclose(in_batch, alone, atol=1e-5, rtol=0)


def greedy_by_teacher_forcing(dec, z, batch, steps):
    """Argmax of the teacher-forced pass on the growing prefix: [B, steps]."""
    ids = np.full([batch, 1], BOS, "int64")
    for _ in range(steps):
        trg = paddle.to_tensor(ids)
        logits = teacher_forced(dec, trg, None, paddle.ones(trg.shape), z).numpy().reshape(batch, ids.shape[1], V)
        ids = np.concatenate([ids, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return ids[:, 1:]


def cut_at(ids, eos):
    """What a decoder that stops at `eos` emits: each row up to its first eos, then eos, and only as many
    steps as the longest row needs."""
    out, ends = ids.copy(), []
    for row in out:
        hits = np.flatnonzero(row == eos)
        ends.append(hits[0] + 1 if len(hits) else len(row))
        row[ends[-1]:] = eos
    return out[:, :max(ends)], ends


def pick_eos(ids):
    """An end token that row 0 emits early and the other rows much later (or never), so that decoding runs
    with some rows finished and others not (SamplingDecoder then steps only the unfinished rows)."""
    def first(row, tok):
        hits = np.flatnonzero(row == tok)
        return hits[0] if len(hits) else len(row)
    return max(set(ids[0, :3].tolist()), key=lambda tok: min(first(r, tok) for r in ids[1:]))


@pytest.mark.parametrize("latent_size,z_path", CONFIGS)
def test_greedy_and_width_one_beam_decode_the_teacher_forced_argmax(latent_size, z_path):
    dec, batch, steps = tiny(latent_size, z_path), 5, 10
    z = latent(dec, batch, scale=10.0)
    manual = greedy_by_teacher_forcing(dec, z, batch, steps)
    eos = pick_eos(manual)
    expected, ends = cut_at(manual, eos)
    if z is not None:  # the LM's rows all start from BOS alone, so they decode alike and finish together
        assert min(ends) <= 3 < max(ends), "the test needs rows that finish at different steps"

    greedy = SamplingDecoder(dec.cell, BOS, eos, dec.trg_embedder, dec.output_fc, greedy=True)
    ids, _ = paddle.nn.dynamic_decode(greedy, inits=start_states(dec, z, batch, steps), max_step_num=steps - 1,
                                      **z_kwargs(z))
    np.testing.assert_array_equal(ids.numpy(), expected)

    beam = BeamSearchDecoder(dec.cell, BOS, eos, 1, embedding_fn=dec.trg_embedder, output_fn=dec.output_fc)
    z_beam = None if z is None else beam.tile_beam_merge_with_batch(z, 1)
    beam_ids, _ = paddle.nn.dynamic_decode(beam, inits=start_states(dec, z, batch, steps), max_step_num=steps - 1,
                                           **z_kwargs(z_beam))
    np.testing.assert_array_equal(beam_ids.numpy()[:, :, 0], expected)


@pytest.mark.parametrize("latent_size,z_path", CONFIGS)
def test_beam_scores_are_the_teacher_forced_scores_of_the_beams(latent_size, z_path):
    """Width 3 reorders the beams (and so the caches) every step: a cache gathered from the wrong beam
    would score a sentence other than the one the beam emitted."""
    dec, batch, steps, width = tiny(latent_size, z_path), 3, 8, 3
    z = latent(dec, batch, scale=10.0)
    eos = pick_eos(greedy_by_teacher_forcing(dec, z, batch, steps))
    beam = BeamSearchDecoder(dec.cell, BOS, eos, width, embedding_fn=dec.trg_embedder, output_fn=dec.output_fc)
    z_beam = None if z is None else beam.tile_beam_merge_with_batch(z, width)
    ids, final = paddle.nn.dynamic_decode(beam, inits=start_states(dec, z, batch, steps), max_step_num=steps - 1,
                                          **z_kwargs(z_beam))
    ids, scores = ids.numpy(), final.log_probs.numpy()  # [B, T, width], [B, width]
    assert all(len({tuple(ids[b, :, k]) for k in range(width)}) == width for b in range(batch))  # beams differ
    for b in range(batch):
        for k in range(width):
            seq = ids[b, :, k].tolist()
            seq = seq[:seq.index(eos) + 1] if eos in seq else seq
            trg = paddle.to_tensor([[BOS] + seq[:-1]])
            logp = F.log_softmax(teacher_forced(dec, trg, None, paddle.ones(trg.shape),
                                                   None if z is None else z[b:b + 1]), axis=-1).numpy()
            np.testing.assert_allclose(logp[np.arange(len(seq)), seq].sum(), scores[b, k], atol=1e-4, rtol=0)


@pytest.mark.parametrize("latent_size,z_path", CONFIGS)
def test_output_layer_has_no_bias(latent_size, z_path):
    dec = tiny(latent_size, z_path)
    assert dec.output_fc.bias is None
    assert [n for n, _ in dec.named_parameters() if n.startswith("output_fc")] == ["output_fc.weight"]


def test_z_reaches_the_logits_and_the_lm_has_no_cross_attention():
    trg, lengths, mask = padded(random_rows([5, 2]))
    for z_path in ("memory", "memory+embed"):
        dec = tiny(LATENT, z_path)
        one, other = (teacher_forced(dec, trg, lengths, mask, latent(dec, 2, seed)).numpy() for seed in (2, 3))
        assert np.abs(one - other).max() > 1e-3
    assert any("z_attn" in n for n, _ in tiny(LATENT, "memory").named_parameters())
    assert not any("z_attn" in n or "z_fc" in n for n, _ in tiny(0, "memory").named_parameters())


def test_training_pass_drops_out_and_backpropagates_into_z():
    dec = tiny(LATENT, "memory")
    dec.train()
    trg, lengths, mask = padded(random_rows([5, 2]))
    z = latent(dec, 2)
    z.stop_gradient = False
    logits = teacher_forced(dec, trg, lengths, mask, z)
    assert not np.allclose(logits.numpy(), teacher_forced(dec, trg, lengths, mask, z).numpy())  # dropout is on
    logits.sum().backward()
    assert z.grad is not None and float(paddle.abs(z.grad).sum()) > 0
