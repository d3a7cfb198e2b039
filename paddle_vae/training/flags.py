"""Command-line flags, named and defaulted as in the PaddleNLP example's args.py.

The reference's flags are kept verbatim so its README commands work here; the
extra flags this package adds are grouped at the end.
"""
import argparse
import math
import os
from typing import List, Optional

from ..config import DECODERS, Z_PATHS, ModelConfig
from ..errors import UsageError

# Dataset-specific defaults, applied only where the user did not pass the flag. PTB and Yahoo get the
# reference's values (its README commands: Yahoo 512/550); text corpora get PTB's. The demo corpus gets a
# recipe that trains in minutes and keeps z in use (word dropout and free bits, which the reference lacks).
REFERENCE_DEFAULTS = {"embed_dim": 256, "hidden_size": 256, "latent_size": 32, "max_epoch": 20, "warm_up": 10,
                      "dec_dropout": 0.5, "word_dropout": 0.0, "free_bits": 0.0}
DATASET_DEFAULTS = {
    "ptb": REFERENCE_DEFAULTS,
    "text": REFERENCE_DEFAULTS,
    "yahoo": dict(REFERENCE_DEFAULTS, embed_dim=512, hidden_size=550),
    "sample": dict(REFERENCE_DEFAULTS, latent_size=16, max_epoch=30, warm_up=5, dec_dropout=0.2,
                   word_dropout=0.5, free_bits=0.5),
}


def _default_device() -> str:
    import paddle

    return "gpu" if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="LSTM VAE for text (Bowman et al. 2015) on PaddlePaddle. Flags shown with default None "
                    "take their value from the dataset (args.DATASET_DEFAULTS): the reference's for ptb/yahoo/text.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # a prefix like --model must never be taken as --model_path
    )
    # ---- the reference's flags -------------------------------------------------
    p.add_argument("--dataset", type=str, default="sample",
                   choices=["ptb", "yahoo", "sample", "text"],
                   help="ptb / yahoo via paddlenlp (or --data_dir); sample = bundled demo corpus; "
                        "text = your own train/valid/test.txt in --data_dir")
    p.add_argument("--learning_rate", type=float, default=0.001)
    p.add_argument("--num_layers", type=int, default=1)
    p.add_argument("--embed_dim", type=int, default=None, help="256; 512 for yahoo")
    p.add_argument("--hidden_size", type=int, default=None, help="256; 550 for yahoo")
    p.add_argument("--latent_size", type=int, default=None)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_epoch", type=int, default=None)
    p.add_argument("--max_len", type=int, default=1280,
                   help="longer sentences are truncated to this many tokens (logged once)")
    p.add_argument("--log_freq", type=int, default=200)
    p.add_argument("--dec_dropout", type=float, default=None)
    p.add_argument("--enc_dropout", type=float, default=ModelConfig.enc_dropout)
    p.add_argument("--init_scale", type=float, default=ModelConfig.init_scale)
    p.add_argument("--max_grad_norm", type=float, default=5.0)
    p.add_argument("--model_path", type=str, default="model")
    p.add_argument("--infer_output_file", type=str, default="infer_output.txt")
    p.add_argument("--beam_size", type=int, default=1)
    p.add_argument("--device", type=str, default=None, choices=["gpu", "cpu", "xpu"],
                   help="default: gpu when Paddle sees one, else cpu")
    p.add_argument("--warm_up", type=int, default=None,
                   help="the KL weight rises by 1/warm_up per epoch from --kl_start, so it reaches 1 after "
                        "(1 - kl_start) * warm_up epochs (9 of the reference's 10)")
    p.add_argument("--kl_start", type=float, default=0.1, help="KL weight at step 0")
    p.add_argument("--init_from_ckpt", type=str, default=None,
                   help="bundle folder to resume training from, or to load for inference")
    # ---- additions --------------------------------------------------------------
    p.add_argument("--data_dir", type=str, default=None, help="read the dataset's files from this folder")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max_steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--num_samples", type=int, default=32, help="sentences to sample at inference")
    p.add_argument("--max_vocab", type=int, default=None, help="--dataset text: keep this many words")
    p.add_argument("--min_freq", type=int, default=1, help="--dataset text: drop rarer words")
    p.add_argument("--lowercase", action="store_true", help="--dataset text: lowercase the corpus")
    p.add_argument("--decoder_impl", type=str, default="fused", choices=["fused", "cell"],
                   help="fused nn.LSTM + projection at non-pad positions (fast), or the reference's "
                        "per-step LSTMCell loop with a full padded projection (same math)")
    p.add_argument("--decoder", default=ModelConfig.decoder, choices=DECODERS,
                   help="lstm: the reference's; transformer: Texar's VAE-Transformer decoder (z as a one-position "
                        "cross-attention memory; model size = --embed_dim), also for --model lm")
    # The Transformer's defaults are Texar's, kept once, in ModelConfig.
    p.add_argument("--num_blocks", type=int, default=ModelConfig.num_blocks, help="transformer: decoder blocks")
    p.add_argument("--num_heads", type=int, default=ModelConfig.num_heads, help="transformer: attention heads")
    p.add_argument("--ffn_size", type=int, default=ModelConfig.ffn_size, help="transformer: feed-forward size")
    p.add_argument("--trans_dropout", type=float, default=ModelConfig.trans_dropout,
                   help="transformer: dropout on embeddings, attention, residuals and after the ReLU (Texar's)")
    p.add_argument("--z_path", default=ModelConfig.z_path, choices=Z_PATHS,
                   help="transformer: z as cross-attention memory only, or also added to every input embedding")
    p.add_argument("--tie_embeddings", action="store_true",
                   help="the output layer reads the decoder's word embedding, transposed (Texar's vae_text); "
                        "the LSTM keeps its output bias. Needs --hidden_size == --embed_dim for the LSTM")
    p.add_argument("--no_attn_bias", dest="attn_bias", action="store_false",
                   help="transformer: attention projections without bias (Texar's)")
    p.add_argument("--word_dropout", type=float, default=None,
                   help="training only: replace this fraction of decoder input words with <unk> "
                        "(Bowman et al. 2015, sec. 3.2; the reference has none)")
    p.add_argument("--free_bits", type=float, default=None,
                   help="training only: floor each latent dimension's batch-mean KL at this many nats "
                        "(Kingma et al. 2016) against posterior collapse; 0 = the reference's plain KL")
    p.add_argument("--num_threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--tokenizer", default=None, choices=["basic", "whitespace", "jieba", "char"],
                   help="how raw sentences are tokenised, recorded in config.json for inference (default: "
                        "DATA_DIR/prepare.json's, else whitespace); see paddle_vae.prepare_corpus")
    p.add_argument("--verbose", action="store_true", help="show third-party warnings (hidden by paddle_vae.quiet)")
    p.add_argument("--allow_pickle", action="store_true",
                   help="load an old-format --init_from_ckpt bundle (model.pdparams, a pickle, which can run code "
                        "when loaded); only for bundles you trust. `python -m paddle_vae.bundle convert` is safer")
    return p


