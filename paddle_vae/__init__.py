"""paddle_vae: the text VAE of Bowman et al. 2015 on PaddlePaddle.

    from paddle_vae import VAEGenerator
    vae = VAEGenerator.from_pretrained("model/best")

Importing the package changes nothing in the process: no environment variable, Paddle flag, allocator
option or warning filter. The commands (`python -m paddle_vae.train`, ...) tune the CPU for themselves;
a library user can ask for the same with `paddle_vae.runtime.tune_cpu()`.
"""
# Correctness, not tuning: Paddle 2.6's libpaddle exports its own zlib, and a libz first loaded by
# `import paddle` breaks every later zlib user (paddlenlp's datasets, pyarrow); loading it first avoids that.
import zlib

del zlib

__version__ = "0.1.0"

# The public names, imported lazily so that `import paddle_vae` stays cheap and does not import Paddle.
_PUBLIC = {
    "VAEGenerator": "generator",
    "VAESeq2SeqModel": "models.vae",
    "VAESeq2SeqInferModel": "models.vae",
    "CrossEntropyWithKL": "models.loss",
    "prepare_train_input": "data.corpus",
    "create_data_loader": "data.corpus",
}


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_PUBLIC) + ["__version__"]
