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
    options = vars(opt)
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
        """Redraw every progression plot from the CSVs (cheap: a few dozen points each)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for name in self.existing_tables():
            rows = self.table(name).rows()
            columns = [key for key in rows[0] if key != "epoch"] if rows else []
            if not columns:
                continue
            fig, ax = plt.subplots(figsize=(7, 4))
            epochs = [row["epoch"] for row in rows]
            for column in columns:
                ax.plot(epochs, [row[column] for row in rows], marker="o", label=column)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small", ncol=2)
            fig.tight_layout()
            fig.savefig(os.path.join(self.run_dir, f"progression_{name}.png"), dpi=90)
            plt.close(fig)

    def write_summary(self, summary):
        with open(os.path.join(self.run_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        if self.online is not None:
            self.online.summary(summary)

    def finish(self):
        if self.online is not None:
            self.online.finish()
