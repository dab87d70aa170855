#!/usr/bin/env bash
# Fresh machine to trained model: install, fetch the embedded emoji dataset once, train with the defaults.
# Extra arguments go to main.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/python scripts/prepare_emoji.py
.venv/bin/python main.py "$@"
