"""paddle.hub entries for paddle_vae.

    import paddle
    vae = paddle.hub.load("path/to/paddle_vae", "vae_seq2seq", source="local", checkpoint="model/best")
    vae.sample(num=5, strategy="greedy")

Every entry returns a `paddle_vae.VAEGenerator`. No pretrained weights are
published: pass `checkpoint=` a bundle folder written by training.
"""
dependencies = ["paddle", "paddlenlp", "numpy"]

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402

_ROOT = _os.path.dirname(_os.path.abspath(__file__))


def _paddle_vae():
    # paddle.hub drops the repo from sys.path after importing this file, so entries add it back.
    if _ROOT not in _sys.path:
        _sys.path.insert(0, _ROOT)
    import paddle_vae.generator

    return paddle_vae.generator


def vae_seq2seq(checkpoint=None, pretrained=False, embed_dim=256, hidden_size=256, latent_size=32, num_layers=1,
                init_scale=0.1, vocab=None, seed=1, max_bytes=2 * 2 ** 30):
    """LSTM text VAE (Bowman et al. 2015) as a ready VAEGenerator.

    Args:
        checkpoint (str): a bundle folder written by `run_train.sh` (e.g. "model/best"). Its
            config.json fixes every hyperparameter, so the other arguments are ignored.
        pretrained (bool): no pretrained weights are published; True raises ValueError.
        embed_dim, hidden_size, latent_size, num_layers, init_scale: sizes of an untrained model
            (PTB defaults), used only without `checkpoint`.
        vocab (list[str]): tokens of an untrained model; defaults to a 10k placeholder vocabulary.
        seed (int): initialisation seed of an untrained model.
        max_bytes (int): refuse a checkpoint whose config.json declares more float32 weights than this
            (2 GiB), before anything is built; raise it for a model you trust to be that large.

    Returns:
        VAEGenerator with sample / reconstruct / interpolate / encode / score / save_pretrained.
    """
    generate = _paddle_vae()
    if pretrained:
        raise ValueError("paddle_vae publishes no pretrained weights; train with run_train.sh and pass "
                         "checkpoint='MODEL_PATH/best'")
    if checkpoint is not None:
        return generate.VAEGenerator.from_pretrained(checkpoint, max_bytes)
    return generate.untrained_generator(vocab, embed_dim, hidden_size, latent_size, num_layers, init_scale, seed)


def vae_ptb(checkpoint=None, pretrained=False, **kwargs):
    """vae_seq2seq with the reference's PTB sizes: embed 256, hidden 256, latent 32."""
    return vae_seq2seq(checkpoint, pretrained, **dict(dict(embed_dim=256, hidden_size=256), **kwargs))


def vae_yahoo(checkpoint=None, pretrained=False, **kwargs):
    """vae_seq2seq with the reference's Yahoo sizes: embed 512, hidden 550, latent 32."""
    return vae_seq2seq(checkpoint, pretrained, **dict(dict(embed_dim=512, hidden_size=550), **kwargs))
