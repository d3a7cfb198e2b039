"""The estimators of paddle_vae.evaluation.metrics: row cap, segment-sum rec loss, MI two ways, BLEU, language models."""
import json
import math
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import ROOT
from paddle_vae.evaluation import bleu
from paddle_vae.evaluation import metrics
from paddle_vae.data.corpus import prepare_train_input
from paddle_vae.config import ModelConfig
from paddle_vae.models.loss import sentence_rec_loss
from paddle_vae.models.vae import TrainingOptions, VAESeq2SeqModel

VOCAB, PAD, BOS, EOS = 30, 0, 1, 2


def tiny_config(**fields) -> ModelConfig:
    return ModelConfig(vocab_size=VOCAB, embed_dim=8, hidden_size=16, latent_size=4, pad_id=PAD, init_scale=0.5,
                       **fields)


def tiny_vae(decoder_impl: str = "fused") -> VAESeq2SeqModel:
    paddle.seed(0)
    net = VAESeq2SeqModel(tiny_config(), TrainingOptions(decoder_impl=decoder_impl))
    net.eval()
    return net


def tiny_batch(lengths=(3, 9, 1, 6, 12, 4)):
    rng = np.random.RandomState(0)
    ids = [list(rng.randint(4, VOCAB, size=n)) for n in lengths]
    return [paddle.to_tensor(a) for a in prepare_train_input(ids, BOS, EOS, PAD)]


class RowSpy:
    """Wraps a net's teacher-forced passes (its logits, or the hidden rows the folded scorer reads) and records
    the rows of every decoder pass."""

    def __init__(self, net):
        self.rows = []
        for name in ("decode_logits", "decode_hidden"):
            setattr(net, name, self._spy(getattr(net, name)))

    def _spy(self, inner):
        def spy(*a, **kw):
            out = inner(*a, **kw)
            self.rows.append(int(np.prod(out.shape[:-1])))
            return out
        return spy


def test_row_groups_respect_the_cap_and_keep_an_oversized_item_alone():
    assert metrics.row_groups([3, 3, 3, 10, 2], 6) == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 5)]
    assert metrics.row_groups([1, 1], 100) == [slice(0, 2)]


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_iw_estimate_is_unchanged_by_the_row_cap(impl):
    net = tiny_vae(impl)
    batch = tiny_batch()
    results, spy = {}, RowSpy(net)
    for cap in (10_000, 20, 13):
        spy.rows.clear()
        paddle.seed(7)
        results[cap] = metrics.iw_log_likelihood(net, *batch, num_samples=25, max_rows=cap)
        assert max(spy.rows) <= max(cap, 13)  # 13: the longest sentence (12 words + EOS), the smallest pass
    assert len(spy.rows) > 25  # the small cap really split the work
    np.testing.assert_allclose(results[20], results[10_000], rtol=1e-5)
    np.testing.assert_allclose(results[13], results[10_000], rtol=1e-5)
    paddle.seed(8)
    other_seed = metrics.iw_log_likelihood(net, *batch, num_samples=25, max_rows=20)
    assert not np.allclose(other_seed, results[20], rtol=1e-5)  # the comparison above could fail


def test_segment_sum_rec_loss_equals_the_one_hot_version_and_the_capped_pass():
    net = tiny_vae()
    src, src_len, trg, trg_len, label = tiny_batch()
    z = paddle.randn([src.shape[0], 4])
    mask = net.trg_mask(trg)
    logits = net.decode_logits(trg, trg_len, mask, z)
    expected = sentence_rec_loss(logits, label, mask).numpy()
    np.testing.assert_allclose(metrics.rec_loss_per_sentence(logits, label, mask).numpy(), expected, rtol=1e-6)
    capped = metrics.reconstruction_nll(net, trg, trg_len, label, z, max_rows=8)
    np.testing.assert_allclose(capped, expected, rtol=1e-5)


def test_mi_batch_is_capped_by_the_block_mixture_while_whole_split_mi_is_not():
    rng = np.random.RandomState(0)
    n = 640
    means, log_vars = rng.randn(n, 4) * 100, np.full((n, 4), -4.0)  # distinct posteriors: I(x; z) = log N
    assert metrics.mutual_information(means, log_vars, rng) == pytest.approx(math.log(n), abs=0.05)
    assert metrics.mi_batch(means, log_vars, rng, 32) == pytest.approx(math.log(32), abs=0.05)
    assert metrics.mi_batch(means, log_vars, np.random.RandomState(1), n) == pytest.approx(
        metrics.mutual_information(means, log_vars, np.random.RandomState(1)))


def test_mi_batch_weights_blocks_by_size():
    rng = np.random.RandomState(0)
    means, log_vars = rng.randn(40, 2) * 100, np.full((40, 2), -4.0)
    # blocks of 32 and 8 distinct posteriors: (32 log 32 + 8 log 8) / 40
    weighted, unweighted = (32 * math.log(32) + 8 * math.log(8)) / 40, (math.log(32) + math.log(8)) / 2
    estimate = metrics.mi_batch(means, log_vars, rng, 32)  # one-sample noise: about 0.15 at n = 40
    assert abs(estimate - weighted) < 0.2 < abs(estimate - unweighted)


