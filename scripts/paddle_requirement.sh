#!/usr/bin/env bash
# Prints the Paddle requirement a new ./.venv gets (used by ensure_env.sh; tested in tests/test_env_select.py):
#   $PADDLE_VAE_PADDLE when set, e.g. "paddlepaddle-gpu==3.3.1" (with PIP_EXTRA_INDEX_URL naming Paddle's index);
#   else PyPI's newest GPU wheel where nvidia-smi lists a GPU; else the CPU wheel.
set -euo pipefail
PADDLE_CPU="paddlepaddle==3.3.1"
PADDLE_GPU="paddlepaddle-gpu==2.6.2"   # PyPI's newest GPU wheel (CUDA 11.8 / cuDNN 8)
if [ -n "${PADDLE_VAE_PADDLE:-}" ]; then
  echo "$PADDLE_VAE_PADDLE"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "$PADDLE_GPU"
else
  echo "$PADDLE_CPU"
fi
