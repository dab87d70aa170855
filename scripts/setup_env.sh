#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup_env.sh        runtime dependencies
#   bash scripts/setup_env.sh test   runtime + test dependencies (pytest, pytorch-metric-learning, scikit-learn)
# The packages are installed with uv (from PyPI, into the venv): it downloads and unpacks in parallel, which takes
# about a third of pip's time for torch's CUDA wheels; pip is used when uv cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=requirements.txt
[[ "${1:-}" == "test" ]] && requirements=requirements-test.txt
[[ -x .venv/bin/python ]] || python3 -m venv .venv
if .venv/bin/python -m pip install -q uv; then
  # Bytecode compiled here, in parallel, rather than by the first import of every module.
  .venv/bin/python -m uv pip install -q --compile-bytecode --python .venv/bin/python -r "$requirements"
else
  echo "setup_env.sh: uv could not be installed; installing with pip instead" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$requirements"
fi
