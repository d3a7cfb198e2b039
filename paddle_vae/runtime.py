"""The process a command runs in: CPU tuning, the device, the seeds of replayable steps, and quiet warnings.

The library never calls any of this on import; a command calls `setup_command()` first thing, before Paddle
loads, and a library user may call `tune_cpu()` for the same speed:
- MKL_DEBUG_CPU_TYPE=5 on AMD CPUs: Paddle's bundled MKLML (2019) otherwise takes a slow generic path there
  (a 2.8x slower output projection on a 2-core AMD EPYC, docs/speed.md);
- copy kernels instead of strided views (FLAGS_use_stride_kernel off): the same numbers, faster;
- glibc keeping freed buffers of up to 32 MiB instead of unmapping them;
- Paddle's and numpy's BLAS threads (Paddle uses one unless told).
Whatever the user set (the variable, the flag, MALLOC_*, OMP_NUM_THREADS) wins.

`quiet_known_warnings` hides the known, harmless third-party warnings that bury a command's own output,
each by its text, so that every warning of ours and any new third-party one still shows (`--verbose` or
PADDLE_VAE_VERBOSE=1 keeps them all). `step_seed` gives one seed per (run seed, step): a process resumed at
step i reseeds as the uninterrupted one did, so it draws the same dropout masks and z samples.
"""
import ctypes
import os
import platform
import sys
import warnings
from typing import Optional, Sequence


_USER_THREADS = None  # OMP_NUM_THREADS as the user set it, before Paddle overwrites it


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
    """The MKL default, the copy-kernel flag and the allocator thresholds, leaving what the user set alone.

    Threads are set after Paddle's import by `set_threads` (OMP_NUM_THREADS > 1 in the environment only makes
    Paddle print a warning on import).
    """
    global _USER_THREADS
    _keep_freed_buffers()
    if "paddle" in sys.modules:  # imported first: only the kernel flag can still be set
        _copy_kernels(sys.modules["paddle"])
        return
    _USER_THREADS = os.environ.get("OMP_NUM_THREADS")
    if _is_amd_cpu() and not os.environ.get("PADDLE_VAE_NO_MKL_SETUP"):
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    _copy_kernels(None)


def _copy_kernels(paddle) -> None:
    """Paddle >= 2.6 makes transpose/slice results strided views, and every later kernel (and gradient) that
    meets one goes through a slow generic strided copy; attention transposes its heads four times per layer,
    and the Transformer step ran 1.25-1.26x slower with them (docs/speed.md, "Strided-view kernels"). Copy kernels
    compute the same numbers. The user's own FLAGS_use_stride_kernel, or PADDLE_VAE_STRIDE_KERNELS=1, keeps
    Paddle's choice."""
    if os.environ.get("PADDLE_VAE_STRIDE_KERNELS") or "FLAGS_use_stride_kernel" in os.environ:
        return
    if paddle is None:
        os.environ["FLAGS_use_stride_kernel"] = "0"  # read when Paddle loads
    else:
        try:
            paddle.set_flags({"FLAGS_use_stride_kernel": False})
        except (ValueError, AttributeError):  # a Paddle without the flag has no strided views either
            pass


MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed on 64-bit
TRIM_THRESHOLD = 1 << 30


def _keep_freed_buffers() -> None:
    """Let glibc reuse freed buffers of up to 32 MiB instead of unmapping them.

    glibc serves large allocations by mmap and unmaps them on free, so every new
    [rows, V] logits buffer is faulted in again page by page: a K=500 PTB test
    evaluation took 410M minor page faults and a fifth of its CPU time in the
    kernel. Fixed thresholds keep such buffers in the heap (evaluation.metrics
    caps a pass's logits at 32 MiB to fit). The user's MALLOC_* variables win, and
    PADDLE_VAE_NO_MALLOC_SETUP=1 leaves glibc's defaults (the bench compares both).
    """
    if (not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ
            or os.environ.get("PADDLE_VAE_NO_MALLOC_SETUP")):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, TRIM_THRESHOLD)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (e.g. musl): leave the allocator alone
        pass


