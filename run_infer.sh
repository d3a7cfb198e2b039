#!/usr/bin/env bash
# Generate with a trained bundle. With no flags: 32 samples from model/final into infer_output.txt.
#   bash run_infer.sh --init_from_ckpt model/best --mode reconstruct --input_file sents.txt --decode_strategy greedy
source "$(dirname "$0")/scripts/ensure_env.sh"
cd "$ROOT"
exec "$PY" -m paddle_vae.predict "$@"
