#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup_env.sh        runtime dependencies
#   bash scripts/setup_env.sh test   runtime + test dependencies (pytest, pytorch-metric-learning, scikit-learn)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=requirements.txt
[[ "${1:-}" == "test" ]] && requirements=requirements-test.txt
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r "$requirements"