def set_threads(num_threads: int = None) -> int:
    """Use `num_threads`, else the user's OMP_NUM_THREADS, else every core; returns the count used."""
    from paddle.base import core  # lazy: this module runs before Paddle is imported (see configure_cpu_env)

    user = int(_USER_THREADS) if _USER_THREADS and _USER_THREADS.isdigit() else 0
    n = num_threads or user or available_cores()
    core.set_num_threads(n)
    _limit_numpy_blas(n)
    return n


def _limit_numpy_blas(num_threads: int) -> None:
    """numpy's BLAS gets the same thread count as Paddle's kernels, so the two do not oversubscribe the cores."""
    try:
        from threadpoolctl import threadpool_limits  # optional: see the ImportError below
    except ImportError:  # scikit-learn (a paddlenlp dependency) brings it; without it BLAS keeps its default
        return
    threadpool_limits(num_threads, user_api="blas")


def set_device(device: str) -> str:
    """Select the device; `gpu` without a usable GPU falls back to CPU with a warning."""
    import paddle  # lazy: this module runs before Paddle is imported

    if device == "gpu" and not (paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        warnings.warn("--device gpu requested but Paddle sees no GPU; training on CPU instead", stacklevel=2)
        device = "cpu"
    paddle.set_device(device)
    return device


def cpu_name() -> str:
    """The CPU's name with its family and model, which tell machines of one vendor apart."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "model name" in fields:  # the name alone ("AMD EPYC") does not tell CPU generations apart
            return f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2 ** 31 - 1)


# (category, regex on the start of the message, where it comes from)
KNOWN_WARNINGS = (
    (UserWarning, r"No ccache found", "paddle.utils.cpp_extension, on import"),
    (UserWarning, r"Setuptools is replacing distutils", "setuptools' _distutils_hack, imported by paddle"),
    (DeprecationWarning, r"The distutils package is deprecated", "paddle 2.6 / paddlenlp importing distutils"),
    (DeprecationWarning, r"distutils Version classes are deprecated", "paddle 2.6 version checks"),
    (DeprecationWarning, r"pkg_resources is deprecated", "paddlenlp / visualdl on import"),
    (UserWarning, r"To copy construct from a tensor", "paddle.to_tensor on a tensor, inside paddle.Model"),
    (UserWarning, r"`next_states` has no `lengths` attribute", "paddle.nn.dynamic_decode with a plain decoder"),
    (UserWarning, r"When training, we now always track global mean", "paddle.nn.BatchNorm1D in training (BN-VAE)"),
    (UserWarning, r"The Attr\(force_cpu\) of Op\(fill_constant\) will be deprecated", "paddle 2.6 tracing export"),
    (DeprecationWarning, r"Conversion of an array with ndim > 0 to a scalar", "paddle 2.6's float() of a tensor"),
)


def wants_verbose(argv: Optional[Sequence[str]] = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get("PADDLE_VAE_VERBOSE", "") not in ("", "0")


def quiet_known_warnings(argv: Optional[Sequence[str]] = None) -> int:
    """Add an ignore filter per known warning, unless verbose; returns how many were added."""
    if wants_verbose(argv):
        return 0
    for category, message, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    return len(KNOWN_WARNINGS)


def setup_command(argv: Optional[Sequence[str]] = None) -> None:
    """What a command does first, before it imports Paddle: hide the known third-party warnings (most fire
    on import) and tune the CPU environment. A command owns its process; the library never calls this."""
    quiet_known_warnings(argv)
    configure_cpu_env()


def tune_cpu(num_threads: Optional[int] = None) -> int:
    """The commands' CPU tuning, for a library user: MKL's fast path on AMD, copy kernels instead of strided
    views, glibc keeping freed buffers, and `num_threads` threads (default: every core). Best called before
    Paddle is imported; returns the thread count."""
    configure_cpu_env()
    return set_threads(num_threads)
