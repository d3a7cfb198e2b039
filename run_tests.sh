#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs the suite.
EXTRA_PIP="pytest pyflakes" source "$(dirname "$0")/scripts/ensure_env.sh"
cd "$ROOT"
# --durations: the slowest tests, for keeping the suite inside its 10-minute budget on 2 cores.
exec "$PY" -m pytest -q --durations=15 tests "$@"
