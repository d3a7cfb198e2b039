"""Exit 0 when this Python can run paddle_vae: paddle, paddlenlp and EXTRA modules import, and the
installed Paddle satisfies $PADDLE_VAE_PADDLE when that is set. Used by ensure_env.sh.

    python scripts/check_env.py [module ...]
"""
import importlib
import os
import sys
import warnings


def paddle_matches(requirement: str) -> bool:
    """Whether an installed distribution satisfies a requirement such as "paddlepaddle-gpu==3.3.1"."""
    from importlib.metadata import PackageNotFoundError, version

    from pip._vendor.packaging.requirements import Requirement

    req = Requirement(requirement)
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def main(argv) -> int:
    warnings.simplefilter("ignore")  # only the exit status matters here
    # zlib before paddle: Paddle 2.6 breaks a libz that it loads first (see paddle_vae/runtime.py)
    try:
        for module in ["zlib", "paddle", "paddlenlp"] + [m for m in argv if m]:
            importlib.import_module(module)
    except Exception:  # any import failure means: set this interpreter up again
        return 1
    wanted = os.environ.get("PADDLE_VAE_PADDLE", "").strip()
    return 0 if not wanted or paddle_matches(wanted) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
