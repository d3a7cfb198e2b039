"""VAEGenerator API, paddle.hub entries and the run_infer modes."""
import numpy as np
import paddle
import pytest

from conftest import ROOT
from paddle_vae.generator import VAEGenerator

SENTS = ["the chef cooked a warm soup in the kitchen .", "the striker kicked the ball ."]


@pytest.fixture(scope="module")
def vae(trained_bundle):
    return VAEGenerator.from_pretrained(str(trained_bundle / "final"))


@pytest.mark.parametrize("strategy", ["sampling", "greedy", "beam"])
def test_sample_is_reproducible_with_a_seed(vae, strategy):
    a = vae.sample(num=6, strategy=strategy, beam_size=3, max_len=30, seed=4)
    b = vae.sample(num=6, strategy=strategy, beam_size=3, max_len=30, seed=4)
    assert a == b and len(a) == 6 and all(isinstance(s, str) for s in a)
    assert not any("<pad>" in s or "<bos>" in s for s in a)


def test_different_seeds_give_different_samples(vae):
    assert vae.sample(num=8, seed=1) != vae.sample(num=8, seed=2)


def test_encode_returns_posterior_means_and_maps_unknown_words_to_unk(vae):
    z = vae.encode(SENTS)
    assert z.shape == (2, vae.net.latent_size)
    np.testing.assert_allclose(vae.encode(["qqq zzz ."]), vae.encode(["<unk> <unk> ."]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [[""], ["   "], [3], "a plain string", []])
def test_empty_or_non_string_input_is_a_value_error(vae, bad):
    with pytest.raises(ValueError):
        vae.encode(bad)


def test_interpolation_endpoints_are_the_reconstructions(vae):
    path = vae.interpolate(SENTS[0], SENTS[1], steps=4, strategy="greedy")
    assert len(path) == 4
    assert [path[0], path[-1]] == vae.reconstruct(SENTS, strategy="greedy")


def test_score_is_a_per_sentence_nll_below_the_elbo(vae):
    from paddle_vae.models.loss import sentence_rec_loss

    scores = vae.score(SENTS, iw_samples=50)
    assert scores.shape == (2,) and (scores > 0).all()
    src, src_len, trg, trg_len, label = vae._batch([s.split() for s in SENTS])
    elbos = []
    with paddle.no_grad():
        for seed in range(20):
            paddle.seed(seed)
            mean, log_var = vae.net.encode(src, src_len)
            z = vae.net.reparameterize(mean, log_var)
            mask = vae.net.trg_mask(trg)
            rec = sentence_rec_loss(vae.net.decode_logits(trg, trg_len, mask, z), label, mask)
            elbos.append((rec + vae.net.kl_divergence(mean, log_var)).numpy())
    assert (scores <= np.mean(elbos, axis=0) + 0.5).all()  # IW bound is tighter, up to sampling noise


def test_save_pretrained_round_trips(vae, tmp_path):
    vae.save_pretrained(str(tmp_path / "copy"))
    again = VAEGenerator.from_pretrained(str(tmp_path / "copy"))
    assert again.sample(num=4, strategy="greedy", seed=3) == vae.sample(num=4, strategy="greedy", seed=3)


def test_hub_lists_documents_and_loads_entries(trained_bundle):
    entries = paddle.hub.list(str(ROOT), source="local")
    assert {"vae_seq2seq", "vae_ptb", "vae_yahoo"} <= set(entries)
    assert not [e for e in entries if e.startswith("_")]
    assert "checkpoint" in paddle.hub.help(str(ROOT), "vae_seq2seq", source="local")
    loaded = paddle.hub.load(str(ROOT), "vae_seq2seq", source="local", checkpoint=str(trained_bundle / "final"))
    assert type(loaded).__name__ == "VAEGenerator"
    assert len(loaded.sample(num=2, seed=1)) == 2
    untrained = paddle.hub.load(str(ROOT), "vae_yahoo", source="local", latent_size=8)
    config = untrained.net.config
    assert (config.hidden_size, config.embed_dim, config.latent_size) == (550, 512, 8)
    with pytest.raises(ValueError, match="no pretrained weights"):
        paddle.hub.load(str(ROOT), "vae_ptb", source="local", pretrained=True)


@pytest.mark.parametrize("mode, lines_in, lines_out", [
    ("sample", None, 7), ("reconstruct", SENTS, 2), ("interpolate", SENTS, 5), ("encode", SENTS, 2)])
def test_run_infer_modes_write_one_line_per_result(trained_bundle, tmp_path, mode, lines_in, lines_out):
    from paddle_vae import predict

    out = tmp_path / "out.txt"
    argv = ["--init_from_ckpt", str(trained_bundle / "final"), "--mode", mode, "--num_samples", "7",
            "--infer_output_file", str(out), "--decode_strategy", "greedy", "--num_threads", "1"]
    if lines_in:
        (tmp_path / "in.txt").write_text("\n".join(lines_in) + "\n")
        argv += ["--input_file", str(tmp_path / "in.txt")]
    assert predict.main(argv) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == lines_out
    if mode == "encode":
        assert all(len(line.split()) == 8 for line in lines)


def test_run_infer_without_input_file_fails_cleanly(trained_bundle, tmp_path, capsys):
    from paddle_vae import predict

    code = predict.main(["--init_from_ckpt", str(trained_bundle / "final"), "--mode", "reconstruct",
                         "--infer_output_file", str(tmp_path / "o.txt")])
    assert code == 2 and "needs --input_file" in capsys.readouterr().err
    assert not (tmp_path / "o.txt").exists()