def add_recipe_flags(p: argparse.ArgumentParser) -> None:
    """Training recipes against posterior collapse (see schedules.py, model.py, remedies.py, lm.py)."""
    p.add_argument("--model", default="vae", choices=["vae", "lm"],
                   help="lm: the same embedding, decoder LSTM and output layer with no encoder and no z, "
                        "the language model a VAE must match")
    p.add_argument("--kl_schedule", default="linear", choices=["linear", "cyclical", "logistic"],
                   help="linear: the reference's anneal over --warm_up epochs; cyclical: Fu et al. 2019; "
                        "logistic: Sentence-VAE's sigmoid in the step (--kl_logistic_k, --kl_logistic_x0)")
    p.add_argument("--kl_cycles", type=int, default=4, help="cyclical: number of cycles over the run")
    p.add_argument("--kl_ramp", type=float, default=0.5,
                   help="cyclical: fraction of each cycle over which the weight rises from 0 to 1")
    p.add_argument("--kl_logistic_k", type=float, default=0.0025,
                   help="logistic: steepness of the sigmoid (timbmg/Sentence-VAE's default)")
    p.add_argument("--kl_logistic_x0", type=float, default=2500,
                   help="logistic: the training step at which the weight reaches 0.5")
    p.add_argument("--fb_mode", default="batch", choices=["batch", "sentence"],
                   help="free bits per dimension on the batch-mean KL (Kingma et al.) or per sentence "
                        "(Li et al.'s fb=2, threshold = their target_kl / latent_size)")
    p.add_argument("--pretrain_ae_epochs", type=int, default=0,
                   help="Li et al. 2019: train this many epochs at KL weight 0, then reset the decoder "
                        "(keeping the encoder) and train the VAE with a fresh optimizer")
    p.add_argument("--bn_vae", type=float, default=0.0, metavar="GAMMA",
                   help="BN-VAE (Zhu et al. 2020): batch-normalise the posterior mean with fixed scale GAMMA")
    p.add_argument("--aggressive", action="store_true",
                   help="He et al. 2019: aggressive inference-network training until dev MI stops rising")


