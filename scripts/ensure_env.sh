# Sourced by run_train.sh, run_infer.sh and run_tests.sh: pick a Python that has
# paddle + paddlenlp, or build ./.venv once from the pinned requirements.
# Sets PY. Extra pip packages can be asked for in EXTRA_PIP (e.g. "pytest pytest-xdist"), as pip requirements.
#   PADDLE_VAE_PYTHON=/path/to/python   use that interpreter as it is
#   PADDLE_VAE_PADDLE="paddlepaddle-gpu==3.3.1"   the Paddle wheel to install (scripts/paddle_requirement.sh
#       picks one otherwise); an interpreter whose Paddle does not satisfy it is not used, and ./.venv gets it
#   PADDLE_VAE_VENV=/path/to/venv   where to build the environment (default ./.venv; CI keeps one per Paddle)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, pip.conf: pip's own settings reach pip unchanged (README, GPU)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PADDLE_VAE_VENV:-$ROOT/.venv}"

_has_deps() {
  "$1" "$ROOT/scripts/check_env.py" ${EXTRA_PIP:-} >/dev/null 2>&1
}

if [ -n "${PADDLE_VAE_PYTHON:-}" ]; then
  PY="$PADDLE_VAE_PYTHON"
elif command -v python3 >/dev/null && _has_deps "$(command -v python3)"; then
  PY="$(command -v python3)"   # the active Python already has the stack
elif [ -x "$VENV/bin/python" ] && _has_deps "$VENV/bin/python"; then
  PY="$VENV/bin/python"
else
  # Two launches at once (two trainings started together) must not build the venv over each other:
  # the second waits for the first, then uses what it built.
  if command -v flock >/dev/null; then
    exec 9>"$VENV.lock"
    flock 9
  fi
  if ! { [ -x "$VENV/bin/python" ] && _has_deps "$VENV/bin/python"; }; then
    PADDLE="$(bash "$ROOT/scripts/paddle_requirement.sh")"
    echo "[paddle_vae] setting up $VENV with $PADDLE (a few minutes)" >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    # The CPU and GPU wheels both install the `paddle` package: remove the other flavour first.
    case "$PADDLE" in
      paddlepaddle-gpu*) OTHER=paddlepaddle ;;
      *) OTHER=paddlepaddle-gpu ;;
    esac
    "$VENV/bin/python" -m pip uninstall -q -y "$OTHER" >/dev/null 2>&1 || true
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PADDLE" -r "$ROOT/requirements.txt" ${EXTRA_PIP:-} >&2
  fi
  PY="$VENV/bin/python"
  exec 9>&-  # release the set-up lock before the training that follows
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Keep paddlenlp's downloads and caches inside the project unless the user chose a place.
export PPNLP_HOME="${PPNLP_HOME:-$ROOT/.ppnlp_home}"
