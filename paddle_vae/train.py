"""`python -m paddle_vae.train`: the training command line over `trainer.Trainer`.

    python -m paddle_vae.train --dataset ptb --data_dir ../shared/data/ptb --max_epoch 50

Writes MODEL_PATH/{final,best}/ bundles, MODEL_PATH/train_log.jsonl (per log
step and per epoch) and MODEL_PATH/train_summary.json.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import json
import logging
import os
import sys
from typing import List, Optional

import numpy as np
import paddle

from . import runtime
from .errors import cli_entry
from .flag_groups import (add_bundle_flags, add_data_flags, add_process_flags, default_device, new_parser, require,
                          require_finite, require_fraction, require_positive)
from .training.flags import add_model_flags, add_objective_flags, apply_dataset_defaults
from .training.run_dir import claim
from .training.trainer import FINAL_EVAL_SPLITS, Trainer

__all__ = ["Trainer", "build_parser", "main", "parse_args", "setup_logging", "validate"]
logger = logging.getLogger("paddle_vae")


def build_parser() -> argparse.ArgumentParser:
    """Every flag training reads: the shared groups, the model and objective groups, and its own."""
    p = new_parser("LSTM VAE for text (Bowman et al. 2015) on PaddlePaddle. Flags shown with default None take "
                   "their value from --dataset (training.flags.DATASET_DEFAULTS): the reference's for ptb/yahoo/text.")
    data = add_data_flags(p, tokenizer_default="DATA_DIR/prepare.json's, else whitespace; recorded in "
                                               "config.json for inference")
    data.add_argument("--max_vocab", type=int, default=None, help="--dataset text: keep this many words")
    data.add_argument("--min_freq", type=int, default=1, help="--dataset text: drop rarer words")
    add_model_flags(p)
    add_objective_flags(p)
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--learning_rate", type=float, default=0.001)
    opt.add_argument("--max_grad_norm", type=float, default=5.0)
    opt.add_argument("--max_epoch", type=int, default=None)
    opt.add_argument("--max_steps", type=int, default=None, help="stop after this many optimizer steps")
    opt.add_argument("--seed", type=int, default=1)
    opt.add_argument("--lr_decay", default="none", choices=["none", "plateau"],
                     help="plateau: after --decay_patience epochs without a better dev NLL, rewind to the "
                          "best-dev bundle and multiply the LR by --lr_decay_factor; the --max_decays-th "
                          "plateau ends the run (Texar's vae_text)")
    opt.add_argument("--lr_decay_factor", type=float, default=0.5)
    opt.add_argument("--decay_patience", type=int, default=2)
    opt.add_argument("--max_decays", type=int, default=5)
    opt.add_argument("--patience", type=int, default=None,
                     help="stop after this many epochs without a better dev NLL")
    run = p.add_argument_group("run folder")
    run.add_argument("--model_path", type=str, default="model")
    run.add_argument("--log_freq", type=int, default=200)
    run.add_argument("--save_steps", type=int, default=None, help="write MODEL_PATH/step_N every N steps")
    run.add_argument("--keep_last", type=int, default=None, help="keep only the newest K step_N bundles")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the bundles and logs of an earlier run in --model_path (without it, a "
                          "folder that holds bundles is refused unless --init_from_ckpt continues that run)")
    run.add_argument("--use_visualdl", action="store_true", help="also log to MODEL_PATH/visualdl")
    run.add_argument("--eval_iw_samples", type=int, default=0,
                     help="importance samples for the end-of-training IW-NLL (0: ELBO only)")
    run.add_argument("--final_eval", default="both", choices=list(FINAL_EVAL_SPLITS),
                     help="splits the end-of-training summary evaluates the final and best-dev bundles on "
                          "(none: skip it, e.g. for short runs)")
    run.add_argument("--final_eval_sentences", type=int, default=None,
                     help="evaluate only each split's first N sentences at the end (default: all)")
    bundle = add_bundle_flags(p, default=None, help="bundle folder to resume training from")
    bundle.add_argument("--finetune", action="store_true",
                   help="with --init_from_ckpt: load only the weights and start a fresh schedule "
                        "(e.g. on another corpus with the same vocabulary)")
    add_process_flags(p)
    # The reference's args.py serves its train.py and predict.py alike, so its training commands may carry
    # these; they are accepted and have no effect here.
    unused = p.add_argument_group("inference flags (accepted as the reference's shared args.py does; unused by "
                                  "training)")
    unused.add_argument("--infer_output_file", type=str, default="infer_output.txt")
    unused.add_argument("--beam_size", type=int, default=1)
    unused.add_argument("--num_samples", type=int, default=32)
    return p


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Every training flag's rule, checked before any data is read or file written.

    Catches the values that would otherwise fail later inside Paddle with an opaque trace. Settles
    --free_bits for --model lm (a dataset default that means nothing without z).
    """
    require_finite(args)
    require_positive(args, "batch_size", "latent_size", "num_layers", "max_epoch", "max_len", "log_freq",
                     "embed_dim", "hidden_size", "beam_size", "warm_up", "num_samples", "num_blocks", "num_heads",
                     "ffn_size", "max_steps", "save_steps", "keep_last", "patience", "decay_patience",
                     "final_eval_sentences", "num_threads", "kl_cycles", "learning_rate", "max_grad_norm",
                     "kl_logistic_k", "max_bundle_mb")
    require_fraction(args, "dec_dropout", "enc_dropout", "word_dropout", "trans_dropout")
    require(args.free_bits >= 0, f"--free_bits must be >= 0, got {args.free_bits}")
    require(args.init_scale >= 0, f"--init_scale must be >= 0, got {args.init_scale}")
    require(args.bn_vae >= 0, f"--bn_vae must be >= 0, got {args.bn_vae}")
    require(0.0 <= args.kl_start <= 1.0, f"--kl_start must be in [0, 1], got {args.kl_start}")
    require(0.0 < args.kl_ramp <= 1.0, f"--kl_ramp must be in (0, 1], got {args.kl_ramp}")
    require(0.0 < args.lr_decay_factor <= 1.0, f"--lr_decay_factor must be in (0, 1], got {args.lr_decay_factor}")
    require(0 <= args.pretrain_ae_epochs < args.max_epoch,
            f"--pretrain_ae_epochs must be in [0, --max_epoch), got {args.pretrain_ae_epochs}")
    if args.decoder == "transformer":
        require(not (args.embed_dim % args.num_heads or args.embed_dim % 2),
                f"--decoder transformer: --embed_dim ({args.embed_dim}) must be even and divisible by "
                f"--num_heads ({args.num_heads})")
        require(args.decoder_impl == "fused", "--decoder transformer has one implementation: drop --decoder_impl")
        require(not args.pretrain_ae_epochs,
                "--pretrain_ae_epochs resets an LSTM decoder; it is not implemented for --decoder transformer")
    require(not (args.tie_embeddings and args.decoder == "lstm" and args.hidden_size != args.embed_dim),
            f"--tie_embeddings: the LSTM's output size --hidden_size ({args.hidden_size}) must equal "
            f"--embed_dim ({args.embed_dim})")
    if args.model == "lm":
        require(not (args.bn_vae or args.pretrain_ae_epochs or args.aggressive or args.kl_schedule != "linear"),
                "--model lm has no latent: drop --bn_vae, --pretrain_ae_epochs, --aggressive and --kl_schedule")
        args.free_bits = 0.0
    require(args.dataset != "text" or bool(args.data_dir),
            "--dataset text needs --data_dir holding train.txt, valid.txt and test.txt")
    require(not os.path.exists(args.model_path) or os.path.isdir(args.model_path),
            f"--model_path {args.model_path} is a file; it must name a folder (new or existing)")
    return args


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The Namespace `Trainer` takes: parsed, --dataset's defaults filled in, validated, --device settled."""
    args = validate(apply_dataset_defaults(build_parser().parse_args(argv)))
    args.device = args.device or default_device()
    return args


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
    args = parse_args(argv)
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
