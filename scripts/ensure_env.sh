# Sourced by run_train.sh, run_infer.sh and run_tests.sh: pick a Python that has
# paddle + paddlenlp, or build ./.venv once from the pinned requirements.
# Sets PY. Extra pip packages can be asked for in EXTRA_PIP (e.g. "pytest").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PADDLE_CPU="paddlepaddle==3.3.1"
PADDLE_GPU="paddlepaddle-gpu==2.6.2"   # PyPI's newest GPU wheel (CUDA 11.8 / cuDNN 8)

_has_deps() {
  "$1" - "${EXTRA_PIP:-}" <<'PY' >/dev/null 2>&1
import importlib, sys
# zlib before paddle: Paddle 2.6 breaks a libz that it loads first (see paddle_vae/runtime.py)
mods = ["zlib", "paddle", "paddlenlp"] + [m for m in sys.argv[1].split() if m]
for m in mods:
    importlib.import_module(m)
PY
}

if [ -n "${PADDLE_VAE_PYTHON:-}" ]; then
  PY="$PADDLE_VAE_PYTHON"
elif command -v python3 >/dev/null && _has_deps "$(command -v python3)"; then
  PY="$(command -v python3)"   # the active Python already has the stack
elif [ -x "$VENV/bin/python" ] && _has_deps "$VENV/bin/python"; then
  PY="$VENV/bin/python"
else
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    PADDLE="$PADDLE_GPU"
  else
    PADDLE="$PADDLE_CPU"
  fi
  echo "[paddle_vae] setting up $VENV with $PADDLE (first run only, a few minutes)" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PADDLE" -r "$ROOT/requirements.txt" ${EXTRA_PIP:-} >&2
  PY="$VENV/bin/python"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Keep paddlenlp's downloads and caches inside the project unless the user chose a place.
export PPNLP_HOME="${PPNLP_HOME:-$ROOT/.ppnlp_home}"
