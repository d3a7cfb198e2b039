"""Process set-up that has to happen before Paddle's first BLAS call.

Paddle pins OMP_NUM_THREADS=1 on import when it is unset, and its bundled
MKLML (2019) takes a slow generic code path on AMD CPUs unless
MKL_DEBUG_CPU_TYPE=5 is set before the first matrix product; on the 2-core
AMD EPYC dev machine that alone is a 2.8x faster output projection
(see README, "Speed").
"""
import os
import sys
import warnings


def _is_amd_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            return "AuthenticAMD" in f.read(4096)
    except OSError:
        return False


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


def configure_cpu_env() -> None:
    """Set thread and MKL defaults in the environment, leaving anything the user set alone."""
    if "paddle" in sys.modules:
        return  # too late for the environment; set_threads() still applies the thread count
    os.environ.setdefault("OMP_NUM_THREADS", str(available_cores()))
    if _is_amd_cpu():
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")


def set_threads(num_threads: int = None) -> int:
    """Use every core (or `num_threads`) for Paddle's CPU kernels; returns the count used."""
    from paddle.base import core

    n = num_threads or int(os.environ.get("PADDLE_VAE_THREADS", 0)) or available_cores()
    core.set_num_threads(n)
    return n


def set_device(device: str) -> str:
    """Select the device; `gpu` without a usable GPU falls back to CPU with a warning."""
    import paddle

    if device == "gpu" and not (paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        warnings.warn("--device gpu requested but Paddle sees no GPU; training on CPU instead", stacklevel=2)
        device = "cpu"
    paddle.set_device(device)
    return device
