#!/usr/bin/env bash
# Divide and conquer on the emoji default (README, "Divide and conquer"): the default job (multisimilarity, 8 epochs)
# without and with D&C, 3 seeds each. D&C: 4 clusters from the start (flat: the 8-epoch run is too short for top_bot's
# 1 -> 2 -> 4 doubling every 2 epochs), re-clustered every 2 epochs through epoch 6, then 2 epochs of the full
# embedding on the whole set; the TPAMI SOP command's mask settings (lambda 0.01, mask lr x100, mask wd x1).
# Then: .venv/bin/python scripts/aggregate.py <save_path> --epoch last
#   bash scripts/dnc_emoji.sh [save_path]   (default: runs/dnc_emoji)
set -euo pipefail
cd "$(dirname "$0")/.."
save=${1:-runs/dnc_emoji}
for seed in 0 1 2; do
  common=(--seed "$seed" --no_train_metrics --no_channels_last --save_path "$save")
  .venv/bin/python main.py "${common[@]}" --group ms_baseline
  .venv/bin/python main.py "${common[@]}" --group ms_dnc4 --dnc_nb_clusters 4 --dnc_hierarchy flat \
    --dnc_mod_epoch 2 --dnc_force_full_embedding_epoch 6 --dnc_masking_lambda 0.01 --dnc_mask_lr_mult 100 \
    --dnc_mask_wd_mult 1
done
