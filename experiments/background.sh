#!/usr/bin/env bash
# Run an experiment table in the background across sessions, from a pinned copy of the code.
#   bash experiments/background.sh start experiments/ptb_latent.json [--jobs 2]   # or resume it
#   bash experiments/background.sh stop experiments/ptb_latent.json               # pause (resumable)
#   bash experiments/background.sh status experiments/ptb_latent.json
# `start` clones this checkout's HEAD beside it (../TABLE_code, or PADDLE_VAE_TABLE_CODE), so that edits to
# the work tree cannot reach the trainings it starts later, and runs `python -m paddle_vae.experiments run`
# from the clone under nohup. A table file inside the checkout is read from the clone, at the same relative
# path, so that a relative data_dir such as ../shared/data/ptb means the same there; one outside it is read
# where it is. Results go to this checkout's docs/results/TABLE (a later --results_dir overrides it);
# output is appended to RUNS/runner.out.
# `stop` sends SIGTERM: each training writes a step bundle and each evaluation its progress, and the next
# `start` resumes them. RUNS is ~/paddle_vae_runs/TABLE (PADDLE_VAE_RUNS overrides ~/paddle_vae_runs).
source "$(dirname "$0")/../scripts/ensure_env.sh"
ACTION="${1:-}"
TABLE_FILE="${2:-}"
if [ -z "$ACTION" ] || [ -z "$TABLE_FILE" ] || [ ! -f "$TABLE_FILE" ]; then
  echo "usage: bash experiments/background.sh start|stop|status TABLE_FILE [run flags]" >&2
  exit 2
fi
shift 2
TABLE_FILE="$(cd "$(dirname "$TABLE_FILE")" && pwd)/$(basename "$TABLE_FILE")"
NAME="$(basename "$TABLE_FILE" .json)"
case "$TABLE_FILE" in
  "$ROOT"/*) TABLE_ARG="${TABLE_FILE#"$ROOT"/}" ;;  # read from the clone
  *) TABLE_ARG="$TABLE_FILE" ;;
esac
RUNS="${PADDLE_VAE_RUNS:-$HOME/paddle_vae_runs}/$NAME"
RESULTS="$ROOT/docs/results/$NAME"
CODE="${PADDLE_VAE_TABLE_CODE:-$(dirname "$ROOT")/${NAME}_code}"
# Any runner of this table, however it was started (its command line names the table file).
runners() { pgrep -f "paddle_vae.experiments run $TABLE_ARG" || true; }

case "$ACTION" in
  start)
    if [ -n "$(runners)" ]; then
      echo "$NAME: already running (pid $(runners | xargs))" >&2
      exit 1
    fi
    mkdir -p "$RUNS"
    rm -rf "$CODE"
    git clone -q "$ROOT" "$CODE"
    cd "$CODE"
    nohup "$PY" -m paddle_vae.experiments run "$TABLE_ARG" --runs_dir "$RUNS" \
      --results_dir "$RESULTS" "$@" >> "$RUNS/runner.out" 2>&1 &
    echo "$NAME: started at $(git rev-parse --short HEAD) (pid $!); output in $RUNS/runner.out"
    ;;
  stop)
    PIDS="$(runners)"
    if [ -z "$PIDS" ]; then
      echo "$NAME: not running"
      exit 0
    fi
    kill -TERM $PIDS
    while [ -n "$(runners)" ]; do sleep 1; done
    echo "$NAME: stopped; 'start' resumes it"
    ;;
  status)
    [ -n "$(runners)" ] && echo "$NAME: running (pid $(runners | xargs))" || echo "$NAME: not running"
    exec "$PY" -m paddle_vae.experiments status "$TABLE_FILE" --runs_dir "$RUNS" --results_dir "$RESULTS"
    ;;
  *)
    echo "usage: bash experiments/background.sh start|stop|status TABLE_FILE [run flags]" >&2
    exit 2
    ;;
esac
