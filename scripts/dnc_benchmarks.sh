#!/usr/bin/env bash
# Divide and conquer (Sanakoyeu et al., TPAMI 2021) on the five benchmarks: margin loss (margin 0.2, beta 1.2 fixed)
# with distance-weighted sampling, ResNet-50 with frozen BatchNorm, 512-d, Adam lr 1e-5 at a constant rate (the
# reference code never builds its scheduler, so its --lr-gamma does nothing), weight decay 1e-4, batch 80 of 2 images
# per class, learned masks (lambda 0.01, mask lr x100, mask wd x1), top_bot hierarchy, re-clustering every 2 epochs with
# the backbone frozen in the first epoch after each.
#
# Published settings: the reference repository (CompVis/metric-learning-divide-and-conquer-improved) gives one command,
# for SOP (K 32, 180 epochs, full embedding from epoch 80), used as is below. Neither it nor the parts of the paper we
# could read give K or the schedule for the other datasets: In-Shop and VehicleID (thousands of training classes, like
# SOP) reuse the SOP command; CUB and Cars (100 and 98 training classes) use K 4 (8 clusters of ~12 classes could not
# fill a batch of 40 classes) and the full embedding from epoch 60 of 150, as the CVPR 2019 authors advised for CUB in
# their issue tracker (#6). Expect to tune those four.
#
# The reference README's results (margin loss + distance sampling, learned masks; NMI, mARP = its mAP@R, recall@k, %):
#   CUB200     NMI 69.84  mARP 55.11  R@1/2/4/8   67.71 78.14 85.80 91.46
#   CARS196    NMI 70.10  mARP 65.54  R@1/2/4/8   86.90 92.34 95.41 97.45
#   SOP        NMI 89.68  mARP 79.60  R@1/10/100  79.80 90.46 95.26
#   In-Shop    NMI 89.88  mARP 88.50  R@1/10/20/30 90.49 97.48 98.23 98.51
#   VehicleID  NMI 90.70  mARP 92.68  R@1/5       93.93 95.99   (large test set)
# (its README: "slightly different from those on the paper", obtained with PyTorch 0.4.1 / Faiss 1.4.0).
#   bash scripts/dnc_benchmarks.sh <datapath> [gpu] [extra flags, e.g. --seed 1 --log_online --project X]
set -euo pipefail
cd "$(dirname "$0")/.."
datapath=${1:?usage: bash scripts/dnc_benchmarks.sh <datapath> [gpu] [extra flags]}
gpu=${2:-0}
extra=("${@:3}")
python=.venv/bin/python
common=(--gpu "$gpu" --source_path "$datapath" --loss margin --batch_mining distance --loss_margin_beta_constant
        --arch resnet50_frozen_normalize --embed_dim 512 --bs 80 --samples_per_class 2 --lr 1e-5 --decay 1e-4
        --scheduler none --no_train_metrics --dnc_mod_epoch 2 --dnc_mod_epoch_freeze 1 --dnc_masking_lambda 0.01
        --dnc_mask_lr_mult 100 --dnc_mask_wd_mult 1)

$python main.py "${common[@]}" --dataset cub200 --group CUB_DnC_K4 --n_epochs 150 --dnc_nb_clusters 4 \
  --dnc_force_full_embedding_epoch 60 "${extra[@]}"
$python main.py "${common[@]}" --dataset cars196 --group Cars_DnC_K4 --n_epochs 150 --dnc_nb_clusters 4 \
  --dnc_force_full_embedding_epoch 60 "${extra[@]}"
$python main.py "${common[@]}" --dataset online_products --group SOP_DnC_K32 --n_epochs 180 --dnc_nb_clusters 32 \
  --dnc_force_full_embedding_epoch 80 "${extra[@]}"
$python main.py "${common[@]}" --dataset inshop --group InShop_DnC_K32 --n_epochs 180 --dnc_nb_clusters 32 \
  --dnc_force_full_embedding_epoch 80 "${extra[@]}"
$python main.py "${common[@]}" --dataset vehicle_id --group VID_DnC_K32 --n_epochs 180 --dnc_nb_clusters 32 \
  --dnc_force_full_embedding_epoch 80 "${extra[@]}"
