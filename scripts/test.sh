#!/usr/bin/env bash
# The whole test suite: lint, types, layer rules, then pytest (real model, real SQLite, real Qt offscreen,
# and a real window under Xvfb). Run after `scripts/setup.sh --dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"; "$V/ruff" check flynn_desktop tests benchmarks
echo "== mypy"; "$V/mypy"
echo "== import rules"; "$V/lint-imports"

# A virtual display for the tests that open a real window.
XVFB_PID=""
if command -v Xvfb >/dev/null 2>&1; then
  disp=":$((90 + RANDOM % 400))"
  Xvfb "$disp" -screen 0 1280x1024x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  export FLYNN_TEST_DISPLAY="$disp"
fi
trap '[ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true' EXIT

# The installers (tests/test_installer.py runs them): built once, then only when what they pack changes.
echo "== installers"; bash installer/build.sh

echo "== pytest"
set +e
"$V/python" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exits 5 when it collects nothing; that is a failure of the suite, not a pass.
exit $rc
