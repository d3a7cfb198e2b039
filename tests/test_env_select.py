"""Which Paddle and which interpreter the scripts choose (no GPU here: nvidia-smi is faked on PATH)."""
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pytest

from conftest import ROOT

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def fake_bin(tmp_path, gpu: bool):
    """A PATH folder whose nvidia-smi lists a GPU, or fails as on a machine without a driver."""
    folder = tmp_path / ("gpu" if gpu else "nogpu")
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0)'\n" if gpu else "#!/bin/sh\nexit 9\n")
    smi.chmod(0o755)
    return folder


def requirement(tmp_path, gpu: bool, **env) -> str:
    run_env = {"PATH": f"{fake_bin(tmp_path, gpu)}:{SYSTEM_PATH}", **env}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "paddle_requirement.sh")], capture_output=True, text=True,
                         env=run_env, check=True)
    return out.stdout.strip()


def test_cpu_machine_gets_the_cpu_wheel(tmp_path):
    assert requirement(tmp_path, gpu=False).startswith("paddlepaddle==3.")


def test_gpu_machine_gets_pypis_gpu_wheel(tmp_path):
    assert requirement(tmp_path, gpu=True) == "paddlepaddle-gpu==2.6.2"


@pytest.mark.parametrize("gpu", [True, False])
def test_paddle_vae_paddle_overrides_the_choice(tmp_path, gpu):
    wanted = "paddlepaddle-gpu==3.3.1"
    assert requirement(tmp_path, gpu=gpu, PADDLE_VAE_PADDLE=wanted) == wanted


def installed_paddle():
    for name in ("paddlepaddle", "paddlepaddle-gpu"):
        try:
            return name, version(name)
        except PackageNotFoundError:
            continue
    pytest.skip("no paddlepaddle distribution metadata in this interpreter")


def check_env_in_a_fresh_interpreter(*requirements) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PADDLE_VAE_PADDLE"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "check_env.py"), *requirements], env=env,
                          capture_output=True, timeout=300).returncode


def test_an_interpreter_is_used_only_if_its_paddle_and_the_extra_requirements_satisfy_the_request(monkeypatch):
    """One run as ensure_env.sh makes it; the other cases in this process (Paddle already imported: seconds less
    each)."""
    name, ver = installed_paddle()
    assert check_env_in_a_fresh_interpreter("pytest") == 0
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from check_env import main
    finally:
        sys.path.pop(0)

    def check_env(*requirements, paddle=None) -> int:
        monkeypatch.setenv("PADDLE_VAE_PADDLE", paddle or "")
        return main(list(requirements))

    assert check_env(paddle=f"{name}=={ver}") == 0
    assert check_env(paddle=f"{name}>=2.6") == 0
    assert check_env(paddle=f"{name}==0.0.1") == 1  # wrong version: ensure_env installs the asked one
    other = "paddlepaddle" if name == "paddlepaddle-gpu" else "paddlepaddle-gpu"
    assert check_env(paddle=f"{other}=={ver}") == 1  # wrong flavour (CPU vs GPU)
    assert check_env("no-such-distribution-xyz") == 1  # EXTRA_PIP requirements are part of the check
    assert check_env("pytest") == 0 and check_env("pytest==0.0.1") == 1  # by distribution, with its version


def test_ensure_env_picks_paddle_vae_python_and_keeps_pips_settings(tmp_path):
    script = f'source "{ROOT}/scripts/ensure_env.sh"; echo "$PY"; echo "${{PIP_EXTRA_INDEX_URL:-}}"'
    env = dict(os.environ, PADDLE_VAE_PYTHON=sys.executable,
               PIP_EXTRA_INDEX_URL="https://www.paddlepaddle.org.cn/packages/stable/cu126/")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=True, timeout=60)
    assert out.stdout.split("\n")[:2] == [sys.executable, "https://www.paddlepaddle.org.cn/packages/stable/cu126/"]
