"""`python -m paddle_vae.train`: the training command line over `trainer.Trainer`.

    python -m paddle_vae.train --dataset ptb --data_dir ../shared/data/ptb --max_epoch 50

Writes MODEL_PATH/{final,best}/ bundles, MODEL_PATH/train_log.jsonl (per log
step and per epoch) and MODEL_PATH/train_summary.json.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import json
import logging
import sys
from typing import List, Optional

import numpy as np
import paddle

from . import runtime
from .training.flags import add_recipe_flags, build_parser, parse_args, validate_recipe
from .errors import UsageError, cli_entry
from .training.run_dir import claim
from .training.trainer import FINAL_EVAL_SPLITS, Trainer

__all__ = ["Trainer", "add_train_flags", "main", "setup_logging"]
logger = logging.getLogger("paddle_vae")


def add_train_flags(parser) -> None:
    add_recipe_flags(parser)
    parser.add_argument("--lr_decay", default="none", choices=["none", "plateau"],
                        help="plateau: after --decay_patience epochs without a better dev NLL, rewind to the "
                             "best-dev bundle and multiply the LR by --lr_decay_factor; the --max_decays-th "
                             "plateau ends the run (Texar's vae_text)")
    parser.add_argument("--lr_decay_factor", type=float, default=0.5)
    parser.add_argument("--decay_patience", type=int, default=2)
    parser.add_argument("--max_decays", type=int, default=5)
    parser.add_argument("--patience", type=int, default=None, help="stop after this many epochs without a "
                                                                   "better dev NLL")
    parser.add_argument("--save_steps", type=int, default=None, help="write MODEL_PATH/step_N every N steps")
    parser.add_argument("--keep_last", type=int, default=None, help="keep only the newest K step_N bundles")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the bundles and logs of an earlier run in --model_path (without it, a "
                             "folder that holds bundles is refused unless --init_from_ckpt continues that run)")
    parser.add_argument("--finetune", action="store_true",
                        help="with --init_from_ckpt: load only the weights and start a fresh schedule "
                             "(e.g. on another corpus with the same vocabulary)")
    parser.add_argument("--use_visualdl", action="store_true", help="also log to MODEL_PATH/visualdl")
    parser.add_argument("--eval_iw_samples", type=int, default=0,
                        help="importance samples for the end-of-training IW-NLL (0: ELBO only)")
    parser.add_argument("--final_eval", default="both", choices=list(FINAL_EVAL_SPLITS),
                        help="splits the end-of-training summary evaluates the final and best-dev bundles on "
                             "(none: skip it, e.g. for short runs)")
    parser.add_argument("--final_eval_sentences", type=int, default=None,
                        help="evaluate only each split's first N sentences at the end (default: all)")


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time, not the one of the first call (a caller may redirect it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging() -> None:
    """Our own handler: paddle/paddlenlp may configure the root logger first, which makes basicConfig a no-op."""
    if not logger.handlers:
        handler = _CurrentStdout()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    add_train_flags(parser)
    args = validate_recipe(parse_args(argv, parser))
    if not 0.0 < args.lr_decay_factor <= 1.0:
        raise UsageError(f"--lr_decay_factor must be in (0, 1], got {args.lr_decay_factor}")
    for name in ("save_steps", "keep_last", "patience", "decay_patience", "final_eval_sentences"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be a positive integer, got {value}")
    setup_logging()
    runtime.set_device(args.device)
    if paddle.distributed.get_world_size() > 1:
        paddle.distributed.init_parallel_env()
        runtime.set_threads(args.num_threads or max(1, runtime.available_cores() // paddle.distributed.get_world_size()))
    else:
        runtime.set_threads(args.num_threads)
    paddle.seed(args.seed)
    np.random.seed(args.seed)
    trainer = Trainer(args)  # reads the data and any resume bundle: a bad flag or file stops before any write
    # Rank 0 alone writes the folder, and holds its lock for the whole training.
    lock = claim(args.model_path, args.init_from_ckpt, args.overwrite) if trainer.is_main else None
    try:
        summary = trainer.fit()
    finally:
        if lock is not None:
            lock.release()
    if paddle.distributed.get_world_size() > 1:
        # Leave together, then close the group. Without this, the other ranks exit while rank 0 still runs the
        # final evaluation, and rank 0 was once seen to abort at its own exit (status -6, under load).
        paddle.distributed.barrier()
        paddle.distributed.destroy_process_group()
    if trainer.is_main:
        print(json.dumps({k: summary[k] for k in ("steps", "last_loss") if k in summary}))
    return 0

if __name__ == "__main__":
    sys.exit(main())
