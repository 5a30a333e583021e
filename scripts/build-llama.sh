#!/usr/bin/env bash
# Build (or reuse) a llama-cpp-python wheel and install it into the venv of PYTHON.
#   build-llama.sh PYTHON             compiled for the CPU this runs on (make run, make test)
#   build-llama.sh PYTHON --portable  for every x86-64 CPU (the installers): llama.cpp's CPU kernels as
#                                     loadable variants (x64, sse42, sandybridge, haswell, skylakex, ...),
#                                     the best one chosen at run time (providers/llama_backends.py)
#
# pip's own wheel cache is keyed by the sdist, not by CMAKE_ARGS, so a wheel built with the wrong flags
# would be reused silently (ENVIRONMENT.md). We keep our own cache, keyed by version + flags.
set -euo pipefail
PY="${1:?usage: build-llama.sh PYTHON [--portable]}"
PORTABLE=0
[ "${2:-}" = "--portable" ] && PORTABLE=1
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
CACHE="${FLYNN_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flynn-desktop/wheels}"

arch="$(uname -m)"
flags=""
if [ "$PORTABLE" = 1 ]; then
  flags="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
elif [ "$arch" = "x86_64" ] || [ "$arch" = "amd64" ]; then
  cpu="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)"
  has() { [[ " $cpu " == *" $1 "* ]]; }
  missing=()
  for f in avx avx2 fma f16c; do has "$f" || missing+=("$f"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "flynn: this CPU lacks ${missing[*]}, which the local model build needs." >&2
    echo "flynn: Flynn can still use Ollama or a cloud tier; the bundled model cannot run here." >&2
    exit 3
  fi
  flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  if has avx512f && has avx512bw && has avx512vl; then
    flags="$flags -DGGML_AVX512=ON"
    has avx512_vnni && flags="$flags -DGGML_AVX512_VNNI=ON"
    has avx512_bf16 && flags="$flags -DGGML_AVX512_BF16=ON"
    has avx512vbmi && flags="$flags -DGGML_AVX512_VBMI=ON"
  fi
else
  # ARM and others: a portable build; llama.cpp picks NEON etc. at compile time from the target.
  flags="-DGGML_NATIVE=OFF"
fi

key="$(printf '%s|%s|%s|%s' "$VERSION" "$arch" "$flags" "$("$PY" -c 'import sys;print(sys.version_info[:2])')" | sha256sum | cut -c1-16)"
dir="$CACHE/llama-cpp-python-$VERSION-$key"
if "$PY" -c "import json,sys,importlib.metadata as m; d=m.distribution('llama_cpp_python'); sys.exit(0 if d.version=='$VERSION' and (d.read_text('flynn_build_key') or '').strip()=='$key' else 1)" 2>/dev/null; then
  echo "flynn: llama-cpp-python $VERSION already built ($flags)"
  exit 0
fi
if ! ls "$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  if [ "$PORTABLE" = 1 ]; then
    echo "flynn: building llama-cpp-python $VERSION for every x86-64 CPU (a kernel per CPU family: 15-25 minutes on 2 cores)"
  else
    echo "flynn: building llama-cpp-python $VERSION for this CPU (4-6 minutes on 2 cores)"
  fi
  echo "flynn: CMAKE_ARGS=$flags"
  mkdir -p "$dir.tmp"
  CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PY" -m pip wheel --no-cache-dir --no-deps -w "$dir.tmp" "llama-cpp-python==$VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
"$PY" -m pip install --no-cache-dir --force-reinstall --no-deps "$dir"/llama_cpp_python-*.whl
"$PY" -m pip install "llama-cpp-python==$VERSION"   # its pure-Python dependencies
# Remember which flags this install was built with, so a later run can tell a stale build.
info="$("$PY" -c 'import importlib.metadata as m,os; d=m.distribution("llama_cpp_python"); print(d._path)')"
echo "$key" > "$info/flynn_build_key"
echo "$flags" > "$info/flynn_build_flags"
# A portable build's kernels are moved below, so pip doesn't know them: an earlier build's go first.
site="$(dirname "$info")"
rm -f "$site"/llama_cpp/lib/*ggml-cpu-*
if [ "$PORTABLE" = 1 ]; then
  # ggml installs its CPU kernels as programs (site-packages/bin); they belong beside libggml, where
  # Flynn loads the best one for the CPU (providers/llama_backends.py) and PyInstaller collects them.
  mv -f "$site"/bin/libggml-cpu-*.so "$site/llama_cpp/lib/"
  echo "flynn: $(ls "$site/llama_cpp/lib/" | grep -c 'ggml-cpu-') CPU kernels in $site/llama_cpp/lib"
fi
