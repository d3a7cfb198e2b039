#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs the suite.
EXTRA_PIP="pytest pyflakes" source "$(dirname "$0")/scripts/ensure_env.sh"
cd "$ROOT"
exec "$PY" -m pytest -q tests "$@"
