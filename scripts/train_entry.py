"""Script form of `python -m paddle_vae.train`, for launchers that only run files.

paddle.distributed.launch takes a script path, not `-m module`:
    python -m paddle.distributed.launch --nproc_per_node 2 scripts/train_entry.py --dataset ptb ...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_vae.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
