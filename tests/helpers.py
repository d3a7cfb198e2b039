"""Helpers several test files share (fixtures stay in conftest.py): what a run folder logged, the data flags a
loader reads, tiny VAEs, latent vectors and tiny experiment tables."""
import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from conftest import TINY

# TINY without its thread count: an experiment table's runner sets the threads of each row itself.
TINY_TABLE_FLAGS = [f for f in TINY if f not in ("--num_threads", "1")]


def read_log(run_dir: Path) -> List[Dict[str, Any]]:
    """The records of a run folder's train_log.jsonl, in order."""
    return [json.loads(line) for line in (Path(run_dir) / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]


def data_args(**flags: Any) -> argparse.Namespace:
    """The flags `data.corpus.load_and_encode` reads, at their defaults for the demo corpus, with `flags` over them."""
    base = dict(dataset="sample", data_dir=None, max_len=1280, batch_size=4, seed=1, max_vocab=None, min_freq=1,
                lowercase=False, tokenizer=None)
    return argparse.Namespace(**{**base, **flags})


def latent(rows: int, size: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """`rows` latent vectors drawn from N(0, scale²), float32, the same for the same seed."""
    return (scale * np.random.RandomState(seed).standard_normal((rows, size))).astype("float32")


def tiny_vae(seed: int = 0, decoder_impl: str = "fused", **config: Any):
    """An untrained VAE with a few units per layer (vocabulary 30 unless `config` says otherwise), seeded."""
    import paddle

    from paddle_vae.config import ModelConfig
    from paddle_vae.models.vae import TrainingOptions, VAESeq2SeqModel

    paddle.seed(seed)
    fields = {"vocab_size": 30, "embed_dim": 8, "hidden_size": 16, "latent_size": 4, **config}
    return VAESeq2SeqModel(ModelConfig(**fields), TrainingOptions(decoder_impl=decoder_impl))


def write_table(path: Path, rows: List[Dict[str, Any]], train_flags: List[str],
                eval_plan: Optional[Dict[str, Any]] = None, **fields: Any) -> Path:
    """An experiment table file over the demo corpus: TINY models, `train_flags` after them, step bundles every
    20 steps; `fields` (goals, examples, ...) go into the file as they are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"dataset": "sample", "train_flags": TINY_TABLE_FLAGS + list(train_flags), "save_steps": 20,
            "eval": eval_plan or {}, "rows": rows, **fields}
    path.write_text(json.dumps(spec))
    return path


def demo_bundle(out: Path, *flags: str) -> Path:
    """A tiny model trained for two epochs of the demo corpus (a few seconds on one core), `flags` after TINY's;
    its best bundle, inside the run folder `out` (which holds its train_summary.json)."""
    from conftest import run_train

    assert run_train(TINY + ["--dataset", "sample", "--max_epoch", "2", "--model_path", str(out), *flags]) == 0
    return Path(out) / "best"
