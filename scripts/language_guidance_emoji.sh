#!/usr/bin/env bash
# Language guidance on the emoji default (README, "Language guidance"): multisimilarity alone, with pseudo-label
# guidance and with expert guidance (the emoji short names), 3 seeds each, the default job's other settings.
# Then: .venv/bin/python scripts/aggregate.py <save_path> --epoch last
#   bash scripts/language_guidance_emoji.sh [save_path]   (default: runs/language_guidance)
set -euo pipefail
cd "$(dirname "$0")/.."
save=${1:-runs/language_guidance}
for seed in 0 1 2; do
  common=(--seed "$seed" --no_train_metrics --no_channels_last --save_path "$save")
  .venv/bin/python main.py "${common[@]}" --group ms_baseline
  .venv/bin/python main.py "${common[@]}" --group ms_pseudolang --language_distill_w 7.5 --language_pseudoclass
  .venv/bin/python main.py "${common[@]}" --group ms_expertlang --language_distill_w 7.5
done
