"""The process is the user's: importing the package (and every public name) changes no environment variable,
warning filter or Paddle flag; the commands' CPU tuning (`runtime.tune_cpu`) turns Paddle's strided-view
kernels off unless asked to keep them, and that changes no number a training step computes."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SNAPSHOT = """
import json, os, sys, warnings
def snapshot():
    import paddle
    flags = {}
    for name in paddle.base.core.globals().keys():
        try:
            flags[name] = repr(paddle.get_flags([name])[name])
        except (ValueError, RuntimeError):  # Paddle 2.6 refuses to read a few flags
            pass
    return {"env": dict(os.environ), "filters": [repr(f) for f in warnings.filters], "flags": flags}
"""

IMPORT_ALONE = """
import json, os, sys, warnings
env, filters = dict(os.environ), [repr(f) for f in warnings.filters]
import paddle_vae
print(json.dumps({"env": dict(os.environ) == env, "filters": [repr(f) for f in warnings.filters] == filters,
                  "paddle": "paddle" in sys.modules}))
"""

# Paddle and paddlenlp first (their own import effects are theirs), then every public name and module of ours.
# zlib before Paddle, as the package itself does on Paddle 2.6 (paddle_vae/__init__.py says why).
IMPORT_EVERYTHING = "import zlib\n" + SNAPSHOT + """
import paddlenlp
before = snapshot()
import paddle_vae
from paddle_vae import (VAEGenerator, VAESeq2SeqModel, VAESeq2SeqInferModel, CrossEntropyWithKL,
                        prepare_train_input, create_data_loader)
import paddle_vae.training.trainer, paddle_vae.evaluation.metrics, paddle_vae.bundle, paddle_vae.models.networks
after = snapshot()
print(json.dumps({key: {k: (before[key].get(k), after[key].get(k)) for k in set(before[key]) | set(after[key])
                        if before[key].get(k) != after[key].get(k)} if key != "filters"
                  else before[key] != after[key] for key in before}))
"""

FLAG = ("import paddle_vae.runtime as r; r.tune_cpu(1); import paddle; "
        "print(paddle.get_flags(['FLAGS_use_stride_kernel'])['FLAGS_use_stride_kernel'])")
PADDLE_FIRST = FLAG.replace("import paddle_vae.runtime as r; r.tune_cpu(1); import paddle; ",
                            "import paddle; import paddle_vae.runtime as r; r.tune_cpu(1); ")
LIBRARY_ONLY = "import paddle_vae, paddle; print(paddle.get_flags(['FLAGS_use_stride_kernel'])['FLAGS_use_stride_kernel'])"

STEP = """
import json, paddle_vae.runtime
paddle_vae.runtime.tune_cpu(1)
import paddle
from paddle_vae.config import ModelConfig
from paddle_vae.models.loss import CrossEntropyWithKL
from paddle_vae.models.vae import VAESeq2SeqModel
paddle.seed(3)
out = {}
for decoder in ("lstm", "transformer"):
    net = VAESeq2SeqModel(ModelConfig(vocab_size=30, embed_dim=16, hidden_size=16, latent_size=4, dec_dropout=0.3,
                                      decoder=decoder, num_blocks=2, num_heads=2, ffn_size=32, trans_dropout=0.2))
    src = paddle.randint(3, 30, [4, 7]); length = paddle.to_tensor([7, 5, 3, 6])
    mask = paddle.arange(7).unsqueeze(0) < length.unsqueeze(1)
    src = paddle.where(mask, src, paddle.zeros_like(src))
    loss = CrossEntropyWithKL(0.1, 1e-4)(*net(src, length, src, length), src)
    loss.backward()
    out[decoder] = [float(loss)] + [float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None]
print(json.dumps(out))
"""


def run(code, **env):
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    for key in ("FLAGS_use_stride_kernel", "PADDLE_VAE_STRIDE_KERNELS", "MKL_DEBUG_CPU_TYPE"):
        if key not in env:
            full.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_importing_paddle_vae_alone_changes_no_variable_or_filter_and_loads_no_paddle():
    assert json.loads(run(IMPORT_ALONE)) == {"env": True, "filters": True, "paddle": False}


def test_importing_every_public_name_changes_no_variable_filter_or_paddle_flag():
    changed = json.loads(run(IMPORT_EVERYTHING))
    assert changed == {"env": {}, "filters": False, "flags": {}}


def test_the_cpu_tuning_turns_the_strided_view_kernels_off_unless_asked_to_keep_them():
    assert run(LIBRARY_ONLY) == "True"  # the library alone leaves Paddle's default
    assert run(FLAG) == "False"
    assert run(PADDLE_FIRST) == "False"  # Paddle imported first: the flag is set at run time
    assert run(FLAG, PADDLE_VAE_STRIDE_KERNELS="1") == "True"
    assert run(FLAG, FLAGS_use_stride_kernel="1") == "True"  # the user's own setting wins
    assert run(PADDLE_FIRST, PADDLE_VAE_STRIDE_KERNELS="1") == "True"


@pytest.mark.slow
def test_copy_kernels_give_the_same_loss_and_gradients_as_strided_ones():
    copy, strided = json.loads(run(STEP)), json.loads(run(STEP, PADDLE_VAE_STRIDE_KERNELS="1"))
    assert set(copy) == {"lstm", "transformer"} and len(copy["transformer"]) > 10
    assert copy == strided
