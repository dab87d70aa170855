"""Forward + backward time of every registered loss against its pytorch-metric-learning (PML) equivalent.

    .venv/bin/python scripts/bench_losses.py [--threads 1] [--repeats 30] [--losses triplet npair ...]

Each loss runs with its default options and default batchminer on the same seeded batch: 112 L2-normalised
512-d embeddings, 56 classes x 2 images (28 x 4 where the loss needs more positives per class), labels drawn from
--num_classes classes (the proxy losses' class count). The PML side gets the equivalent loss configured with our option
values, and PML's DistanceWeightedMiner where ours uses the `distance` miner; lifted, npair and angular compare against
PML's losses over all pairs, which is what our `lifted`/`npair` miners give them. Times are the median of --repeats
runs after warm-up; ratio = ours / PML, so below 1 means ours is faster. Losses of ours without a PML counterpart are
timed alone; losses listed here but not (yet) registered are skipped with a note.
"""
import argparse
import math
import os
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import criteria  # noqa: E402
import parameters  # noqa: E402
from utilities.training import resolve_batchminer  # noqa: E402

BATCH, DIM = 112, 512


def pml_miner(opt, miner_name):
    from pytorch_metric_learning import miners
    if miner_name == "distance":
        return miners.DistanceWeightedMiner(cutoff=opt.miner_distance_lower_cutoff,
                                            nonzero_loss_cutoff=opt.miner_distance_upper_cutoff)
    return None


def pml_equivalent(name, opt, num_classes):
    """The PML loss matching ours with our option values, and its samples per class; None when PML has none."""
    from pytorch_metric_learning import losses as pml
    from pytorch_metric_learning.distances import LpDistance
    builders = {
        "triplet": lambda: pml.TripletMarginLoss(margin=opt.loss_triplet_margin, distance=LpDistance(
            normalize_embeddings=False, power=2 if opt.loss_triplet_distance == "squared" else 1)),
        "contrastive": lambda: pml.ContrastiveLoss(pos_margin=opt.loss_contrastive_pos_margin,
                                                   neg_margin=opt.loss_contrastive_neg_margin),
        "margin": lambda: pml.MarginLoss(margin=opt.loss_margin_margin, nu=opt.loss_margin_nu,
                                         beta=opt.loss_margin_beta, learn_beta=not opt.loss_margin_beta_constant,
                                         num_classes=num_classes),
        "multisimilarity": lambda: pml.MultiSimilarityLoss(alpha=opt.loss_multisimilarity_pos_weight,
                                                           beta=opt.loss_multisimilarity_neg_weight,
                                                           base=opt.loss_multisimilarity_thresh),
        "proxyanchor": lambda: pml.ProxyAnchorLoss(num_classes, DIM, margin=opt.loss_proxyanchor_delta,
                                                   alpha=opt.loss_proxyanchor_alpha),
        # PML's NCA scales squared distances of unit vectors; ours puts both on a sphere of radius `scale`.
        "proxynca": lambda: pml.ProxyNCALoss(num_classes, DIM, softmax_scale=opt.loss_proxynca_scale ** 2),
        "softmax": lambda: pml.NormalizedSoftmaxLoss(num_classes, DIM, temperature=opt.loss_softmax_temperature),
        "arcface": lambda: pml.ArcFaceLoss(num_classes, DIM, margin=math.degrees(opt.loss_arcface_angular_margin),
                                           scale=opt.loss_arcface_feature_scale),
        "softtriplet": lambda: pml.SoftTripleLoss(num_classes, DIM, centers_per_class=opt.loss_softtriplet_n_centroids,
                                                  la=opt.loss_softtriplet_lambda, gamma=opt.loss_softtriplet_gamma,
                                                  margin=opt.loss_softtriplet_margin_delta),
        "lifted": lambda: pml.GeneralizedLiftedStructureLoss(neg_margin=opt.loss_lifted_neg_margin, pos_margin=0),
        "npair": lambda: pml.NPairsLoss(),
        "snr": lambda: pml.SignalToNoiseRatioContrastiveLoss(),
        "angular": lambda: pml.AngularLoss(alpha=opt.loss_angular_alpha),
        # PML counts intervals, ours (like Roth) the nodes that bound them.
        "histogram": lambda: pml.HistogramLoss(n_bins=opt.loss_histogram_nbins - 1),
        "circle": lambda: pml.CircleLoss(m=opt.loss_circle_m, gamma=opt.loss_circle_gamma),
        "supcon": lambda: pml.SupConLoss(temperature=opt.loss_supcon_temperature),
    }
    samples_per_class = {"histogram": 4}.get(name, 2)
    return (builders[name]() if name in builders else None), samples_per_class


