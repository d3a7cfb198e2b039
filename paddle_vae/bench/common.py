"""What the bench's processes share: the PTB model's shape, step timing, peak RSS and the GEMM floor.

Nothing here imports Paddle or torch: the orchestrator, the Paddle workers and
the PyTorch row (run by an interpreter that may have no Paddle) all import it.
"""
import glob
import json
import os
import resource
import subprocess
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from ..errors import UsageError
from ..training.flags import DATASET_DEFAULTS  # the datasets' sizes are listed there once (args imports no Paddle)

SIZES = ("embed_dim", "hidden_size", "latent_size")
MODEL = {k: DATASET_DEFAULTS["ptb"][k] for k in SIZES}
BATCH_KEYS = ("src", "src_len", "trg", "trg_len", "label")  # the order a saved batch's arrays are in


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a
    worker would report at least its parent's peak (the orchestrator holds the PTB corpus)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_steps(step: Callable[[Any], Any], batches: List, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Seconds per step and tokens per second of `step` over `batches`, after `cfg["warmup"]` untimed steps (the
    first pay one-off costs); one function, so the Paddle and the PyTorch rows are timed alike."""
    for b in batches[:cfg["warmup"]]:
        step(b)
    timed = batches[cfg["warmup"]:]
    words = sum(int(b[3].sum()) for b in timed)  # trg_length: predicted tokens, EOS included
    start = time.perf_counter()
    for b in timed:
        step(b)
    seconds = (time.perf_counter() - start) / len(timed)
    return {"sec_per_step": seconds, "tokens_per_s": words / (seconds * len(timed)), "steps_timed": len(timed),
            "peak_rss_mb": peak_rss_mb()}


def torch_available(python: str) -> bool:
    return subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0


def step_flops(src_tokens: int, trg_tokens: int, vocab_size: int, embed_dim: int = 256, hidden_size: int = 256,
               latent_size: int = 32) -> Dict[str, float]:
    """Matrix-product FLOPs of one training step (forward + backward = 3 products each), real tokens only."""
    def lstm(tokens: int, inputs: int) -> int:
        return 3 * 2 * tokens * 4 * hidden_size * (inputs + hidden_size)

    return {"output_layer": 3 * 2 * trg_tokens * hidden_size * vocab_size,
            "lstms": lstm(src_tokens, embed_dim) + lstm(trg_tokens, embed_dim + latent_size)}


def gemm_gflops(threads: int, tries: int = 7, shape: Tuple[int, int, int] = (736, 256, 10002)) -> float:
    """Best of `tries` numpy GEMM rates at the output layer's shape (the machine may be shared)."""
    from threadpoolctl import threadpool_limits  # lazy: optional (scikit-learn brings it), only the floor needs it

    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(threads, user_api="blas"):
        a @ b
        for _ in range(tries):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def json_runs(pattern: str, holds: str, what: str) -> List[Dict[str, Any]]:
    """The JSON objects the glob names that hold a non-empty `holds`, each with its `path`, in path order; none
    is one UsageError line that says which kind of run (`what`) was looked for."""
    runs = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
        if isinstance(run, dict) and run.get(holds):
            runs.append(dict(run, path=path))
    if not runs:
        raise UsageError(f"no {what} matches {pattern}")
    return runs


def json_link(run: Dict[str, Any], page_dir: str) -> str:
    """A Markdown link to the run's JSON, relative to the page."""
    return f"[{os.path.basename(run['path'])}]({os.path.relpath(run['path'], page_dir).replace(os.sep, '/')})"
