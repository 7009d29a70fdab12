#!/usr/bin/env bash
# Runs the default (fast) test suite after setting the machine up. Extra arguments go
# to pytest, e.g. `bash scripts/test.sh -m slow` for the long checks.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
cd "$ZOO_ROOT" && exec python -m pytest -ra "$@"
