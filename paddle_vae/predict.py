"""Inference CLI behind run_infer.sh: sample (default), reconstruct, interpolate or encode.

    python -m paddle_vae.predict --init_from_ckpt model/final --num_samples 32
    python -m paddle_vae.predict --init_from_ckpt model/best --mode reconstruct --input_file sents.txt

Outputs go to --infer_output_file, one sentence (or one vector) per line,
written as they are made to a temporary name and renamed when complete; an
existing file is replaced only with --overwrite, and never the input. reconstruct and encode
write exactly one line per input line (a blank line for a blank one), and
tokenise each raw input line as the bundle's corpus was (its --tokenizer and
--lowercase), so "Hello, world!" works.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional

from . import runtime
from .data.corpus import warn_unknown_share
from .errors import DataError, cli_entry
from .data.reading import read_text, text_lines
from .files import atomic_file, check_output
from .flag_groups import (DEFAULT_BUNDLE, add_bundle_flags, add_decode_flags, add_process_flags, bundle_budget,
                          default_device, new_parser, require, require_finite, require_positive)

if TYPE_CHECKING:  # annotations only: main imports it lazily (it loads Paddle)
    from .generator import VAEGenerator

logger = logging.getLogger("paddle_vae")


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("Generate with a trained bundle: sample, reconstruct, interpolate or encode.")
    add_bundle_flags(p, default=DEFAULT_BUNDLE, help="the bundle folder to generate with")
    g = p.add_argument_group("generation")
    g.add_argument("--mode", default="sample", choices=["sample", "reconstruct", "interpolate", "encode"])
    g.add_argument("--num_samples", type=int, default=32, help="sample: sentences to draw from the prior")
    g.add_argument("--input_file", default=None, help="one sentence per line (two lines for interpolate)")
    g.add_argument("--interpolation_steps", type=int, default=5)
    g.add_argument("--infer_output_file", type=str, default="infer_output.txt",
                   help="one output line per sample, or per input line")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --infer_output_file")
    g.add_argument("--seed", type=int, default=1, help="seeds the prior samples and sampled decoding")
    g.add_argument("--quiet", action="store_true",
                   help="no progress bar (one is drawn on a terminal for inputs over 512 sentences)")
    add_decode_flags(p, default_strategy="sampling", default_beam_size=1)
    add_process_flags(p)
    return p


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Every generation flag's rule, checked before the bundle is read (the input file is read later)."""
    require_finite(args)
    require_positive(args, "num_samples", "interpolation_steps", "beam_size", "max_out_len", "temperature",
                     "num_threads", "max_bundle_mb")
    require(args.mode == "sample" or bool(args.input_file), f"--mode {args.mode} needs --input_file")
    return args


def read_input(path: str, mode: str) -> List[str]:
    """Every line of the input file, blank ones included (BOM dropped, LF or CRLF; no other character ends a
    line, so outputs line up with the lines an editor shows)."""
    lines = text_lines(read_text(path))
    if not any(line.strip() for line in lines):
        raise DataError(f"{path}: no sentences (the file is empty or holds only blank lines)")
    if mode == "interpolate":
        lines = [line for line in lines if line.strip()]
        if len(lines) != 2:
            raise DataError(f"{path}: --mode interpolate needs exactly two sentences, found {len(lines)}")
    return lines


def per_line(lines: List[str], run: Callable[[List[str]], List[str]], path: str) -> List[str]:
    """`run` on the non-blank lines, with a blank output line for each blank input line, so outputs line up."""
    blank = [i for i, line in enumerate(lines) if not line.strip()]
    if blank:
        shown = ", ".join(str(i + 1) for i in blank[:5]) + (", ..." if len(blank) > 5 else "")
        logger.warning("%s: %d blank input line(s) (line %s) give blank output lines", path, len(blank), shown)
    results = iter(run([line for line in lines if line.strip()]))
    return ["" if not line.strip() else next(results) for line in lines]


def generate_lines(vae: "VAEGenerator", args: argparse.Namespace) -> Iterable[str]:
    """The output lines of --mode for a loaded `VAEGenerator` (sample and interpolate: made as they are read)."""
    decode = dict(strategy=args.decode_strategy, beam_size=args.beam_size, max_len=args.max_out_len,
                  seed=args.seed)
    bar = dict(progress=False if getattr(args, "quiet", False) else None)
    if args.mode == "sample":
        return vae.iter_sample(num=args.num_samples, temperature=args.temperature, **decode, **bar)
    inputs = read_input(args.input_file, args.mode)
    warn_unknown_share(vae.unknown_share([line for line in inputs if line.strip()]), args.input_file)
    if args.mode == "interpolate":
        return vae.iter_interpolate(inputs[0], inputs[1], steps=args.interpolation_steps, **decode)
    if args.mode == "reconstruct":
        return per_line(inputs, lambda s: vae.reconstruct(s, temperature=args.temperature, **decode, **bar),
                        args.input_file)
    return per_line(inputs, lambda s: [" ".join(f"{v:.6f}" for v in row) for row in vae.encode(s)],
                    args.input_file)


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = validate(build_parser().parse_args(argv))
    runtime.set_device(args.device or default_device())
    runtime.set_threads(args.num_threads)
    # Lazy on purpose: it loads Paddle, so `predict --help` and a flag error answer at once.
    from .generator import VAEGenerator

    check_output(args.infer_output_file, overwrite=args.overwrite, inputs=[args.input_file, args.init_from_ckpt])
    lines = generate_lines(VAEGenerator.from_pretrained(args.init_from_ckpt, bundle_budget(args)), args)
    count = 0
    with atomic_file(args.infer_output_file) as out:  # written as made, renamed into place when complete
        for count, line in enumerate(lines, 1):
            out.write(line + "\n")
    print(f"wrote {count} lines to {args.infer_output_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
