#!/usr/bin/env bash
# Fresh machine to test report: install runtime and test dependencies, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test
.venv/bin/python scripts/prepare_emoji.py  # the real embedded dataset, checked by the tests
.venv/bin/python -m pytest tests --durations=15 "$@"
