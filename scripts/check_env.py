"""Exit 0 when this Python can run paddle_vae: the installed Paddle satisfies $PADDLE_VAE_PADDLE when that is
set, the pip requirements given (EXTRA_PIP: "pytest", "pytest-xdist>=3") are installed, and paddle and
paddlenlp import. Used by ensure_env.sh.

    python scripts/check_env.py [requirement ...]
"""
import importlib
import os
import sys
import warnings


def installed_satisfies(requirement: str) -> bool:
    """Whether an installed distribution satisfies a requirement such as "paddlepaddle-gpu==3.3.1"."""
    from importlib.metadata import PackageNotFoundError, version

    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
        installed = version(req.name)
    except (InvalidRequirement, PackageNotFoundError):
        return False
    return req.specifier.contains(installed, prereleases=True)


def main(argv) -> int:
    warnings.simplefilter("ignore")  # only the exit status matters here
    # zlib before paddle: Paddle 2.6 breaks a libz that it loads first (see paddle_vae/runtime.py). The imports
    # come before the metadata checks: Paddle's import fails once pip's vendored packages are loaded.
    try:
        for module in ("zlib", "paddle", "paddlenlp"):
            importlib.import_module(module)
    except Exception:  # any import failure means: set this interpreter up again
        return 1
    wanted = os.environ.get("PADDLE_VAE_PADDLE", "").strip()
    if wanted and not installed_satisfies(wanted):
        return 1
    return 0 if all(installed_satisfies(r) for r in argv if r) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
