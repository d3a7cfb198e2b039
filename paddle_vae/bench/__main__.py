"""`python -m paddle_vae.bench`: the benchmark's command line (see run.py); also each row's worker process."""
import sys

from .run import main

sys.exit(main())
