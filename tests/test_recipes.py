"""Collapse remedies: KL schedules, the like-for-like LM, free bits, AE pretraining, BN-VAE, aggressive training."""
import json

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, run_train
from paddle_vae.training.schedules import build_kl_schedule, cyclical_kl_weight_at, kl_weight_at


def read_log(path):
    return [json.loads(line) for line in open(path / "train_log.jsonl", encoding="utf-8")]


def test_default_linear_schedule_is_the_reference_anneal():
    schedule = build_kl_schedule("linear", kl_start=0.1, anneal_r=0.01, total_steps=1000)
    assert [schedule(s) for s in (0, 50, 5000)] == [kl_weight_at(s, 0.1, 0.01) for s in (0, 50, 5000)]


def test_cyclical_schedule_ramps_then_holds_in_every_cycle():
    weights = [cyclical_kl_weight_at(s, 400, 4, 0.5) for s in range(400)]
    assert weights[0] == 0.0 and weights[25] == pytest.approx(0.5) and weights[50] == 1.0 and weights[99] == 1.0
    assert weights[100] == 0.0 and weights[125] == pytest.approx(0.5)  # the second cycle starts over
    assert cyclical_kl_weight_at(400, 400, 4, 0.5) == 1.0


def test_ae_pretraining_holds_the_weight_at_zero_then_starts_the_anneal():
    schedule = build_kl_schedule("linear", kl_start=0.0, anneal_r=0.1, total_steps=100, pretrain_steps=20)
    assert schedule(0) == schedule(19) == 0.0
    assert schedule(20) == 0.0 and schedule(25) == pytest.approx(0.5) and schedule(40) == 1.0


def test_lm_bundle_evaluates_exactly_samples_and_refuses_latent_operations(tmp_path):
    from paddle_vae.data.corpus import load_and_encode
    from paddle_vae.errors import UsageError
    from paddle_vae.generator import VAEGenerator
    from paddle_vae.evaluation.metrics import evaluate_loader
    import argparse

    assert run_train(TINY + ["--dataset", "sample", "--model", "lm", "--model_path", str(tmp_path),
                             "--max_steps", "30"]) == 0
    config = json.load(open(tmp_path / "final" / "config.json"))
    assert config["model"] == "lm"
    lm = VAEGenerator.from_pretrained(str(tmp_path / "final"))
    assert not any("encoder" in name for name, _ in lm.net.named_parameters())
    corpus = load_and_encode(argparse.Namespace(dataset="sample", data_dir=None, max_len=1280, seed=1),
                             vocab=lm.vocab)
    m = evaluate_loader(lm.net, corpus.loader("test", 64), iw_samples=5)
    assert m["kl"] == 0.0 and m["nll_iw"] == m["nll_elbo"] and m["au"] == 0
    scores = lm.score(["the chef cooked a warm soup .", "the pilot will board the flight ."])
    assert scores.shape == (2,) and np.all(scores > 0)
    with pytest.raises(UsageError):
        lm.reconstruct(["the chef cooked a warm soup ."])
    samples = lm.sample(2, strategy="sampling", seed=1)  # the LM generates from its zero state
    assert len(samples) == 2 and all(isinstance(s, str) for s in samples)


def test_free_bits_log_the_true_kl_and_the_floored_objective_apart(tmp_path):
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path), "--max_steps", "20",
                             "--free_bits", "3.0", "--log_freq", "10"]) == 0
    steps = [r for r in read_log(tmp_path) if r["event"] == "step"]
    assert steps
    for r in steps:
        assert r["kl_objective"] >= 8 * 3.0 - 1e-4  # every one of the 8 dims floored at 3 nats
        assert r["kl"] < r["kl_objective"]  # the true KL of a fresh model is far below the floor


