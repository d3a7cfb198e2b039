"""Evaluation: IW-NLL vs ELBO, the MI and AU estimators, the evaluate CLI, and the curves plot."""
import json
import math
import sys

import numpy as np
import pytest

from helpers import data_args
from paddle_vae.evaluate import main as evaluate_main
from paddle_vae.evaluation.metrics import active_units, evaluate_loader, mutual_information


def test_iw_nll_is_at_most_the_elbo(trained_bundle):
    from paddle_vae.data.corpus import load_and_encode
    from paddle_vae.generator import VAEGenerator

    vae = VAEGenerator.from_pretrained(str(trained_bundle / "final"))
    corpus = load_and_encode(data_args(), vocab=vae.vocab)
    m = evaluate_loader(vae.net, corpus.loader("test", 64), iw_samples=20)
    assert m["nll_iw"] <= m["nll_elbo"] + 0.05
    assert m["ppl_elbo"] == pytest.approx(math.exp(m["nll_elbo"] * m["num_sentences"] / m["num_words"]), rel=1e-6)
    assert m["num_words"] == corpus.num_words("test")
    assert m["nll_elbo"] == pytest.approx(m["rec"] + m["kl"], rel=1e-6)


def test_mutual_information_is_zero_without_dependence_and_log_n_when_posteriors_are_distinct():
    rng = np.random.RandomState(0)
    n = 2000
    same = mutual_information(np.zeros((n, 4)), np.zeros((n, 4)), rng)
    assert abs(same) < 0.1  # sampling noise of a 2000-sample average
    distinct = mutual_information(rng.randn(n, 4) * 100, np.full((n, 4), -4.0), rng)
    assert distinct == pytest.approx(math.log(n), abs=0.05)  # I(x;z) <= H(x) = log N


def test_active_units_counts_dimensions_whose_mean_varies():
    means = np.zeros((100, 5))
    means[:, 0] = np.linspace(-1, 1, 100)  # variance ~0.34
    means[:, 1] = np.linspace(-0.1, 0.1, 100)  # variance ~0.0034
    assert active_units(means) == 1


