#!/usr/bin/env bash
# Visual-prompt semantic proxies on the emoji default, on the CPU (README, "Visual-prompt semantic proxies"): a
# randomly initialised ViT-S/16 (no ViT weights ship offline) at 64 px, trained the parameter-efficient way with the
# paper's ViT-S CUB recipe (configs/vptsp_cub200_vit_small.yaml: 10 prompts x 12 blocks, BitFit, LayerNorm head,
# 3 class prompts x 12 blocks, 384-d, SGD at lr 5e-3, proxies at 0.1) at batch 32 for 4 epochs, the cosine
# schedules shortened to those 4 epochs. It shows the method running end to end on one machine; a frozen random
# transformer is no model to draw conclusions from.
#   bash scripts/vptsp_emoji.sh [save_path] [extra main.py flags]   (default save_path: runs/vptsp_emoji)
set -euo pipefail
cd "$(dirname "$0")/.."
save=${1:-runs/vptsp_emoji}
shift || true
.venv/bin/python main.py --config configs/vptsp_cub200_vit_small.yaml --dataset emoji \
  --arch vit_small_patch16_224_normalize --not_pretrained --crop_size 64 --bs 32 --n_epochs 4 \
  --lr_cosine_length 4 --no_channels_last --save_path "$save" --group vptsp_vit_s_random "$@"