KNOWN = ["triplet", "contrastive", "margin", "multisimilarity", "proxyanchor", "proxynca", "softmax", "arcface",
         "softtriplet", "lifted", "npair", "snr", "angular", "histogram", "circle", "supcon"]


def seeded_batch(samples_per_class, num_classes, seed, device):
    generator = torch.Generator().manual_seed(seed)
    classes = torch.randperm(num_classes, generator=generator)[:BATCH // samples_per_class]
    labels = classes.repeat_interleave(samples_per_class)
    embeds = F.normalize(torch.randn(BATCH, DIM, generator=generator), dim=1)
    return embeds.to(device), labels.to(device)


def median_ms(step, module, embeds, repeats, warmup, device):
    times = []
    for i in range(warmup + repeats):
        x = embeds.clone().requires_grad_()
        module.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(x).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench(name, args, device, notes):
    opt = parameters.parse_args(["--loss", name, "--embed_dim", str(DIM), "--bs", str(BATCH)])
    ours = criteria.select(name, opt, num_classes=args.num_classes, embed_dim=DIM,
                           batchminer=resolve_batchminer(opt)).to(device)
    if ours.NEEDS:
        notes.append(f"{name}: skipped, it needs {', '.join(sorted(ours.NEEDS))} from the model.")
        return None
    try:
        theirs, samples_per_class = pml_equivalent(name, opt, args.num_classes)
    except AttributeError as missing:
        notes.append(f"{name}: no PML timing, the mapping reads an option ours does not declare ({missing}).")
        theirs, samples_per_class = None, 2
    embeds, labels = seeded_batch(samples_per_class, args.num_classes, args.seed, device)
    torch.manual_seed(args.seed)
    our_ms = median_ms(lambda x: ours(x, labels), ours, embeds, args.repeats, args.warmup, device)
    if theirs is None:
        return name, our_ms, None, "no PML equivalent"
    miner_name = getattr(ours.batchminer, "registry_name", None)
    miner = pml_miner(opt, miner_name)
    if miner_name not in (None, "distance", "lifted", "npair"):
        notes.append(f"{name}: PML has no '{miner_name}' miner; its loss uses all tuples.")
    theirs = theirs.to(device)

    def their_step(x):
        return theirs(x, labels, miner(x, labels)) if miner is not None else theirs(x, labels)

    torch.manual_seed(args.seed)
    their_ms = median_ms(their_step, theirs, embeds, args.repeats, args.warmup, device)
    described = type(theirs).__name__ + (f" + {type(miner).__name__}" if miner is not None else "")
    return name, our_ms, their_ms, f"{described} ({BATCH // samples_per_class}x{samples_per_class})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default=1, type=int, help="torch.set_num_threads for both sides.")
    parser.add_argument("--repeats", default=30, type=int, help="Timed runs per loss; the median is reported.")
    parser.add_argument("--warmup", default=3, type=int, help="Untimed runs first.")
    parser.add_argument("--num_classes", default=100, type=int, help="Classes of the proxy-based losses.")
    parser.add_argument("--seed", default=0, type=int)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i].")
    parser.add_argument("--losses", nargs="+", default=None, help="Only these losses (default: all).")
    args = parser.parse_args()
    # PML's HistogramLoss indexes with lists, which torch deprecates; the warning is theirs and says nothing here.
    warnings.filterwarnings("ignore", category=UserWarning, module="pytorch_metric_learning")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    registered = criteria.REGISTRY.names()
    wanted = args.losses or sorted(set(registered) | set(KNOWN))
    notes = [f"{name}: not registered yet, skipped." for name in wanted if name not in registered]
    rows = []
    for name in wanted:
        row = bench(name, args, device, notes) if name in registered else None
        if row is not None:
            rows.append(row)

    print(f"batch {BATCH}, dim {DIM}, {args.threads} thread(s), {args.device}, median of {args.repeats}; "
          "ratio = ours / PML")
    print(f"{'loss':<16} {'ours ms':>9} {'PML ms':>9} {'ratio':>7}  PML equivalent")
    for name, our_ms, their_ms, described in rows:
        their = f"{their_ms:9.2f}" if their_ms is not None else f"{'-':>9}"
        ratio = f"{our_ms / their_ms:7.2f}" if their_ms is not None else f"{'-':>7}"
        print(f"{name:<16} {our_ms:9.2f} {their} {ratio}  {described}")
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
