#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs the suite.
EXTRA_PIP="pytest pytest-xdist pyflakes playwright" source "$(dirname "$0")/scripts/ensure_env.sh"
cd "$ROOT"
# Two workers (pytest-xdist): most tests use one core (tiny models, subprocess start-up), so one process leaves
# the second core idle. Each test file goes to one worker (its module fixtures are built once), in collection
# order, which conftest.py starts with the longest file. `bash run_tests.sh -n 0` runs in one process.
# --durations: the slowest tests, for keeping the suite inside its 10-minute budget on 2 cores.
exec "$PY" -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests "$@"
