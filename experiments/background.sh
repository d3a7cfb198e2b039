#!/usr/bin/env bash
# Run an experiment table in the background across sessions, from a pinned copy of the code.
#   bash experiments/background.sh start experiments/ptb_latent.json [--jobs 2]   # or resume it
#   bash experiments/background.sh stop experiments/ptb_latent.json               # pause (resumable)
#   bash experiments/background.sh status experiments/ptb_latent.json
# `start` clones this checkout's HEAD beside it (../TABLE_code, or PADDLE_VAE_TABLE_CODE), so that edits to
# the work tree cannot reach the trainings it starts later, and runs `python -m paddle_vae.experiments run`
# from the clone under nohup. A table file inside the checkout is read from the clone, at the same relative
# path, and must be committed as it is (the clone has HEAD's copy); one outside it is read where it is. A
# relative data_dir is resolved against the folder above the table file's folder: for experiments/*.json,
# the clone's root, so ../shared/data/ptb means the same as here only while the clone sits beside this
# checkout (the default). Results go to this checkout's docs/results/TABLE (a later --results_dir overrides
# it); output is appended to RUNS/runner.out. The clone folder is deleted and cloned again at each start,
# so a PADDLE_VAE_TABLE_CODE that is not a clone of this checkout, or is this checkout, a folder above it,
# HOME, or holds RUNS, is refused.
# `stop` sends SIGTERM: each training writes a step bundle and each evaluation its progress, and the next
# `start` resumes them. RUNS is ~/paddle_vae_runs/TABLE (PADDLE_VAE_RUNS overrides ~/paddle_vae_runs).
source "$(dirname "$0")/../scripts/ensure_env.sh"
usage() {
  echo "usage: bash experiments/background.sh start|stop|status TABLE_FILE [run or status flags]" >&2
  exit 2
}
fail() { echo "background.sh: $*" >&2; exit 2; }
ACTION="${1:-}"
TABLE_FILE="${2:-}"
if [ -z "$ACTION" ] || [ -z "$TABLE_FILE" ] || [ ! -f "$TABLE_FILE" ]; then
  usage
fi
shift 2
# Real paths (symlinks resolved), so that two spellings of one folder compare equal.
TABLE_FILE="$(realpath "$TABLE_FILE")"
REAL_ROOT="$(realpath "$ROOT")"
NAME="$(basename "$TABLE_FILE" .json)"
case "$TABLE_FILE" in
  "$REAL_ROOT"/*) TABLE_ARG="${TABLE_FILE#"$REAL_ROOT"/}" ;;  # read from the clone
  *) TABLE_ARG="$TABLE_FILE" ;;
esac
RUNS="${PADDLE_VAE_RUNS:-$HOME/paddle_vae_runs}/$NAME"
RESULTS="$ROOT/docs/results/$NAME"
CODE="${PADDLE_VAE_TABLE_CODE:-$(dirname "$ROOT")/${NAME}_code}"
# Any runner of this table, however it was started (its command line names the table file, then a space
# or its end: not a table whose name merely starts the same).
PATTERN="$(printf '%s' "paddle_vae.experiments run $TABLE_ARG" | sed 's/[][\\.*^$+?(){}|]/\\&/g')( |$)"
runners() { pgrep -f "$PATTERN" || true; }

# The clone is deleted and made again at each start: never let that reach a folder the user made.
check_code_folder() {
  local code
  code="$(realpath -m "$CODE")"
  case "$REAL_ROOT/" in "${code%/}/"*) fail "PADDLE_VAE_TABLE_CODE=$CODE is this checkout or a folder above it" ;; esac
  [ "$code" = "$(realpath -m "$HOME")" ] && fail "PADDLE_VAE_TABLE_CODE=$CODE is the home folder"
  case "$(realpath -m "$RUNS")/" in "$code"/*) fail "the run folders ($RUNS) are inside $CODE" ;; esac
  # A clone this script made has this checkout as its origin (git stores the path as given to clone).
  if [ -e "$code" ]; then
    local origin
    origin="$(git -C "$code" remote get-url origin 2>/dev/null || true)"
    if [ -z "$origin" ] || [ "$(realpath -m "$origin")" != "$REAL_ROOT" ]; then
      fail "$CODE exists and is not a clone made by this script; move it or set PADDLE_VAE_TABLE_CODE"
    fi
  fi
}

# A table inside the checkout is read from the clone, i.e. as committed: refuse one that is not.
check_table_committed() {
  [ "$TABLE_ARG" = "$TABLE_FILE" ] && return 0
  git -C "$ROOT" cat-file -e "HEAD:$TABLE_ARG" 2>/dev/null \
    || fail "$TABLE_ARG is not committed; the run reads HEAD's copy (commit it first)"
  git -C "$ROOT" diff --quiet HEAD -- "$TABLE_ARG" \
    || fail "$TABLE_ARG differs from HEAD; the run reads HEAD's copy (commit or revert the edit first)"
}

case "$ACTION" in
  start)
    if [ -n "$(runners)" ]; then
      echo "$NAME: already running (pid $(runners | xargs))" >&2
      exit 1
    fi
    check_code_folder
    check_table_committed
    mkdir -p "$RUNS"
    rm -rf "$CODE"
    git clone -q "$ROOT" "$CODE"
    cd "$CODE"
    nohup "$PY" -m paddle_vae.experiments run "$TABLE_ARG" --runs_dir "$RUNS" \
      --results_dir "$RESULTS" "$@" >> "$RUNS/runner.out" 2>&1 &
    PID=$!
    # The background child execs the runner a moment later; return only once `runners` sees it, so that a
    # `start`, `stop` or `status` right after this one finds it (on a loaded machine the gap was enough for a
    # second start to begin a second runner).
    for _ in $(seq 100); do
      [ -n "$(runners)" ] && break
      kill -0 "$PID" 2>/dev/null || fail "the runner exited at once; see $RUNS/runner.out"
      sleep 0.1
    done
    [ -n "$(runners)" ] || fail "the runner (pid $PID) did not appear within 10 s; see $RUNS/runner.out"
    echo "$NAME: started at $(git rev-parse --short HEAD) (pid $PID); output in $RUNS/runner.out"
    ;;
  stop)
    PIDS="$(runners)"
    if [ -z "$PIDS" ]; then
      echo "$NAME: not running"
      exit 0
    fi
    kill -TERM $PIDS 2>/dev/null || true  # one may have ended since pgrep saw it
    while [ -n "$(runners)" ]; do sleep 1; done
    echo "$NAME: stopped; 'start' resumes it"
    ;;
  status)
    [ -n "$(runners)" ] && echo "$NAME: running (pid $(runners | xargs))" || echo "$NAME: not running"
    exec "$PY" -m paddle_vae.experiments status "$TABLE_FILE" --runs_dir "$RUNS" --results_dir "$RESULTS" "$@"
    ;;
  *)
    usage
    ;;
esac
