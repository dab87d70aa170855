"""Forward + backward time of the terms added to a base loss (regularisers/), as a fraction of the base loss's.

    .venv/bin/python scripts/bench_terms.py [--threads 1] [--repeats 50] [--batch 90] [--dim 128] [--base multisimilarity]

Both are timed in this run on the same seeded batch of L2-normalised embeddings (--batch x --dim, 2 images per
class); the base loss runs with its default options and batchminer. Language guidance uses C x k x d class-name
embeddings as pseudo-label guidance makes them (k = 5 names, d = 384 for MiniLM). Times are medians of --repeats
runs after warm-up; fraction = term / base.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import criteria  # noqa: E402
import parameters  # noqa: E402
from regularisers.language_guidance import language_kl  # noqa: E402
from scripts.bench_losses import median_ms  # noqa: E402
from utilities.training import resolve_batchminer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batch", type=int, default=90)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--base", default="multisimilarity")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(0)
    num_classes = args.batch // 2
    labels = torch.arange(num_classes).repeat_interleave(2)[:args.batch]
    embeddings = F.normalize(torch.randn(args.batch, args.dim, generator=generator), dim=1)
    opt = parameters.parse_args(["--loss", args.base])
    base = criteria.select(args.base, opt, num_classes=num_classes, embed_dim=args.dim,
                           batchminer=resolve_batchminer(opt))
    names = torch.randn(num_classes, 5, 384, generator=generator)

    cpu = torch.device("cpu")
    base_time = median_ms(lambda x: base(x, labels), base, embeddings, args.repeats, 3, cpu)
    term_time = median_ms(lambda x: language_kl(x, labels, names), base, embeddings, args.repeats, 3, cpu)
    print(f"batch {args.batch} x {args.dim}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{args.base:>24}: {base_time:8.3f} ms")
    print(f"{'language guidance (k=5)':>24}: {term_time:8.3f} ms  = {term_time / base_time:.2f} x the base loss")


if __name__ == "__main__":
    main()
