"""Flag groups the command lines share, and the checks each command's one `validate` is written with.

Every command (train, evaluate, predict, export) builds its parser from the groups it reads, so its --help
lists only flags that change what it does; each group is an argparse argument group, a titled section of
--help. The reference's flags (PaddleNLP vae-seq2seq's args.py) keep their names and defaults in every
command that uses them. Checking stays with each command: one `validate` per command names all its rules,
so none is hidden in a group.
"""
import argparse
import math
from typing import Optional

from .config import DEFAULT_MAX_BYTES
from .data.tokenizers import TOKENIZERS
from .errors import UsageError

DATASETS = ("ptb", "yahoo", "sample", "text")
DEFAULT_BUNDLE = "model/final"  # where `bash run_train.sh` with no flags leaves its final bundle


def new_parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False)  # a prefix like --model must never be taken as --model_path


def add_data_flags(p: argparse.ArgumentParser, tokenizer_default: str) -> argparse._ArgumentGroup:
    """Which corpus to read and how (returned, so training can add its vocabulary flags to the section)."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", type=str, default="sample", choices=DATASETS,
                   help="ptb / yahoo via paddlenlp (or --data_dir); sample = bundled demo corpus; "
                        "text = your own train/valid/test.txt in --data_dir")
    g.add_argument("--data_dir", type=str, default=None, help="read the dataset's files from this folder")
    g.add_argument("--max_len", type=int, default=1280,
                   help="longer sentences are truncated to this many tokens (logged once)")
    g.add_argument("--batch_size", type=int, default=32)
    g.add_argument("--tokenizer", default=None, choices=TOKENIZERS,
                   help=f"how raw sentences are tokenised (default: {tokenizer_default}); "
                        "see paddle_vae.prepare_corpus")
    g.add_argument("--lowercase", action="store_true", help="--dataset text: lowercase the corpus")
    return g


def add_bundle_flags(p: argparse.ArgumentParser, default: Optional[str], help: str) -> argparse._ArgumentGroup:
    """The bundle (checkpoint folder) a command reads (returned, so training can add --finetune to it)."""
    g = p.add_argument_group("bundle")
    g.add_argument("--init_from_ckpt", type=str, default=default, help=help)
    g.add_argument("--max_bundle_mb", type=int, default=DEFAULT_MAX_BYTES // 2 ** 20, metavar="MB",
                   help="refuse a bundle whose config.json declares more float32 weights than this, before "
                        "anything is built; raise it for a model you trust to be that large")
    return g


def bundle_budget(args: argparse.Namespace) -> int:
    """--max_bundle_mb in bytes, as `read_bundle` and `VAEGenerator.from_pretrained` take it."""
    return args.max_bundle_mb * 2 ** 20


def add_process_flags(p: argparse.ArgumentParser, device: bool = True) -> None:
    """Where and how the process computes; export has no --device (it always traces on CPU)."""
    g = p.add_argument_group("process")
    if device:
        g.add_argument("--device", type=str, default=None, choices=["gpu", "cpu", "xpu"],
                       help="default: gpu when Paddle sees one, else cpu")
    g.add_argument("--num_threads", type=int, default=None, help="CPU threads (default: all cores)")
    g.add_argument("--verbose", action="store_true", help="show the known third-party warnings (hidden by default)")


def add_decode_flags(p: argparse.ArgumentParser, default_strategy: str, default_beam_size: int) -> None:
    """How sentences are decoded from z (predict decodes now, export fixes them into the program)."""
    g = p.add_argument_group("decoding")
    g.add_argument("--decode_strategy", default=default_strategy, choices=["sampling", "greedy", "beam"])
    g.add_argument("--beam_size", type=int, default=default_beam_size)
    g.add_argument("--max_out_len", type=int, default=100)
    g.add_argument("--temperature", type=float, default=1.0)


def default_device() -> str:
    """--device's default: gpu when Paddle sees one (imports Paddle, so call it after validating)."""
    import paddle

    return "gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"


# ---- checks ---------------------------------------------------------------------------------------------
def require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def require_finite(args: argparse.Namespace) -> None:
    """Every float flag finite: nan compares false with every bound, so it would pass the other checks."""
    for name, value in vars(args).items():
        require(not isinstance(value, float) or math.isfinite(value), f"--{name} must be a finite number, got {value}")


def require_positive(args: argparse.Namespace, *names: str) -> None:
    """Each named flag above 0, or unset (None: its default applies later)."""
    for name in names:
        value = getattr(args, name)
        kind = "a positive integer" if isinstance(value, int) else "positive"
        require(value is None or value > 0, f"--{name} must be {kind}, got {value}")


def require_fraction(args: argparse.Namespace, *names: str) -> None:
    """Each named flag in [0, 1): a dropout rate."""
    for name in names:
        value = getattr(args, name)
        require(0.0 <= value < 1.0, f"--{name} must be in [0, 1), got {value}")