def test_sentence_free_bits_drop_each_sentences_dimensions_under_the_threshold():
    from paddle_vae.config import ModelConfig
    from paddle_vae.models.vae import TrainingOptions, VAESeq2SeqModel

    net = VAESeq2SeqModel(ModelConfig(vocab_size=30, embed_dim=8, hidden_size=16, latent_size=4),
                          TrainingOptions(free_bits=0.5, fb_mode="sentence"))
    net.train()
    mean = paddle.to_tensor([[0.0, 2.0, 0.5, 1.5], [3.0, 0.1, 0.0, 0.0]])
    log_var = paddle.zeros([2, 4])
    kl = 0.5 * mean.numpy() ** 2
    expected = np.mean(np.sum(kl * (kl > 0.5), axis=1))
    objective, true_kl = net.kl_terms(mean, log_var)
    assert float(objective) == pytest.approx(expected, rel=1e-6)
    assert float(true_kl) == pytest.approx(np.mean(np.sum(kl, axis=1)), rel=1e-6)
    net.eval()
    assert [float(t) for t in net.kl_terms(mean, log_var)] == pytest.approx([np.mean(np.sum(kl, axis=1))] * 2, rel=1e-6)


def test_bn_vae_fixes_the_scale_of_the_posterior_means_and_round_trips_through_a_bundle(tmp_path):
    from paddle_vae.generator import VAEGenerator

    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path), "--max_steps", "30",
                             "--bn_vae", "0.7"]) == 0
    vae = VAEGenerator.from_pretrained(str(tmp_path / "final"))
    assert vae.net.mean_bn is not None and vae.net.mean_bn.weight.stop_gradient  # gamma is not learnt
    assert np.allclose(vae.net.mean_bn.weight.numpy(), 0.7)
    assert np.abs(vae.net.mean_bn._mean.numpy()).max() > 0  # the running statistics came back from the bundle
    bn = vae.net.mean_bn
    bn.train()  # batch statistics: each dimension of the mean gets standard deviation gamma, whatever came in
    wide = paddle.to_tensor(np.random.RandomState(0).normal(3.0, 5.0, size=(256, 8)).astype("float32"))
    assert np.allclose(bn(wide).numpy().std(axis=0), 0.7, atol=0.01)
    bn.eval()
    sentences = [line.strip() for line in open(ROOT / "paddle_vae" / "data" / "demo_corpus" / "train.txt", encoding="utf-8")][:4]
    assert vae.encode(sentences).shape == (4, 8)


def test_ae_pretraining_resets_the_decoder_once_and_keeps_the_encoder(tmp_path):
    # the demo corpus has 94 steps per epoch: one epoch of autoencoder, then a few VAE steps
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path / "run"), "--max_epoch", "3",
                             "--max_steps", "96", "--pretrain_ae_epochs", "1", "--kl_start", "0",
                             "--log_freq", "1"]) == 0
    log = read_log(tmp_path / "run")
    assert [r["step"] for r in log if r["event"] == "decoder_reset"] == [94]
    assert all(r["kl_weight"] == 0.0 for r in log if r["event"] == "step" and r["step"] <= 94)
    assert any(r["kl_weight"] > 0.0 for r in log if r["event"] == "step" and r["step"] > 94)
    state = json.load(open(tmp_path / "run" / "final" / "train_state.json"))
    assert state["decoder_reset"] is True


def test_the_decoder_reset_reinitialises_the_decoder_and_leaves_the_encoder(tmp_path):
    """step_94 is the autoencoder just before the reset; final is one step after it. One Adam step moves a weight
    by about the learning rate (1e-3), so the encoder barely moves while a fresh decoder is far from the trained."""
    from paddle_vae.bundle import read_bundle

    run = tmp_path / "run"
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(run), "--max_epoch", "2", "--max_steps", "95",
                             "--save_steps", "94", "--pretrain_ae_epochs", "1", "--kl_start", "0"]) == 0
    before, after = (read_bundle(str(run / name))[2] for name in ("step_94", "final"))

    def max_change(prefixes):
        names = [k for k in before if k.startswith(prefixes)]
        assert names
        return max(float(np.abs(np.asarray(after[k].numpy()) - np.asarray(before[k].numpy())).max()) for k in names)

    assert max_change(("encoder.", "distributed_fc.")) < 5e-3
    assert max_change(("decoder.", "fc.")) > 5e-2


