"""`python -m paddle_vae.bench`: the benchmark's command line (see run.py); also each row's worker process."""
import sys

from ..runtime import setup_command

setup_command()  # before Paddle loads (a row's worker too): quiet known warnings, tune the CPU

from .run import main  # noqa: E402

sys.exit(main())
