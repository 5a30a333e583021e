#!/usr/bin/env bash
# Print the command of a Python 3.11 or newer that runs (a pyenv shim can exist for a version that
# isn't selected), newest first; exit 1 when there is none. For scripts/setup.sh and installer/build.sh.
for c in python3.13 python3.12 python3.11 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "$c"
    exit 0
  fi
done
exit 1
