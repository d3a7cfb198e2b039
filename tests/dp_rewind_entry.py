"""Launcher entry for the two-process plateau-rewind test (tests/test_train.py).

Ranks other than 0 are cut off from every bundle on disk, as on machines
without a shared filesystem: reading one raises. After training, each rank
saves its final parameters to PARAMS_DUMP_DIR so the test can compare them.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from paddle_vae import train  # noqa: E402
from paddle_vae.training import trainer  # noqa: E402

RANK = int(os.environ.get("PADDLE_TRAINER_ID", "0"))


def _no_shared_disk(*args, **kwargs):
    raise RuntimeError(f"rank {RANK} read a bundle from disk")


def _fit_and_dump(fit):
    def run(self):
        summary = fit(self)
        params = np.concatenate([p.numpy().ravel() for p in self.net.parameters()])
        np.save(os.path.join(os.environ["PARAMS_DUMP_DIR"], f"rank{RANK}.npy"), params)
        return summary
    return run


if __name__ == "__main__":
    if RANK > 0:
        trainer.read_bundle = trainer.load_weights = trainer.load_optimizer = _no_shared_disk
    train.Trainer.fit = _fit_and_dump(train.Trainer.fit)
    sys.exit(train.main())
