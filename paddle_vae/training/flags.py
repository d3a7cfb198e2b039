"""The flag groups only training reads: the model's architecture and the KL objective with its remedies.

Named and defaulted as in the PaddleNLP example's args.py where it has them. `paddle_vae.train` builds its
parser from these and the shared groups (`paddle_vae.flag_groups`) and checks them all in its `validate`.
Inference reads the architecture from the bundle's config.json, so no other command lists these.
"""
import argparse

from ..config import DECODERS, Z_PATHS, ModelConfig

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


def apply_dataset_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the flags left at None with --dataset's values (DATASET_DEFAULTS)."""
    for key, value in DATASET_DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """The network's architecture; a bundle's config.json records them, so inference never takes them."""
    g = p.add_argument_group("model")
    g.add_argument("--model", default="vae", choices=["vae", "lm"],
                   help="lm: the same embedding, decoder LSTM and output layer with no encoder and no z, "
                        "the language model a VAE must match")
    g.add_argument("--num_layers", type=int, default=1)
    g.add_argument("--embed_dim", type=int, default=None, help="256; 512 for yahoo")
    g.add_argument("--hidden_size", type=int, default=None, help="256; 550 for yahoo")
    g.add_argument("--latent_size", type=int, default=None)
    g.add_argument("--dec_dropout", type=float, default=None)
    g.add_argument("--enc_dropout", type=float, default=ModelConfig.enc_dropout)
    g.add_argument("--init_scale", type=float, default=ModelConfig.init_scale)
    g.add_argument("--decoder_impl", type=str, default="fused", choices=["fused", "cell"],
                   help="fused nn.LSTM + projection at non-pad positions (fast), or the reference's "
                        "per-step LSTMCell loop with a full padded projection (same math)")
    g.add_argument("--decoder", default=ModelConfig.decoder, choices=DECODERS,
                   help="lstm: the reference's; transformer: Texar's VAE-Transformer decoder (z as a one-position "
                        "cross-attention memory; model size = --embed_dim), also for --model lm")
    # The Transformer's defaults are Texar's, kept once, in ModelConfig.
    g.add_argument("--num_blocks", type=int, default=ModelConfig.num_blocks, help="transformer: decoder blocks")
    g.add_argument("--num_heads", type=int, default=ModelConfig.num_heads, help="transformer: attention heads")
    g.add_argument("--ffn_size", type=int, default=ModelConfig.ffn_size, help="transformer: feed-forward size")
    g.add_argument("--trans_dropout", type=float, default=ModelConfig.trans_dropout,
                   help="transformer: dropout on embeddings, attention, residuals and after the ReLU (Texar's)")
    g.add_argument("--z_path", default=ModelConfig.z_path, choices=Z_PATHS,
                   help="transformer: z as cross-attention memory only, or also added to every input embedding")
    g.add_argument("--tie_embeddings", action="store_true",
                   help="the output layer reads the decoder's word embedding, transposed (Texar's vae_text); "
                        "the LSTM keeps its output bias. Needs --hidden_size == --embed_dim for the LSTM")
    g.add_argument("--no_attn_bias", dest="attn_bias", action="store_false",
                   help="transformer: attention projections without bias (Texar's)")


def add_objective_flags(p: argparse.ArgumentParser) -> None:
    """The KL term's weight over training, and the remedies against posterior collapse (schedules.py,
    remedies.py, models/loss.py)."""
    g = p.add_argument_group("KL objective and collapse remedies")
    g.add_argument("--warm_up", type=int, default=None,
                   help="the KL weight rises by 1/warm_up per epoch from --kl_start, so it reaches 1 after "
                        "(1 - kl_start) * warm_up epochs (9 of the reference's 10)")
    g.add_argument("--kl_start", type=float, default=0.1, help="KL weight at step 0")
    g.add_argument("--kl_schedule", default="linear", choices=["linear", "cyclical", "logistic"],
                   help="linear: the reference's anneal over --warm_up epochs; cyclical: Fu et al. 2019; "
                        "logistic: Sentence-VAE's sigmoid in the step (--kl_logistic_k, --kl_logistic_x0)")
    g.add_argument("--kl_cycles", type=int, default=4, help="cyclical: number of cycles over the run")
    g.add_argument("--kl_ramp", type=float, default=0.5,
                   help="cyclical: fraction of each cycle over which the weight rises from 0 to 1")
    g.add_argument("--kl_logistic_k", type=float, default=0.0025,
                   help="logistic: steepness of the sigmoid (timbmg/Sentence-VAE's default)")
    g.add_argument("--kl_logistic_x0", type=float, default=2500,
                   help="logistic: the training step at which the weight reaches 0.5")
    g.add_argument("--word_dropout", type=float, default=None,
                   help="replace this fraction of decoder input words with <unk> "
                        "(Bowman et al. 2015, sec. 3.2; the reference has none)")
    g.add_argument("--free_bits", type=float, default=None,
                   help="floor each latent dimension's batch-mean KL at this many nats "
                        "(Kingma et al. 2016) against posterior collapse; 0 = the reference's plain KL")
    g.add_argument("--fb_mode", default="batch", choices=["batch", "sentence"],
                   help="free bits per dimension on the batch-mean KL (Kingma et al.) or per sentence "
                        "(Li et al.'s fb=2, threshold = their target_kl / latent_size)")
    g.add_argument("--pretrain_ae_epochs", type=int, default=0,
                   help="Li et al. 2019: train this many epochs at KL weight 0, then reset the decoder "
                        "(keeping the encoder) and train the VAE with a fresh optimizer")
    g.add_argument("--bn_vae", type=float, default=0.0, metavar="GAMMA",
                   help="BN-VAE (Zhu et al. 2020): batch-normalise the posterior mean with fixed scale GAMMA")
    g.add_argument("--aggressive", action="store_true",
                   help="He et al. 2019: aggressive inference-network training until dev MI stops rising")