def validate_recipe(args: argparse.Namespace) -> argparse.Namespace:
    if args.kl_cycles <= 0 or not 0.0 < args.kl_ramp <= 1.0:
        raise UsageError("--kl_cycles must be positive and --kl_ramp in (0, 1]")
    if args.kl_logistic_k <= 0:
        raise UsageError(f"--kl_logistic_k must be positive, got {args.kl_logistic_k}")
    if args.pretrain_ae_epochs < 0 or args.pretrain_ae_epochs >= args.max_epoch:
        raise UsageError(f"--pretrain_ae_epochs must be in [0, --max_epoch), got {args.pretrain_ae_epochs}")
    if args.bn_vae < 0:
        raise UsageError(f"--bn_vae must be >= 0, got {args.bn_vae}")
    if args.decoder == "transformer" and args.pretrain_ae_epochs:
        raise UsageError("--pretrain_ae_epochs resets an LSTM decoder; it is not implemented for --decoder transformer")
    if args.model == "lm":
        if args.bn_vae or args.pretrain_ae_epochs or args.aggressive or args.kl_schedule != "linear":
            raise UsageError("--model lm has no latent: drop --bn_vae, --pretrain_ae_epochs, --aggressive and "
                             "--kl_schedule")
        args.free_bits = 0.0  # a dataset default; meaningless without z
    return args


def add_decode_flags(p: argparse.ArgumentParser, default_strategy: str) -> None:
    """Decoding flags shared by the inference and export CLIs (checked in `validate`)."""
    p.add_argument("--decode_strategy", default=default_strategy, choices=["sampling", "greedy", "beam"])
    p.add_argument("--max_out_len", type=int, default=100)
    p.add_argument("--temperature", type=float, default=1.0)


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Reject values that would only fail later inside Paddle with an opaque trace."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):  # nan compares false with every bound below
            raise UsageError(f"--{name} must be a finite number, got {value}")
    positive = ["batch_size", "latent_size", "num_layers", "max_epoch", "max_len", "log_freq",
                "embed_dim", "hidden_size", "beam_size", "warm_up", "num_samples", "num_blocks", "num_heads",
                "ffn_size"]
    for name in positive:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be a positive integer, got {value}")
    if args.decoder == "transformer":
        if args.embed_dim % args.num_heads or args.embed_dim % 2:
            raise UsageError(f"--decoder transformer: --embed_dim ({args.embed_dim}) must be even and divisible "
                             f"by --num_heads ({args.num_heads})")
        if args.decoder_impl != "fused":
            raise UsageError("--decoder transformer has one implementation: drop --decoder_impl")
    if args.tie_embeddings and args.decoder == "lstm" and args.hidden_size != args.embed_dim:
        raise UsageError(f"--tie_embeddings: the LSTM's output size --hidden_size ({args.hidden_size}) must equal "
                         f"--embed_dim ({args.embed_dim})")
    for name in ["dec_dropout", "enc_dropout", "word_dropout", "trans_dropout"]:
        value = getattr(args, name)
        if not 0.0 <= value < 1.0:
            raise UsageError(f"--{name} must be in [0, 1), got {value}")
    if args.free_bits < 0:
        raise UsageError(f"--free_bits must be >= 0, got {args.free_bits}")
    if getattr(args, "max_out_len", 1) <= 0 or getattr(args, "temperature", 1.0) <= 0:
        raise UsageError("--max_out_len and --temperature must be positive")
    if args.learning_rate <= 0:
        raise UsageError(f"--learning_rate must be positive, got {args.learning_rate}")
    if args.max_grad_norm <= 0:
        raise UsageError(f"--max_grad_norm must be positive, got {args.max_grad_norm}")
    if args.init_scale < 0:
        raise UsageError(f"--init_scale must be >= 0, got {args.init_scale}")
    if not 0.0 <= args.kl_start <= 1.0:
        raise UsageError(f"--kl_start must be in [0, 1], got {args.kl_start}")
    if args.max_steps is not None and args.max_steps <= 0:
        raise UsageError(f"--max_steps must be a positive integer, got {args.max_steps}")
    if args.dataset == "text" and not args.data_dir:
        raise UsageError("--dataset text needs --data_dir holding train.txt, valid.txt and test.txt")
    if os.path.exists(args.model_path) and not os.path.isdir(args.model_path):
        raise UsageError(f"--model_path {args.model_path} is a file; it must name a folder (new or existing)")
    return args


def apply_dataset_defaults(args: argparse.Namespace) -> argparse.Namespace:
    defaults = DATASET_DEFAULTS[args.dataset]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def parse_args(argv: Optional[List[str]] = None, parser: Optional[argparse.ArgumentParser] = None
               ) -> argparse.Namespace:
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    apply_dataset_defaults(args)
    if args.device is None:
        args.device = _default_device()
    return validate(args)
