"""A quiet start: hide the known, harmless third-party warnings that bury the package's own output.

Installed by `paddle_vae/__init__.py` before anything imports Paddle (most of
these fire on import). Only the messages listed here are hidden, each by its
text, so every warning of the package's own, and any new third-party one,
still shows. `--verbose` on any command line (or PADDLE_VAE_VERBOSE=1) keeps
them all.
"""
import os
import sys
import warnings
from typing import Optional, Sequence

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
)


def wants_verbose(argv: Optional[Sequence[str]] = None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get("PADDLE_VAE_VERBOSE", "") not in ("", "0")


def install(argv: Optional[Sequence[str]] = None) -> int:
    """Add an ignore filter per known warning, unless verbose; returns how many were added."""
    if wants_verbose(argv):
        return 0
    for category, message, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    return len(KNOWN_WARNINGS)
