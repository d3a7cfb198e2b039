"""One seed per (run seed, counter): what makes training steps and evaluation batches replayable.

A process resumed at step (or batch) i reseeds exactly as the uninterrupted process did there, so it draws
the same dropout masks and z samples without saving Paddle's generator state.
"""


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2 ** 31 - 1)
