"""What every benchmark worker shares: the PTB model's shape, process set-up, step timing and peak RSS,
and the machine facts the report names."""
import resource
import subprocess
import time
from typing import Any, Callable, Dict, List

MODEL = dict(embed_dim=256, hidden_size=256, latent_size=32)


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


def paddle_setup(threads: int):
    from . import runtime

    runtime.configure_cpu_env()
    import paddle

    runtime.set_threads(threads)
    paddle.set_device("cpu")
    return paddle


def time_steps(step: Callable[[Any], Any], batches: List, cfg: Dict[str, Any]) -> Dict[str, Any]:
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
