"""Forward + backward time of the EL-nivMF loss (criteria/proxyvmf_panc.py) against a per-image loop.

    .venv/bin/python scripts/bench_proxyvmf.py [--threads 1] [--repeats 20] [--batch 64] [--dim 512]
        [--samples 5] [--classes 100]

The reference is a direct translation of the paper's code structure (a Python loop over the batch; per image, the
S samples against all classes at once, as its log_ppk_vmf_vec does) built from the same sampler and log-normaliser,
so the comparison isolates the vectorisation (tests/test_criteria_probabilistic.py checks that the two agree on shared
samples). Both are timed in this run on the same seeded batch; times are medians of --repeats runs after warm-up.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from criteria.proxyvmf_panc import el_nivmf_logits, nivmf_log_density  # noqa: E402
from scripts.bench_losses import median_ms  # noqa: E402
from utilities.vmf import sample_vmf  # noqa: E402


def per_image_logits(embeddings, directions, concentrations, temperature, n_samples):
    rows = []
    for embedding in embeddings:
        kappa = embedding.norm()
        samples = sample_vmf(F.normalize(embedding, dim=0)[None], kappa[None], n_samples)[:, 0]  # S x D
        log_density = nivmf_log_density(samples, directions, concentrations)  # S x C
        rows.append(torch.logsumexp(log_density / temperature, dim=0) - math.log(n_samples))
    return torch.stack(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--classes", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(args.batch, args.dim, generator=generator) * 3
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator)
    directions = torch.nn.Parameter(F.normalize(torch.randn(args.classes, args.dim, generator=generator), dim=1))
    concentrations = torch.nn.Parameter(torch.full((args.classes, args.dim), 10.0))
    temperature = torch.nn.Parameter(torch.tensor(0.01))
    parameters = (directions, concentrations, temperature, args.samples)
    holder = torch.nn.ParameterList([directions, concentrations, temperature])  # zero_grad between runs
    cpu = torch.device("cpu")

    ours = median_ms(lambda x: F.cross_entropy(el_nivmf_logits(x, *parameters), labels), holder, embeddings,
                     args.repeats, 3, cpu)
    loop = median_ms(lambda x: F.cross_entropy(per_image_logits(x, *parameters), labels), holder, embeddings,
                     args.repeats, 3, cpu)
    print(f"batch {args.batch} x {args.dim} dims, {args.samples} samples, {args.classes} classes, "
          f"{args.threads} thread(s), median of {args.repeats} forward+backward")
    print(f"  vectorised (ours): {ours:8.2f} ms")
    print(f"  per-image loop   : {loop:8.2f} ms   loop / ours = {loop / ours:.1f}")


if __name__ == "__main__":
    main()