def test_corpus_bleu():
    refs = [[5, 6, 7, 8, 9], [10, 11, 12, 13]]
    assert bleu.corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert bleu.corpus_bleu([[20, 21, 22, 23]] * 2, refs) == pytest.approx(0.0, abs=1e-6)
    assert bleu.corpus_bleu([[], []], refs) == 0.0
    half = bleu.corpus_bleu([[5, 6, 7, 8, 9], [20, 21, 22, 23]], refs)
    assert 0.0 < half < 100.0


class StandInLM:
    """The language-model contract: is_lm, no encode, decode_logits accepts latent_z=None."""

    is_lm = True

    def __init__(self):
        self.vae = tiny_vae()
        self.vocab_size, self.training = VOCAB, False
        self.trg_mask = self.vae.trg_mask

    def decode_logits(self, trg, trg_length, trg_mask, latent_z=None):
        assert latent_z is None
        return self.vae.decode_logits(trg, trg_length, trg_mask, paddle.zeros([trg.shape[0], 4]))

    def eval(self):
        pass


def test_folding_the_bias_into_the_product_changes_no_estimate():
    from paddle_vae.models.lm import LSTMLanguageModel

    net, batch = tiny_vae(), tiny_batch()
    with paddle.no_grad():
        paddle.seed(0)
        lm = LSTMLanguageModel(tiny_config(model="lm"))
        net.decoder.output_fc.bias.set_value(paddle.randn([VOCAB]))  # a zero bias would hide a dropped one
        lm.decoder.output_fc.bias.set_value(paddle.randn([VOCAB]))
    lm.eval()
    estimates = {}
    for fold in (True, False):
        paddle.seed(7)
        estimates[fold] = (metrics.iw_log_likelihood(net, *batch, num_samples=25, max_rows=20, fold_bias=fold),
                           metrics.reconstruction_nll(lm, *batch[2:], None, fold_bias=fold))
    assert metrics.folded_scorer(net) is not None and metrics.folded_scorer(tiny_vae("cell")) is None
    for folded, unfolded in zip(estimates[True], estimates[False]):
        np.testing.assert_allclose(folded, unfolded, rtol=1e-5)


def test_a_language_model_gets_exact_nll_and_no_latent_metrics():
    lm = StandInLM()
    batches = [tiny_batch(), tiny_batch((2, 5))]
    m = metrics.evaluate_loader(lm, batches, iw_samples=50, bleu=True)
    assert m["kl"] == 0.0 and m["mi"] == 0.0 and m["mi_batch"] == 0.0 and m["au"] == 0
    assert m["nll_iw"] == m["nll_elbo"] and m["ppl_iw"] == m["ppl_elbo"]
    assert m["bleu_greedy"] is None
    assert m["nll_elbo"] > 0 and m["num_sentences"] == 8
    nll = -metrics.iw_log_likelihood(lm, *batches[0], num_samples=50)
    np.testing.assert_allclose(nll, metrics.reconstruction_nll(lm, *batches[0][2:], None), rtol=0)


def test_evaluate_imports_no_generate_and_generate_uses_the_metrics_module():
    code = "import sys, paddle_vae.evaluate; assert 'paddle_vae.generator' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    from paddle_vae import generator as generate

    assert generate.iw_log_likelihood is metrics.iw_log_likelihood


def test_progress_bar_shows_on_a_terminal_only(capsys, monkeypatch):
    from paddle_vae.evaluation.progress import wants_progress

    net, batches = tiny_vae(), [tiny_batch()]
    metrics.evaluate_loader(net, batches, iw_samples=2, progress=wants_progress())
    assert capsys.readouterr().err == ""  # captured stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert wants_progress() and not wants_progress(quiet=True)
    metrics.evaluate_loader(net, batches, iw_samples=2, progress=wants_progress())
    assert "IW K=2" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_smoke_prints_the_evaluation_and_yahoo_rows(ptb_dir, tmp_path):
    yahoo = ROOT.parent / "shared" / "data" / "yahoo_partial"
    if not (yahoo / "yahoo.valid.txt").is_file():
        pytest.skip(f"Yahoo documents not found at {yahoo}")
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "paddle_vae.bench", "--data_dir", str(ptb_dir), "--yahoo_dir",
                           str(yahoo), "--rows", "eval,yahoo", "--smoke", "--threads", "1", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "iw4_ptb_test" in proc.stdout and "50 epochs of 100,000 documents" in proc.stdout
    import json

    results = json.loads(out.read_text())
    from paddle_vae.evaluation.row_cap import LOGIT_BUDGET

    rows = results["eval"]
    row, before = rows["iw4_ptb_test"], rows["iw4_ptb_test_before"]
    assert row["num_sentences"] == 8 and row["max_rows"] == LOGIT_BUDGET // 10002 and row["mean_nll"] > 0
    assert before["max_rows"] == (1 << 25) // 10002 and before["mean_nll"] == pytest.approx(row["mean_nll"], rel=1e-4)
    assert rows["iw4_ptb_test_bias_unfolded"]["mean_nll"] == pytest.approx(row["mean_nll"], rel=1e-4)
    yahoo_eval = rows["iw4_yahoo_test"]
    assert yahoo_eval["num_sentences"] == 2 and yahoo_eval["max_rows"] == LOGIT_BUDGET // 20001
    assert results["yahoo"]["ours"]["model"]["hidden_size"] == 550 and results["yahoo_documents"] == 10_000


