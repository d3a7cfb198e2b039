"""paddle_vae: the LSTM text VAE of Bowman et al. 2015 on PaddlePaddle.

    from paddle_vae import VAEGenerator
    vae = VAEGenerator.from_pretrained("model/best")
"""
from . import quiet as _quiet
from . import runtime as _runtime

_quiet.install()  # before anything imports paddle: most known third-party warnings fire on import
_runtime.configure_cpu_env()  # before anything imports paddle

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import paddle_vae` stays cheap and the CLIs control import order.
    if name == "VAEGenerator":
        from .generate import VAEGenerator

        return VAEGenerator
    raise AttributeError(name)


__all__ = ["VAEGenerator", "__version__"]
