"""The process set-up on import: Paddle's strided-view kernels are off unless asked for, and that changes no
number a training step computes."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

FLAG = "import paddle_vae, paddle; print(paddle.get_flags(['FLAGS_use_stride_kernel'])['FLAGS_use_stride_kernel'])"
PADDLE_FIRST = FLAG.replace("import paddle_vae, paddle", "import paddle, paddle_vae")

STEP = """
import json, paddle_vae, paddle
from paddle_vae.models.loss import CrossEntropyWithKL
from paddle_vae.models.vae import VAESeq2SeqModel
paddle.seed(3)
out = {}
for decoder in ("lstm", "transformer"):
    tr = dict(num_blocks=2, num_heads=2, ffn_size=32, dropout=0.2) if decoder == "transformer" else None
    net = VAESeq2SeqModel(embed_dim=16, hidden_size=16, latent_size=4, vocab_size=30, PAD_ID=0, dec_dropout=0.3,
                          decoder=decoder, transformer=tr)
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
    for key in ("FLAGS_use_stride_kernel", "PADDLE_VAE_STRIDE_KERNELS"):
        if key not in env:
            full.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_importing_paddle_vae_turns_the_strided_view_kernels_off_unless_asked_to_keep_them():
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
