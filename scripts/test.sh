#!/usr/bin/env bash
# Runs the default (fast) test suite after setting the machine up. Extra arguments go
# to pytest, e.g. `bash scripts/test.sh -m slow` for the long checks.
ZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ZOO_ROOT/scripts/setup.sh" || exit 1
# Fashion-MNIST, which the tests use (the demo does not): Debian's package where apt exists.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
    || echo "[setup] could not install dataset-fashion-mnist; Fashion-MNIST needs \$ZOO_DATA_DIR or TFDS"
fi
# The web export's browser test: Debian's Chromium (headless), and the LiteRT.js runtime
# pinned by web/package-lock.json (npm ci; Node.js from Debian where it is missing).
if { ! command -v chromium >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; } \
    && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing chromium and npm (Debian packages) for the browser test"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  PACKAGES="chromium"; command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq $PACKAGES >/dev/null \
    || echo "[setup] could not install $PACKAGES; the browser tests will be skipped"
fi
if [ ! -d "$ZOO_ROOT/web/node_modules" ] && command -v npm >/dev/null 2>&1; then
  echo "[setup] installing the LiteRT.js runtime (npm ci in web/)"
  (cd "$ZOO_ROOT/web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "[setup] npm ci in web/ failed; the web export tests will fail"
fi
cd "$ZOO_ROOT" || exit 1
# The linter first (pyflakes, pycodestyle, import order; settings in pyproject.toml): seconds.
python -m ruff check . || exit 1
exec python -m pytest -ra --durations=15 "$@"
