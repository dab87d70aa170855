#!/usr/bin/env bash
# The language-guidance paper's benchmark runs (Roth, Vinyals, Akata, CVPR 2022; its
# language_guidance_benchmark_runs.sh), each with its multisimilarity baseline: ResNet-50 with frozen BatchNorm,
# 128-d and 512-d, CUB200-2011 and CARS196, the paper's seeds, epochs, batch sizes and guidance weights.
# The paper's best ResNet-50 results with language guidance are R@1 71.4 (CUB) and 90.2 (Cars) at 512-d; its
# Table 1 has the per-setting figures. Its own schedule suggestions are in the comments (--tau/--gamma).
# Pseudo-label guidance needs the backbone's ImageNet head (so not --not_pretrained); the language model is MiniLM
# unless you add --language_model clip with the CLIP weights on disk (the paper's choice).
#   bash scripts/language_guidance_benchmarks.sh <datapath> [gpu] [extra flags, e.g. --log_online --project X]
set -euo pipefail
cd "$(dirname "$0")/.."
datapath=${1:?usage: bash scripts/language_guidance_benchmarks.sh <datapath> [gpu] [extra flags]}
gpu=${2:-0}
extra=("${@:3}")
python=.venv/bin/python

### CUB200, ResNet-50, 128-d (paper's suggested schedule: --tau 28 --gamma 0.25)
$python main.py --seed 2 --group cub200-rn128_msim_baseline --no_train_metrics --gpu "$gpu" --source_path "$datapath" \
  --dataset cub200 --n_epochs 200 --tau 200 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 \
  --loss multisimilarity --bs 90 "${extra[@]}"
$python main.py --seed 2 --group cub200-rn128_msim_plg --no_train_metrics --gpu "$gpu" --source_path "$datapath" \
  --dataset cub200 --n_epochs 200 --tau 200 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 \
  --loss multisimilarity --bs 90 --language_pseudoclass --language_distill_w 7.5 "${extra[@]}"

### CUB200, ResNet-50, 512-d (suggested schedule: --tau 34 --gamma 0.25)
$python main.py --seed 0 --group cub200-rn512_msim_baseline --no_train_metrics --gpu "$gpu" --source_path "$datapath" \
  --dataset cub200 --n_epochs 150 --tau 150 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 512 \
  --loss multisimilarity --bs 90 "${extra[@]}"
$python main.py --seed 0 --group cub200-rn512_msim_plg --no_train_metrics --gpu "$gpu" --source_path "$datapath" \
  --dataset cub200 --n_epochs 150 --tau 150 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 512 \
  --loss multisimilarity --bs 90 --language_pseudoclass --language_distill_w 10 "${extra[@]}"

### CARS196, ResNet-50, 128-d (suggested schedule: --tau 102 --gamma 0.25)
$python main.py --seed 1 --group cars196-rn128_msim_baseline --gpu "$gpu" --source_path "$datapath" \
  --dataset cars196 --n_epochs 250 --tau 250 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 \
  --loss multisimilarity --bs 108 "${extra[@]}"
$python main.py --seed 1 --group cars196-rn128_msim_plg --gpu "$gpu" --source_path "$datapath" \
  --dataset cars196 --n_epochs 250 --tau 250 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 \
  --loss multisimilarity --bs 108 --language_pseudoclass --language_distill_w 6 "${extra[@]}"

### CARS196, ResNet-50, 512-d (suggested schedule: --tau 107 --gamma 0.25)
$python main.py --seed 0 --group cars196-rn512_msim_baseline --gpu "$gpu" --source_path "$datapath" \
  --dataset cars196 --n_epochs 250 --tau 250 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 512 \
  --loss multisimilarity --bs 108 "${extra[@]}"
$python main.py --seed 0 --group cars196-rn512_msim_plg --gpu "$gpu" --source_path "$datapath" \
  --dataset cars196 --n_epochs 250 --tau 250 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 512 \
  --loss multisimilarity --bs 108 --language_pseudoclass --language_distill_w 5.5 "${extra[@]}"
