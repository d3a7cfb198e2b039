"""Checks for the Python API's arguments, so that a wrong one fails in the package's words, before Paddle.

Without them `sample(temperature=nan)` or a `decode` of z with the wrong width
fails inside Paddle with a trace about tensors the caller never made,
`sample(num=True)` quietly samples one sentence and a NaN z decodes to all
<pad>. A wrong value is a `UsageError`, which is a ValueError; a wrong type is
an `ArgumentTypeError`, which is a TypeError too. Both are what the command
lines print as one line.
"""
import math
from typing import Any, Optional, Sequence

import numpy as np

from .errors import UsageError

SEED_LIMIT = 2 ** 32  # numpy's RandomState takes seeds in [0, 2**32)


class ArgumentTypeError(UsageError, TypeError):
    """An argument of the wrong type."""


def integer(name: str, value: Any, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """`value` as an int in [minimum, maximum]; a bool or a float (even 3.0) is refused, as in config.json."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {type(value).__name__} {value!r:.40}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise UsageError(f"{name} must be {bounds}, got {value}")
    return int(value)


def positive_number(name: str, value: Any) -> float:
    """A finite number > 0 (an int or a float, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__} {value!r:.40}")
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def seed(value: Any) -> Optional[int]:
    """None (no reseeding) or an integer seed numpy and Paddle both take."""
    return None if value is None else integer("seed", value, 0, SEED_LIMIT - 1)


def optional_flag(name: str, value: Any) -> Optional[bool]:
    if value is not None and not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True, False or None, got {type(value).__name__} {value!r:.40}")
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r:.40}")
    return value


def latent_codes(value: Any, latent_size: int) -> np.ndarray:
    """Latent codes as a float32 [N, latent_size] array with N >= 1, every value finite."""
    z = np.asarray(value)
    if z.dtype.kind not in "iuf":  # bool, complex, str, object: not coordinates in the latent space
        raise ArgumentTypeError(f"latent_z must hold real numbers, got an array of {z.dtype}")
    z = z.astype("float32")
    if z.ndim != 2 or z.shape[1] != latent_size or z.shape[0] == 0:
        raise UsageError(f"latent_z must be [N, {latent_size}] with N >= 1 (one row per sentence), "
                         f"got shape {list(z.shape)}")
    if not np.isfinite(z).all():  # a NaN z decodes to all <pad>, silently
        raise UsageError("latent_z holds NaN or Inf values (or values too large for float32)")
    return z
