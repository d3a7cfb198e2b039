"""Inference CLI behind run_infer.sh: sample (default), reconstruct, interpolate or encode.

    python -m paddle_vae.predict --init_from_ckpt model/final --num_samples 32
    python -m paddle_vae.predict --init_from_ckpt model/best --mode reconstruct --input_file sents.txt

Outputs go to --infer_output_file, one sentence (or one vector) per line,
written to a temporary name and renamed when complete.
"""
import argparse
import os
import sys
from typing import List, Optional

from . import runtime

runtime.configure_cpu_env()

from .errors import DataError, UsageError, cli_entry  # noqa: E402

DEFAULT_CKPT = os.path.join("model", "final")


def build_parser() -> argparse.ArgumentParser:
    from .args import add_decode_flags, build_parser as base_parser

    p = base_parser()
    p.description = "Generate with a trained bundle: sample, reconstruct, interpolate or encode."
    p.set_defaults(init_from_ckpt=DEFAULT_CKPT)
    p.add_argument("--mode", default="sample", choices=["sample", "reconstruct", "interpolate", "encode"])
    add_decode_flags(p, default_strategy="sampling")
    p.add_argument("--input_file", default=None, help="one sentence per line (two lines for interpolate)")
    p.add_argument("--interpolation_steps", type=int, default=5)
    return p


def read_input(path: Optional[str], mode: str) -> List[str]:
    if not path:
        raise UsageError(f"--mode {mode} needs --input_file")
    from .data import read_lines

    sentences = [" ".join(tokens) for tokens in read_lines(path)]
    if mode == "interpolate" and len(sentences) != 2:
        raise DataError(f"{path}: --mode interpolate needs exactly two sentences, found {len(sentences)}")
    return sentences


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    from .args import parse_args

    args = parse_args(argv, build_parser())
    runtime.set_device(args.device)
    runtime.set_threads(args.num_threads)
    from .bundle import write_text_atomic
    from .generate import VAEGenerator

    vae = VAEGenerator.from_pretrained(args.init_from_ckpt)
    decode = dict(strategy=args.decode_strategy, beam_size=args.beam_size, max_len=args.max_out_len,
                  seed=args.seed)
    if args.mode == "sample":
        lines = vae.sample(num=args.num_samples, temperature=args.temperature, **decode)
    elif args.mode == "reconstruct":
        lines = vae.reconstruct(read_input(args.input_file, args.mode), temperature=args.temperature, **decode)
    elif args.mode == "interpolate":
        a, b = read_input(args.input_file, args.mode)
        lines = vae.interpolate(a, b, steps=args.interpolation_steps, **decode)
    else:
        vectors = vae.encode(read_input(args.input_file, args.mode))
        lines = [" ".join(f"{v:.6f}" for v in row) for row in vectors]
    write_text_atomic(args.infer_output_file, "".join(line + "\n" for line in lines))
    print(f"wrote {len(lines)} lines to {args.infer_output_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
