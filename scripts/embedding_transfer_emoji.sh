#!/usr/bin/env bash
# Embedding transfer on the emoji default (README, "Embedding transfer"): a 512-d teacher (the default job:
# efficientnet_lite0, multisimilarity; proxy-anchor at the emoji job's lr fell below its epoch-0 recall in a trial),
# then a 64-d efficientnet_lite0 student trained from labels with the default job (plain) or from the teacher with the
# relaxed contrastive loss on two views per image, 3 seeds each. Both students are L2-normalised (the paper's are not)
# so that both are evaluated alike.
# Then: .venv/bin/python scripts/aggregate.py <save_path> --epoch last
#   bash scripts/embedding_transfer_emoji.sh [save_path]   (default: runs/embedding_transfer)
set -euo pipefail
cd "$(dirname "$0")/.."
save=${1:-runs/embedding_transfer}
.venv/bin/python main.py --seed 0 --no_train_metrics --no_channels_last --save_path "$save" --group teacher_ms512 --embed_dim 512
teacher=$save/emoji/teacher_ms512_s0
for seed in 0 1 2; do
  common=(--seed "$seed" --no_train_metrics --no_channels_last --save_path "$save" --arch efficientnet_lite0_frozen_normalize --embed_dim 64)
  .venv/bin/python main.py "${common[@]}" --group student64_ms
  .venv/bin/python main.py "${common[@]}" --group student64_relaxed --loss relaxed_contrastive --views 2 \
    --teacher "$teacher"
done
