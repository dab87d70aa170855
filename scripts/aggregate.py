"""Mean and spread over seeds of the run folders under a save path, grouped by --group, as a Markdown table.

    .venv/bin/python scripts/aggregate.py <save_path or run folders ...> [--split test] [--epoch last|best]
        [--metrics e_recall@1 mAP_R]

Reads only the run folders (options.json and <split>_embeds.csv). --epoch last takes every run's final epoch (no
selection on the evaluated split); --epoch best takes the epoch with the highest value of the first metric.
Spread is the sample standard deviation (n - 1) over the seeds of a group.
"""
import argparse
import csv
import json
from pathlib import Path

import numpy as np


def run_folders(paths):
    for path in map(Path, paths):
        yield from sorted(p.parent for p in path.rglob("options.json"))


def read_rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def collect(paths, split, epoch_rule, metrics):
    groups = {}
    for folder in run_folders(paths):
        table = folder / f"{split}_embeds.csv"
        if not table.is_file():
            continue
        options = json.loads((folder / "options.json").read_text())
        rows = read_rows(table)
        row = rows[-1] if epoch_rule == "last" else max(rows, key=lambda r: r[metrics[0]])
        groups.setdefault(options["group"], []).append((options["seed"], row))
    return groups


def markdown(groups, metrics):
    lines = ["| group | seeds | epoch | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 3) + "|"]
    for group, runs in sorted(groups.items()):
        cells = []
        for metric in metrics:
            values = np.array([row[metric] for _, row in runs])  # a NaN metric (e.g. an undefined AUROC) stays NaN
            spread = values.std(ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{values.mean():.4f} ± {spread:.4f}")
        epochs = sorted({int(row["epoch"]) for _, row in runs})
        seeds = ",".join(str(seed) for seed, _ in sorted(runs, key=lambda r: r[0]))
        lines.append(f"| {group} | {seeds} | {'/'.join(map(str, epochs))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--split", default="test")
    parser.add_argument("--epoch", choices=("last", "best"), default="last")
    parser.add_argument("--metrics", nargs="+", default=["e_recall@1", "mAP_R"])
    args = parser.parse_args()
    groups = collect(args.paths, args.split, args.epoch, args.metrics)
    if not groups:
        parser.error(f"no run folder with {args.split}_embeds.csv under {', '.join(args.paths)}")
    print(markdown(groups, args.metrics))


if __name__ == "__main__":
    main()