def test_a_run_resumed_after_the_decoder_reset_matches_an_uninterrupted_one(tmp_path):
    """The reset's fresh Adam names its moments `..._moment1_1`; a resumed process generates `_0`."""
    common = TINY + ["--dataset", "sample", "--max_epoch", "3", "--pretrain_ae_epochs", "1", "--kl_start", "0",
                     "--seed", "5"]
    assert run_train(common + ["--model_path", str(tmp_path / "a"), "--max_steps", "110"]) == 0
    assert run_train(common + ["--model_path", str(tmp_path / "b"), "--max_steps", "100", "--save_steps", "100"]) == 0
    assert run_train(common + ["--model_path", str(tmp_path / "b"), "--max_steps", "110",
                               "--init_from_ckpt", str(tmp_path / "b" / "step_100")]) == 0
    a, b = (json.load(open(tmp_path / r / "train_summary.json")) for r in "ab")
    assert b["steps"] == a["steps"] == 110
    assert b["last_loss"] == pytest.approx(a["last_loss"], rel=1e-5)


def test_aggressive_training_takes_inner_encoder_steps_and_measures_dev_mi(tmp_path):
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path), "--max_steps", "2",
                             "--aggressive"]) == 0
    events = [r for r in read_log(tmp_path) if r["event"] == "aggressive"]
    assert len(events) == 1 and events[0]["inner_steps"] >= 2 * 15 and events[0]["dev_mi"] > 0


def test_recipe_flags_are_validated(capsys):
    from paddle_vae import train

    assert train.main(TINY + ["--model", "lm", "--bn_vae", "0.5"]) == 2
    assert "no latent" in capsys.readouterr().err
    assert train.main(TINY + ["--pretrain_ae_epochs", "5", "--max_epoch", "5"]) == 2


def test_latent_plot_projects_the_posterior_means_of_the_test_split(trained_bundle, tmp_path):
    from paddle_vae import plot
    from paddle_vae.reports.figures import pca_2d

    out = tmp_path / "latent.png"
    assert plot.main(["--latent", str(trained_bundle / "best"), "--dataset", "sample", "--output", str(out)]) == 0
    assert out.stat().st_size > 1000
    xy, explained = pca_2d(np.array([[0.0, 0.0, 1.0], [2.0, 0.0, 1.0], [4.0, 0.1, 1.0]]))
    assert explained[0] > 0.99 and np.allclose(np.abs(xy[:, 0]), [2.0, 0.0, 2.0], atol=0.01)
    assert plot.main([]) == 2  # neither a run folder nor --latent


def test_logistic_schedule_is_sentence_vaes_sigmoid_half_way_at_x0():
    from paddle_vae.training.schedules import logistic_kl_weight_at

    assert logistic_kl_weight_at(2500, 0.0025, 2500) == 0.5
    assert logistic_kl_weight_at(0, 0.0025, 2500) == pytest.approx(1 / (1 + np.exp(6.25)))
    assert logistic_kl_weight_at(10 ** 6, 0.0025, 2500) == pytest.approx(1.0)
    assert logistic_kl_weight_at(0, 1.0, 10 ** 6) == 0.0  # far before x0: no overflow
    weights = [logistic_kl_weight_at(s, 0.01, 300) for s in range(0, 1500, 50)]
    assert weights == sorted(weights) and weights[0] < 0.05 and weights[-1] > 0.999


def test_logistic_flags_reach_the_training_loss(tmp_path):
    from paddle_vae.training.schedules import logistic_kl_weight_at

    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path / "run"), "--max_epoch", "1",
                             "--max_steps", "6", "--kl_schedule", "logistic", "--kl_logistic_k", "1",
                             "--kl_logistic_x0", "3", "--log_freq", "1", "--final_eval", "none"]) == 0
    logged = {r["step"]: r["kl_weight"] for r in read_log(tmp_path / "run") if r["event"] == "step"}
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    # the log's step N is the N-th step taken, which trained at global step N - 1
    expected = [logistic_kl_weight_at(n - 1, 1.0, 3.0) for n in range(1, 7)]
    assert [logged[n] for n in range(1, 7)] == pytest.approx(expected)


def test_a_non_positive_logistic_steepness_is_refused():
    from paddle_vae.errors import UsageError
    from paddle_vae.train import parse_args

    with pytest.raises(UsageError, match="--kl_logistic_k must be positive"):
        parse_args(["--kl_schedule", "logistic", "--kl_logistic_k", "0"])
