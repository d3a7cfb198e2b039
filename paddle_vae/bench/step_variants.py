"""Time the PTB training step against two variants that were tried and not adopted (README, "What was tried").

    python -m paddle_vae.bench.step_variants --data_dir ../shared/data/ptb --variant dynamic|static|multi_tensor

Each call runs one variant in its own process: 3 warm-up steps, then the mean of 20 steps on the same
shuffled PTB batches (seed 1) and the same initial weights, 2 threads by default. `static` wraps the model
and loss in `paddle.jit.to_static` with every input dimension left open (so varying sentence lengths do not
retrace); `multi_tensor` builds Adam with `use_multi_tensor=True`. The first losses are printed so that the
variants can be checked to compute the same step.
"""
import argparse
import sys
import time
from typing import List, Optional

import paddle
from paddle.static import InputSpec

from ..config import ModelConfig
from ..data.corpus import load_and_encode
from ..models.loss import CrossEntropyWithKL
from ..models.vae import VAESeq2SeqModel
from ..runtime import set_threads
from .common import MODEL

VARIANTS = ("dynamic", "static", "multi_tensor")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--data_dir", required=True, help="folder with ptb.{train,valid,test}.txt")
    p.add_argument("--variant", choices=VARIANTS, default="dynamic")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    set_threads(args.threads)
    corpus = load_and_encode(argparse.Namespace(dataset="ptb", data_dir=args.data_dir, max_len=1280, batch_size=32,
                                                seed=1))
    batches = []
    for batch in corpus.loader("train", 32, shuffle=True, seed=1):
        batches.append(batch)
        if len(batches) == args.steps + 3:
            break
    paddle.seed(1)
    net = VAESeq2SeqModel(ModelConfig(vocab_size=len(corpus.vocab), pad_id=corpus.pad_id, dec_dropout=0.5, **MODEL))
    loss_fn = CrossEntropyWithKL(0.1, 1e-4)
    opt = paddle.optimizer.Adam(1e-3, parameters=net.parameters(), grad_clip=paddle.nn.ClipGradByGlobalNorm(5.0),
                                use_multi_tensor=args.variant == "multi_tensor")

    def forward(src, src_length, trg, trg_length, label):
        return loss_fn(*net(src, src_length, trg, trg_length), label)

    if args.variant == "static":
        spec = [InputSpec([None] * len(t.shape), t.dtype) for t in batches[0]]
        forward = paddle.jit.to_static(forward, input_spec=spec, full_graph=True)
    losses = []
    for i, batch in enumerate(batches):
        if i == 3:
            start = time.perf_counter()
        loss = forward(*batch)
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    seconds = (time.perf_counter() - start) / (len(batches) - 3)
    print(f"{args.variant}: {seconds:.4f} s/step ({args.threads} threads); "
          f"first losses {', '.join(f'{x:.4f}' for x in losses[:4])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