def test_generator_shows_a_bar_for_long_inputs_on_a_terminal_unless_told_not_to(capsys, monkeypatch):
    from paddle_vae.generator import DECODE_BATCH, untrained_generator

    vae = untrained_generator(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"], embed_dim=8, hidden_size=8,
                              latent_size=4)
    sentences = ["a b"] * (DECODE_BATCH + 1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    vae.reconstruct(sentences[:3], max_len=3)
    assert "decode" not in capsys.readouterr().err  # one internal batch: no bar
    vae.reconstruct(sentences, max_len=3)
    assert "decode" in capsys.readouterr().err
    vae.reconstruct(sentences, max_len=3, progress=False)  # what predict --quiet passes
    assert capsys.readouterr().err == ""


def test_a_resumable_pass_cut_off_and_rerun_equals_one_uninterrupted_pass(tmp_path):
    from paddle_vae.errors import UsageError
    from paddle_vae.evaluation.progress import ProgressFile

    net = tiny_vae()
    batches = [tiny_batch(), tiny_batch((2, 5)), tiny_batch((7, 3, 4)), tiny_batch((1, 8))]
    key = {"bundle": "tiny", "iw_samples": 20}
    whole = metrics.evaluate_loader(net, batches, iw_samples=20, seed=3,
                                    progress_file=ProgressFile(str(tmp_path / "whole.npz"), key, save_seconds=0))

    def cut_after_two():
        yield from batches[:2]
        raise KeyboardInterrupt

    path = str(tmp_path / "cut.npz")
    with pytest.raises(KeyboardInterrupt):
        metrics.evaluate_loader(net, cut_after_two(), iw_samples=20, seed=3,
                                progress_file=ProgressFile(path, key, save_seconds=0))
    cut = ProgressFile(path, key).load()
    assert cut.batches == 2 and cut.seconds > 0 and cut.timed_sentences == cut.num_sentences  # its pace
    resumed = metrics.evaluate_loader(net, batches, iw_samples=20, seed=3, progress_file=ProgressFile(path, key))
    for name in ("nll_elbo", "nll_iw", "kl", "mi", "mi_batch", "au", "num_sentences", "num_words"):
        assert resumed[name] == whole[name], name
    with pytest.raises(UsageError, match="another evaluation"):
        ProgressFile(path, dict(key, iw_samples=500)).load()


def test_a_progress_file_tells_the_remaining_seconds_at_the_pace_so_far(tmp_path):
    from paddle_vae.evaluation.progress import PassState, ProgressFile, eta_seconds

    path = str(tmp_path / "pass.npz")
    resumed_old_file = PassState(batches=5, num_sentences=50, seconds=60.0, timed_sentences=30, total_sentences=120)
    ProgressFile(path, {"k": 1}).save(resumed_old_file, force=True)
    assert eta_seconds(path) == pytest.approx(140.0)  # 70 sentences left at 2 s each (20 were counted untimed)
    ProgressFile(path, {"k": 1}).save(PassState(batches=3, num_sentences=30, seconds=60.0, timed_sentences=30),
                                      force=True)
    assert eta_seconds(path) is None  # no split size (a loader without a dataset): no guess
    assert eta_seconds(str(tmp_path / "absent.npz")) is None


def test_a_progress_file_lacking_a_field_is_refused_whole_and_a_cut_one_gives_no_eta(tmp_path):
    """A file without the pace keys is not a progress file of this build: refused with one line and kept as it
    is, never half-read. A file cut short (or being replaced) gives no ETA rather than an error in
    `experiments status`."""
    from paddle_vae.errors import UsageError
    from paddle_vae.evaluation.progress import COUNTS, SUMS, ProgressFile, eta_seconds

    path = tmp_path / "old.npz"
    key = {"k": 1}
    old = {"key": np.array(json.dumps(key, sort_keys=True)), **{k: np.array(1.5) for k in SUMS},
           **{k: np.array(7) for k in COUNTS}}
    np.savez(path, **old)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="not a progress file"):
        ProgressFile(str(path), key).load()
    assert path.read_bytes() == before
    assert eta_seconds(str(path)) is None
    path.write_bytes(path.read_bytes()[:40])
    assert eta_seconds(str(path)) is None
