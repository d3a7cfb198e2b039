"""Export the z -> sentence decoder for Paddle Inference, and run such an export.

    python -m paddle_vae.export --init_from_ckpt model/final --output_dir export --decode_strategy beam --beam_size 4

    gen = ExportedGenerator("export")
    gen.decode(np.random.standard_normal((8, gen.latent_size)))

DIR/vae_decoder.json + .pdiparams (Paddle 3.x, PIR; older Paddle writes
.pdmodel instead), with input `latent_z` float32 [batch, latent_size] (any
batch) and output ids int64 [batch, T]. config.json and vocab.txt are copied
next to them, so the folder needs nothing else; export.json records how it
decodes. The decoding loop is `paddle.nn.dynamic_decode` inside the program:
the strategy, beam size, length limit and temperature are fixed at export.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import errno
import json
import os
import shutil
import sys
from typing import List, Optional, Tuple

import numpy as np
import paddle
from paddle import inference

from . import runtime
from .bundle import CONFIG_FILE, VOCAB_FILE, read_bundle
from .config import DEFAULT_MAX_BYTES
from .data.corpus import vocab_from_tokens
from .errors import CheckpointError, UsageError, cli_entry
from .files import OutputKind, check_output, publish_dir, write_json_atomic
from .flag_groups import (DEFAULT_BUNDLE, add_bundle_flags, add_decode_flags, add_process_flags, bundle_budget,
                          new_parser, require_finite, require_positive)
from .generator import VAEGenerator

PREFIX = "vae_decoder"
META_FILE = "export.json"
# Paddle Inference 3.3.1 on CPU, run on the exported while loop:
# - with constant_folding_pass the loop never reaches max_step_num (it seems to
#   fold the in-place step counter), so a batch with a sentence that never emits
#   EOS spins forever;
# - with oneDNN (on by default) finished beams emit <pad> instead of EOS after
#   their EOS, unlike the dynamic graph and `paddle.jit.load`.
BROKEN_PASSES = ("constant_folding_pass",)
# Everything an export folder holds (Paddle 3 writes the program as .json, Paddle 2.6 as .pdmodel + .info).
EXPORT = OutputKind("export", META_FILE, frozenset(
    {PREFIX + ext for ext in (".json", ".pdmodel", ".pdiparams", ".pdiparams.info")} | {CONFIG_FILE, VOCAB_FILE,
                                                                                          META_FILE}))


def export(bundle: str, output_dir: str, strategy: str = "greedy", beam_size: int = 4, max_out_len: int = 100,
           temperature: float = 1.0, max_bytes: int = DEFAULT_MAX_BYTES, overwrite: bool = False) -> str:
    """Trace the decoder into a temporary sibling of `output_dir` and swap it into place when whole.

    An earlier export there is replaced only with `overwrite`; any other non-empty folder, or the bundle
    itself, never (`files.check_output`)."""
    check_output(output_dir, EXPORT, overwrite, inputs=[bundle], how="--overwrite")
    config, tokens, state_dict, _ = read_bundle(bundle, max_bytes)
    if config.get("model") == "lm":
        raise UsageError(f"export writes a z -> sentence decoder; {bundle} is a language model (--model lm), which "
                         f"has no z (sample from it with VAEGenerator or paddle_vae.predict)")
    if config.get("decoder", "lstm") != "lstm":
        raise UsageError(f"export supports the LSTM decoder only; {bundle} has a {config['decoder']} decoder, "
                         f"whose cached decoding step Paddle's static export cannot trace (use VAEGenerator)")
    vae = VAEGenerator(config, tokens, state_dict, source=bundle)  # checks the weights fit, sets eval mode
    net = vae.net
    net.decode_strategy, net.beam_size, net.max_out_len, net.temperature = strategy, beam_size, max_out_len, temperature
    spec = [paddle.static.InputSpec([None, net.latent_size], "float32", name="latent_z")]

    def fill(tmp: str) -> None:
        paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), os.path.join(tmp, PREFIX))
        check_saved(os.path.join(tmp, PREFIX))
        for name in (CONFIG_FILE, VOCAB_FILE):
            shutil.copyfile(os.path.join(bundle, name), os.path.join(tmp, name))
        write_json_atomic(os.path.join(tmp, META_FILE), {  # last: it marks a finished export
            "decode_strategy": strategy, "beam_size": beam_size, "max_out_len": max_out_len,
            "temperature": temperature, "paddle_version": paddle.__version__})

    return publish_dir(output_dir, fill, EXPORT)


def check_saved(prefix: str) -> None:
    """Read a traced program back: `paddle.jit.save` reports no failed write (on a full disk it leaves a
    truncated .pdiparams and returns), so an export that does not load is an OSError naming that file."""
    try:
        paddle.jit.load(prefix)
    except Exception:
        params = prefix + ".pdiparams"
        full = os.statvfs(os.path.dirname(prefix)).f_bavail == 0
        raise OSError(errno.ENOSPC if full else errno.EIO,
                      os.strerror(errno.ENOSPC) if full else "written incompletely (it does not load)", params) from None


def model_files(path: str) -> Tuple[str, str]:
    """(program, params) of an export: `.json` (PIR, Paddle 3.x) or `.pdmodel` (old IR), and `.pdiparams`."""
    params = os.path.join(path, PREFIX + ".pdiparams")
    for ext in (".json", ".pdmodel"):
        program = os.path.join(path, PREFIX + ext)
        if os.path.isfile(program) and os.path.isfile(params):
            return program, params
    raise CheckpointError(f"not an export folder: {path} lacks {PREFIX}.json or .pdmodel with .pdiparams")


class ExportedGenerator:
    """Decode with an exported folder through Paddle Inference on CPU: no model code, no dygraph.

    Shares `VAEGenerator.ids_to_text`, which needs only `config["eos_id"]` and `vocab`.
    """

    ids_to_text = VAEGenerator.ids_to_text

    def __init__(self, path: str, num_threads: Optional[int] = None):
        program, params = model_files(path)
        try:
            with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
                self.config = json.load(f)
            with open(os.path.join(path, VOCAB_FILE), encoding="utf-8") as f:
                tokens = [line.rstrip("\n") for line in f]
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"broken export {path}: {exc}") from None
        self.vocab = vocab_from_tokens(tokens, self.config["unk_token"])
        self.latent_size = int(self.config["latent_size"])
        cfg = inference.Config(program, params)
        cfg.disable_gpu()
        cfg.disable_mkldnn()  # see BROKEN_PASSES
        cfg.set_cpu_math_library_num_threads(num_threads or runtime.available_cores())
        cfg.disable_glog_info()
        for name in BROKEN_PASSES:
            cfg.delete_pass(name)
        self.predictor = inference.create_predictor(cfg)

    def decode_ids(self, latent_z: np.ndarray) -> np.ndarray:
        """ids [N, T] for latent codes [N, latent_size]."""
        z = np.ascontiguousarray(latent_z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_size or not len(z):
            raise UsageError(f"latent_z must be [N, {self.latent_size}], got {list(z.shape)}")
        handle = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        handle.reshape(list(z.shape))
        handle.copy_from_cpu(z)
        self.predictor.run()
        return self.predictor.get_output_handle(self.predictor.get_output_names()[0]).copy_to_cpu()

    def decode(self, latent_z: np.ndarray) -> List[str]:
        """Sentences cut at their first EOS (kept whole if there is none)."""
        return [self.ids_to_text(row) for row in self.decode_ids(latent_z)]


def build_parser() -> argparse.ArgumentParser:
    p = new_parser("Export a trained bundle's z -> sentence decoder for Paddle Inference.")
    add_bundle_flags(p, default=DEFAULT_BUNDLE, help="the bundle folder whose decoder to export")
    p.add_argument("--output_dir", required=True, help="a new folder, or an earlier export to replace with "
                                                         "--overwrite (swapped in only once complete)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output_dir")
    add_decode_flags(p, default_strategy="greedy", default_beam_size=4)
    add_process_flags(p, device=False)
    return p


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Every export flag's rule, checked before the bundle is read (the folders are checked by `export`)."""
    require_finite(args)
    require_positive(args, "beam_size", "max_out_len", "temperature", "num_threads", "max_bundle_mb")
    return args


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = validate(build_parser().parse_args(argv))
    # Tracing runs no real arithmetic, and a CPU trace is what Paddle Inference on CPU loads.
    runtime.set_device("cpu")
    runtime.set_threads(args.num_threads)
    out = export(args.init_from_ckpt, args.output_dir, args.decode_strategy, args.beam_size, args.max_out_len,
                 args.temperature, bundle_budget(args), args.overwrite)
    print(f"exported {args.decode_strategy} decoder to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
