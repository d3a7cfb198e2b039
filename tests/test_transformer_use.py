"""The Transformer decoder through the whole package on the demo corpus: training (VAE, LM, remedies), exact
resume, bundles that rebuild themselves, VAEGenerator and hub, evaluation, and export's refusal."""

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, run_train
from helpers import latent, read_log
from paddle_vae import export
from paddle_vae.bundle import read_bundle
from paddle_vae.generator import VAEGenerator
from paddle_vae.evaluation.metrics import evaluate_loader

TRANSFORMER = ["--decoder", "transformer", "--embed_dim", "16", "--num_heads", "2", "--ffn_size", "32",
               "--num_blocks", "1"]
SHORT = TINY + TRANSFORMER + ["--dataset", "sample", "--final_eval", "none"]


@pytest.fixture(scope="module")
def transformer_vae(tmp_path_factory):
    out = tmp_path_factory.mktemp("tvae") / "m"
    assert run_train(SHORT + ["--model_path", str(out), "--max_epoch", "2", "--bn_vae", "0.7",
                              "--word_dropout", "0.2"]) == 0
    return out


def test_the_bundle_records_and_rebuilds_the_transformer(transformer_vae):
    config = read_bundle(str(transformer_vae / "best"))[0]
    assert (config["decoder"], config["num_blocks"], config["num_heads"], config["ffn_size"],
            config["trans_dropout"], config["z_path"]) == ("transformer", 1, 2, 32, 0.2, "memory")
    vae = VAEGenerator.from_pretrained(str(transformer_vae / "best"))
    assert type(vae.net.decoder).__name__ == "TransformerDecoder" and vae.net.decoder.output_fc.bias is None
    hub = paddle.hub.load(str(ROOT), "vae_seq2seq", source="local", checkpoint=str(transformer_vae / "best"))
    z = latent(3, 8)
    assert hub.decode(z, strategy="greedy") == vae.decode(z, strategy="greedy")


def test_sampling_greedy_beam_and_reconstruction_work(transformer_vae):
    vae = VAEGenerator.from_pretrained(str(transformer_vae / "best"))
    for strategy in ("sampling", "greedy", "beam"):
        out = vae.sample(num=4, strategy=strategy, beam_size=3, seed=1, max_len=30)
        assert len(out) == 4 and all(isinstance(s, str) for s in out)
    sentences = [line.strip() for line in open(ROOT / "paddle_vae" / "data" / "demo_corpus" / "test.txt")][:5]
    assert len(vae.reconstruct(sentences, strategy="greedy")) == 5
    assert len(vae.interpolate(sentences[0], sentences[1], steps=3)) == 3


def test_evaluation_gives_iw_mi_au_and_bleu(transformer_vae):
    vae = VAEGenerator.from_pretrained(str(transformer_vae / "best"))
    from paddle_vae.data.corpus import Corpus, load_corpus
    from argparse import Namespace

    splits, _ = load_corpus(Namespace(dataset="sample", data_dir=None, tokenizer=None, lowercase=False,
                                      max_len=1280))
    corpus = Corpus({"test": [vae.vocab.to_indices(s) for s in splits["test"][:48]]}, vae.vocab)
    metrics = evaluate_loader(vae.net, corpus.loader("test", 16), iw_samples=4, seed=1, bleu=True)
    assert metrics["kl"] > 0.1 and metrics["au"] >= 1 and metrics["bleu_greedy"] >= 0
    assert metrics["nll_iw"] <= metrics["nll_elbo"] + 0.5 and np.isfinite(metrics["mi"])


def test_a_resumed_transformer_run_equals_the_uninterrupted_one(tmp_path):
    flags = SHORT + ["--max_steps", "20", "--log_freq", "1", "--free_bits", "0.25"]
    assert run_train(flags + ["--model_path", str(tmp_path / "a")]) == 0
    assert run_train(flags + ["--model_path", str(tmp_path / "b"), "--max_steps", "9", "--save_steps", "9"]) == 0
    assert run_train(flags + ["--model_path", str(tmp_path / "b"), "--init_from_ckpt", str(tmp_path / "b" / "step_9")]) == 0

    def losses(run):
        return [r["loss"] for r in read_log(run) if r["event"] == "step"]
    assert losses(tmp_path / "b") == pytest.approx(losses(tmp_path / "a"), rel=1e-5)


def test_the_transformer_language_model_trains_and_scores(tmp_path):
    assert run_train(SHORT + ["--model", "lm", "--model_path", str(tmp_path / "lm"), "--max_steps", "10"]) == 0
    lm = VAEGenerator.from_pretrained(str(tmp_path / "lm" / "final"))
    assert getattr(lm.net, "is_lm", False) and not hasattr(lm.net.decoder, "z_fc")
    assert np.all(np.isfinite(lm.score(["the student will report the net ."])))


def test_export_of_a_transformer_bundle_is_a_one_line_refusal(transformer_vae, tmp_path, capsys):
    assert export.main(["--init_from_ckpt", str(transformer_vae / "best"), "--output_dir", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LSTM decoder only" in err[0] and not (tmp_path / "e").exists()


@pytest.mark.parametrize("bad", [["--pretrain_ae_epochs", "1", "--max_epoch", "2"], ["--decoder_impl", "cell"],
                                 ["--num_heads", "3"]])
def test_unsupported_transformer_flags_are_refused(bad, tmp_path, capsys):
    assert run_train(SHORT + bad + ["--model_path", str(tmp_path / "m")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("remedy", [["--kl_schedule", "cyclical", "--max_epoch", "1"],
                                    ["--aggressive", "--max_steps", "2"],  # 2 steps: each takes up to 100 inner ones
                                    ["--lr_decay", "plateau", "--decay_patience", "1", "--max_epoch", "2"]])
def test_the_other_remedies_train_with_the_transformer(remedy, tmp_path):
    assert run_train(SHORT + remedy + ["--model_path", str(tmp_path / "m")]) == 0
    log = read_log(tmp_path / "m")
    assert any(r["event"] == "epoch" and np.isfinite(r["dev_nll"]) for r in log)
    if "--aggressive" in remedy:
        assert any(r["event"] == "aggressive" for r in log)
