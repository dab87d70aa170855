"""Everything a run writes besides checkpoints: options, per-epoch CSVs, progression plots, summary, W&B.

Run folder layout (<save_path>/<dataset>/<group>_s<seed>/):
  options.json / options.txt      the full options of the run
  train.csv                       epoch, mean loss, learning rates, epoch time
  <split>_<evaltype>.csv          epoch and every evaluation metric (e.g. test_embeds.csv, val_embeds.csv)
  progression_*.png               the same curves as plots
  summary.json                    last and best value of every metric, wall time
  checkpoint_last.pth, checkpoint_best_<metric>.pth
"""
import csv
import json
import logging
import os

from utilities.options import saved_options

LOG = logging.getLogger(__name__)


def create_run_dir(save_path, dataset, group, seed):
    """A fresh run folder; an existing one is never overwritten (a numeric suffix is added instead)."""
    base = os.path.join(save_path, dataset, f"{group}_s{seed}")
    path, counter = base, 1
    while os.path.exists(path):
        path = f"{base}_{counter}"
        counter += 1
    os.makedirs(path)
    if path != base:
        LOG.info("%s already exists; writing this run to %s", base, path)
    return path


def write_options(run_dir, opt):
    """options.json and options.txt, without secrets (see utilities/options.py)."""
    options = saved_options(opt)
    with open(os.path.join(run_dir, "options.json"), "w") as f:
        json.dump(options, f, indent=2, sort_keys=True)
    with open(os.path.join(run_dir, "options.txt"), "w") as f:
        f.writelines(f"{key}: {options[key]}\n" for key in sorted(options))


def read_options(run_dir):
    path = os.path.join(run_dir, "options.json")
    with open(path) as f:
        return json.load(f)


class CsvTable:
    """One CSV of per-epoch rows; the columns are fixed by the first row written."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def append(self, row):
        exists = os.path.exists(self.path)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if not exists:
                writer.writeheader()
            writer.writerow(row)

    def rows(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def truncate_after(self, epoch):
        """Drop rows written after `epoch` (a run interrupted after logging but before its checkpoint)."""
        rows = [row for row in self.rows() if row["epoch"] <= epoch]
        if not rows:
            if os.path.exists(self.path):
                os.remove(self.path)
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: (int(v) if k == "epoch" else v) for k, v in row.items()} for row in rows)
        os.replace(tmp, self.path)


class RunLogger:
    def __init__(self, run_dir, opt, online=None):
        self.run_dir = run_dir
        self.online = online
        self.tables = {}

    def table(self, name):
        if name not in self.tables:
            self.tables[name] = CsvTable(os.path.join(self.run_dir, f"{name}.csv"))
        return self.tables[name]

    def existing_tables(self):
        return [name[:-4] for name in sorted(os.listdir(self.run_dir)) if name.endswith(".csv")]

    def truncate_after(self, epoch):
        for name in self.existing_tables():
            self.table(name).truncate_after(epoch)

    def log(self, name, epoch, values):
        self.table(name).append({"epoch": epoch, **values})
        if self.online is not None:
            self.online.log({f"{name}/{key}": value for key, value in values.items()}, epoch)

    def plot(self):
        """Redraw every progression plot from the CSVs (cheap: a few dozen points each), one panel per family."""
        from utilities.plots import plot_progression

        for name in self.existing_tables():
            plot_progression(self.table(name).rows(), name, os.path.join(self.run_dir, f"progression_{name}.png"))

    def write_summary(self, summary):
        """summary.json, replaced atomically: a reader (or a kill) never sees half of it."""
        path = os.path.join(self.run_dir, "summary.json")
        with open(path + ".tmp", "w") as f:
            json.dump(summary, f, indent=2)
        os.replace(path + ".tmp", path)
        if self.online is not None:
            self.online.summary(summary)

    def finish(self):
        if self.online is not None:
            self.online.finish()
