"""The Yahoo corpus layout (its own vocab.txt with _UNK) through a whole training run."""
import json

from conftest import FIXTURES, TINY, run_train


def test_yahoo_format_trains_end_to_end(tmp_path):
    out = tmp_path / "yahoo"
    assert run_train(TINY + ["--dataset", "yahoo", "--data_dir", str(FIXTURES / "yahoo"), "--model_path",
                             str(out), "--max_epoch", "2", "--batch_size", "4"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["test"]["num_sentences"] == 2
    vocab = (out / "final" / "vocab.txt").read_text().split("\n")
    assert vocab[3] == "_UNK"
