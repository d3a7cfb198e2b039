"""Shared fixtures: tiny models on the bundled demo corpus, and the real PTB when present."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PTB_DIR = ROOT.parent / "shared" / "data" / "ptb"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Tiny but real: the same code paths as PTB, seconds per run.
TINY = ["--embed_dim", "16", "--hidden_size", "32", "--latent_size", "8", "--batch_size", "32",
        "--log_freq", "1000", "--device", "cpu", "--num_threads", "1"]


@pytest.fixture(autouse=True, scope="session")
def _paddlenlp_home(tmp_path_factory):
    """Keep paddlenlp's caches out of the home folder."""
    os.environ["PPNLP_HOME"] = str(tmp_path_factory.mktemp("ppnlp_home"))


@pytest.fixture(scope="session")
def ptb_dir() -> Path:
    if not (PTB_DIR / "ptb.train.txt").is_file():
        pytest.skip(f"real PTB not found at {PTB_DIR} (CI and dev machines have it at ../shared/data/ptb)")
    return PTB_DIR


def run_train(argv):
    from paddle_vae import train

    return train.main(list(argv))


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory) -> Path:
    """A tiny model trained on the demo corpus long enough to use z (about 20 s on 1 core)."""
    out = tmp_path_factory.mktemp("demo_model")
    code = run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_epoch", "12",
                             "--warm_up", "4", "--dec_dropout", "0.3", "--word_dropout", "0.4", "--log_freq", "47"])
    assert code == 0
    return out


# The demo recipe's training (one thread) is the longest item of the suite: run its file first, so that under
# run_tests.sh's two workers (pytest-xdist, --no-loadscope-reorder) the other worker takes the rest meanwhile.
RUN_FIRST = ("test_demo_recipe.py",)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in RUN_FIRST)  # stable: the order within each group stays
