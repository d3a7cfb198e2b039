#!/usr/bin/env bash
# Train the text VAE. With no flags: the bundled demo corpus, a few minutes on 2 CPU cores.
#   bash run_train.sh --dataset ptb --data_dir ../shared/data/ptb --max_epoch 50
#   bash run_train.sh --nproc_per_node 2 ...   # data-parallel through paddle.distributed.launch
source "$(dirname "$0")/scripts/ensure_env.sh"
cd "$ROOT"
if [ $# -eq 0 ]; then
  set -- --dataset sample --log_freq 50
fi
NPROC=""
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc_per_node) NPROC="$2"; shift 2 ;;
    --nproc_per_node=*) NPROC="${1#*=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [ -n "$NPROC" ] && [ "$NPROC" -gt 1 ]; then
  exec "$PY" -m paddle.distributed.launch --nproc_per_node "$NPROC" --log_dir "${PADDLE_VAE_LAUNCH_LOG:-log}" \
    scripts/train_entry.py "${ARGS[@]}"
fi
exec "$PY" -m paddle_vae.train "${ARGS[@]}"