def test_evaluate_cli_writes_every_metric(trained_bundle, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert evaluate_main(["--init_from_ckpt", str(trained_bundle / "best"), "--dataset", "sample", "--split",
                          "test", "--iw_samples", "5", "--output_json", str(out), "--num_threads", "1"]) == 0
    metrics = json.loads(out.read_text())
    gap = metrics["nll_elbo"] - metrics["nll_iw"]
    assert f"nll_iw <= nll_elbo: {'yes' if gap >= 0 else 'NO'}" in capsys.readouterr().out
    for key in ("nll_elbo", "rec", "kl", "ppl_elbo", "nll_iw", "ppl_iw", "mi", "mi_batch", "au", "bleu_greedy",
                "num_sentences", "num_words", "seconds"):
        assert key in metrics
    assert metrics["num_sentences"] == 300
    assert 0 < metrics["mi_batch"] <= math.log(32) + 0.2 and metrics["mi_batch_size"] == 32
    assert 0.0 <= metrics["bleu_greedy"] <= 100.0


def test_evaluate_cli_skips_bleu_and_draws_no_bar_when_quiet(trained_bundle, tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.json"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a bar would be drawn
    assert evaluate_main(["--init_from_ckpt", str(trained_bundle / "best"), "--dataset", "sample", "--iw_samples",
                          "0", "--no_bleu", "--quiet", "--max_sentences", "40", "--output_json", str(out),
                          "--num_threads", "1"]) == 0
    metrics = json.loads(out.read_text())
    assert "bleu_greedy" not in metrics and "nll_iw" not in metrics and metrics["num_sentences"] == 40
    assert "ELBO" not in capsys.readouterr().err


def test_evaluate_cli_with_a_resume_file_removes_it_once_the_result_is_written(trained_bundle, tmp_path):
    out, progress = tmp_path / "m.json", tmp_path / "m.progress.npz"
    common = ["--init_from_ckpt", str(trained_bundle / "best"), "--dataset", "sample", "--iw_samples", "3",
              "--no_bleu", "--quiet", "--max_sentences", "40", "--num_threads", "1", "--output_json", str(out)]
    assert evaluate_main(common + ["--resume_file", str(progress)]) == 0
    assert out.is_file() and not progress.exists()
    assert json.loads(out.read_text())["num_sentences"] == 40


def test_generator_bleu_scores_what_evaluate_scores(trained_bundle, monkeypatch):
    from collections import Counter

    from paddle_vae.evaluation import bleu
    from paddle_vae.data.corpus import load_and_encode
    from paddle_vae.generator import VAEGenerator

    seen = []
    real_bleu = bleu.corpus_bleu
    monkeypatch.setattr(bleu, "corpus_bleu", lambda h, r: seen.append(Counter(map(tuple, zip(map(tuple, r), map(
        tuple, h))))) or real_bleu(h, r))
    vae = VAEGenerator.from_pretrained(str(trained_bundle / "best"))
    corpus = load_and_encode(data_args(), vocab=vae.vocab)
    m = evaluate_loader(vae.net, corpus.loader("test", 32), bleu=True)
    sentences = [" ".join(vae.vocab.idx_to_token[i] for i in ids) for ids in corpus.splits["test"]]
    assert vae.bleu(sentences) == pytest.approx(m["bleu_greedy"], abs=0.5)
    from_evaluate, from_generator = seen  # (input ids, greedy reconstruction ids) pairs, in any order
    assert sum(from_evaluate.values()) == len(sentences) == sum(from_generator.values())
    # the same pairs, up to a rare argmax tie flipped by a different batch shape
    assert sum((from_evaluate & from_generator).values()) >= 0.98 * len(sentences)


def test_plot_writes_curves_png(trained_bundle, tmp_path):
    from paddle_vae.plot import main as plot_main

    out = tmp_path / "curves.png"
    assert plot_main([str(trained_bundle), "--output", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_table_renders_an_evaluate_json_line_and_marks_a_language_models_k_exact(
        trained_bundle, tmp_path, monkeypatch):
    from paddle_vae.reports.eval_table import main as eval_table_main

    docs = tmp_path / "docs"
    docs.mkdir()
    assert evaluate_main(["--init_from_ckpt", str(trained_bundle / "best"), "--dataset", "sample", "--split",
                          "test", "--iw_samples", "3", "--output_json", str(docs / "vae.json"), "--num_threads",
                          "1", "--quiet"]) == 0
    m = json.loads((docs / "vae.json").read_text())
    lm = dict(m, kl=0.0, nll_iw=m["nll_elbo"], mi=0.0, mi_batch=0.0, au=0, bleu_greedy=None)
    (docs / "lm.json").write_text(json.dumps(lm))
    page = docs / "page.md"
    page.write_text("<!-- eval docs/*.json -->\nstale\n<!-- /eval -->\n")
    monkeypatch.chdir(tmp_path)
    assert eval_table_main(["docs/*.json", "--update", "docs/page.md"]) == 0
    lm_line, vae_line = [line for line in page.read_text().splitlines() if line.startswith("| [")]
    assert lm_line.startswith("| [lm.json](lm.json) | test | 300 |")
    assert f"| {lm['nll_elbo']:.2f} (exact) |" in lm_line and "| – |" in lm_line  # no BLEU for an LM
    cells = [c.strip() for c in vae_line.strip("|").split("|")]
    assert cells[:3] == ["[vae.json](vae.json)", "test", "300"]
    assert cells[3:9] == [f"{m['nll_elbo']:.2f}", f"{m['ppl_elbo']:.2f}", f"{m['nll_iw']:.2f} (3)",
                          f"{m['ppl_iw']:.2f}", f"{m['kl']:.2f}", f"{m['mi']:.2f} / {m['mi_batch']:.2f}"]
    assert cells[9:11] == [str(m["au"]), f"{m['bleu_greedy']:.2f}"]


def test_eval_table_refuses_a_json_that_is_no_evaluation_and_a_glob_that_matches_nothing(tmp_path, capsys):
    from paddle_vae.reports.eval_table import main as eval_table_main

    assert eval_table_main([str(tmp_path / "none*.json")]) == 2
    assert capsys.readouterr().err.startswith("error: no evaluation JSON matches")
    (tmp_path / "bench.json").write_text(json.dumps({"machine": "x", "train": {}}))
    assert eval_table_main([str(tmp_path / "bench.json")]) == 2
    err = capsys.readouterr().err
    assert "is not an evaluation JSON (no split, num_sentences" in err and err.count("\n") == 1


def test_every_eval_block_in_the_readme_and_docs_is_what_eval_table_generates(monkeypatch):
    import re

    from conftest import ROOT
    from paddle_vae.reports.eval_table import eval_markdown

    monkeypatch.chdir(ROOT)  # the blocks' globs are relative to the repository root
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    block = re.compile(r"<!-- eval (\S+) -->\n(.*?)\n<!-- /eval -->", re.S)
    found = [(page, m) for page in pages for m in block.finditer(page.read_text(encoding="utf-8"))]
    assert {page.name for page, _ in found} >= {"results-ptb.md", "posterior-collapse-4-epochs.md"}
    for page, match in found:
        assert match.group(2) == eval_markdown(match.group(1), str(page.parent.relative_to(ROOT)) or "."), \
            f"{page.name}: regenerate with python -m paddle_vae.reports.eval_table \"{match.group(1)}\" " \
            f"--update {page.relative_to(ROOT)}"
