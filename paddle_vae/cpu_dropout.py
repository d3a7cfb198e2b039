"""Dropout with the mask drawn by numpy for CPU tensors: the same Bernoulli(1 - p) mask, drawn faster.

Paddle's CPU dropout kernel draws one uniform number per element from a serial engine, on one thread
whatever the thread count, and numpy's PCG64 draws float32 uniforms faster. The Transformer decoder drops out
about five million activations per PTB step (the feed-forward's hidden units, three residual branches per
block, the embeddings); with Paddle's kernel its step was 1.07-1.11x slower (docs/transformer.md, the
`ours_transformer_paddle_dropout` bench row).

The mask's seed is drawn from Paddle's generator, so `paddle.seed` still fixes every mask and a run resumed
from a step bundle (which reseeds Paddle per step) draws the same ones. Off the CPU, or with
`ENABLED = False` (the bench's row with Paddle's own kernel), it is `F.dropout`.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

ENABLED = True


def dropout(x: paddle.Tensor, p: float, training: bool = True) -> paddle.Tensor:
    """`F.dropout(x, p, training)` in "upscale_in_train" mode: kept elements are scaled by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    if not ENABLED or p >= 1.0 or not x.place.is_cpu_place():
        return F.dropout(x, p, training=True)
    seed = int(paddle.randint(0, 2 ** 31 - 1, [1]).numpy()[0])
    keep = np.random.Generator(np.random.PCG64(seed)).random(x.shape, dtype=np.float32) >= p
    mask = paddle.to_tensor(keep.astype(np.float32) * np.float32(1.0 / (1.0 - p)))
    return x * (mask if mask.dtype == x.dtype else paddle.cast(mask, x.dtype))
