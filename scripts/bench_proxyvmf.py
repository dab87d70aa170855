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
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from criteria.proxyvmf_panc import el_nivmf_logits, nivmf_log_density  # noqa: E402
from utilities.vmf import sample_vmf  # noqa: E402


def per_image_logits(embeddings, directions, concentrations, temperature, n_samples):
    rows = []
    for embedding in embeddings:
        kappa = embedding.norm()
        samples = sample_vmf(F.normalize(embedding, dim=0)[None], kappa[None], n_samples)[:, 0]  # S x D
        log_density = nivmf_log_density(samples, directions, concentrations)  # S x C
        rows.append(torch.logsumexp(log_density / temperature, dim=0) - math.log(n_samples))
    return torch.stack(rows)


def median_ms(logits_function, embeddings, labels, parameters, repeats):
    def step():
        x = embeddings.clone().requires_grad_(True)
        F.cross_entropy(logits_function(x, *parameters), labels).backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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
    directions = F.normalize(torch.randn(args.classes, args.dim, generator=generator), dim=1).requires_grad_(True)
    concentrations = torch.full((args.classes, args.dim), 10.0, requires_grad=True)
    temperature = torch.tensor(0.01, requires_grad=True)
    parameters = (directions, concentrations, temperature, args.samples)

    ours = median_ms(el_nivmf_logits, embeddings, labels, parameters, args.repeats)
    loop = median_ms(per_image_logits, embeddings, labels, parameters, args.repeats)
    print(f"batch {args.batch} x {args.dim} dims, {args.samples} samples, {args.classes} classes, "
          f"{args.threads} thread(s), median of {args.repeats} forward+backward")
    print(f"  vectorised (ours): {ours:8.2f} ms")
    print(f"  per-image loop   : {loop:8.2f} ms   loop / ours = {loop / ours:.1f}")


if __name__ == "__main__":
    main()
