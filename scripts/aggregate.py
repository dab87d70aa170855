"""Mean ± sample standard deviation over seeds of every metric a group of runs logged, at the epoch each run chose.

    .venv/bin/python scripts/aggregate.py <save_path or run folders ...> [--split test] [--epoch best|last]
        [--select METRIC] [--metrics e_recall@1 mAP_R ...] [--markdown FILE] [--latex FILE] [--csv FILE]
    .venv/bin/python scripts/aggregate.py --wandb <entity/project> [the same options]

Runs are grouped by their --group (options.json; on W&B the run's group), one run per seed. From the run folders alone
(options.json, summary.json, <split>_<evaltype>.csv), or with --wandb from the same values the runs logged to W&B.

Metrics: by default every column of the split's CSVs, all evaluation types; a metric of `embeds` is named as logged
(e_recall@1), one of another evaluation type with the type in front (features/e_recall@1).

Epoch: by default (--epoch best) the epoch each run chose its best checkpoint at: the best value of the first
--storage_metrics entry of its options, on its selection split (val with --use_tv_split, else test) and its first
--evaltypes entry, as its summary.json records it (recomputed from the CSV by the run's rule, the first epoch with a
value above every earlier one, where the summary lacks it). --select METRIC applies that rule to another metric of the
selection split; --epoch last takes each run's last evaluated epoch.

Each group reports n, its seeds, the chosen epoch of each seed and mean ± sample std (n - 1) of every metric; with one
seed the std is n/a, a metric NaN for some seed stays NaN (the cell says for how many), a metric the group did not log
reads "not logged". Markdown goes to stdout; --markdown, --latex (a tabular to \\input) and --csv (one row per group:
n, seeds, epochs, <metric>_mean, <metric>_std) write files.
"""
import argparse
import csv
import dataclasses
import io
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's utilities, run from anywhere

from utilities.errors import ConfigError  # noqa: E402

LOG = logging.getLogger("aggregate")

DEFAULT_EVALTYPE = "embeds"
# The most to wait for one W&B API request (the credential check has its own, shorter limit).
WANDB_TIMEOUT_S = 30
NOT_LOGGED = "not logged"


@dataclasses.dataclass
class RunData:
    """One run as aggregation needs it, from a run folder or from W&B."""
    name: str  # the folder or W&B run, for messages
    group: str
    seed: int
    options: dict
    summary: dict  # summary.json's content; empty when the run wrote none
    tables: dict  # table name (test_embeds, val_features, ...) -> {epoch: {metric: value}}


@dataclasses.dataclass
class GroupResult:
    group: str
    seeds: list
    epochs: list  # the chosen epoch of each seed, in the order of `seeds`
    values: dict  # metric -> the seeds' values in that order, or None when the group did not log it


@dataclasses.dataclass
class Table:
    metrics: list
    groups: list


def metric_name(evaltype, metric):
    return metric if evaltype == DEFAULT_EVALTYPE else f"{evaltype}/{metric}"


def parse_metric(name):
    """(evaltype, metric) of a metric as the tables name it."""
    evaltype, _, metric = name.rpartition("/")
    return evaltype or DEFAULT_EVALTYPE, metric


def make_run(name, options, summary, tables):
    for key in ("group", "seed"):
        if key not in options:
            raise ConfigError(f"{name}: its options have no '{key}'; aggregate.py reads runs written by main.py.")
    return RunData(name, str(options["group"]), int(options["seed"]), options, summary or {}, tables)


# ---- run folders ----

def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read as JSON ({error}); a run folder's options.json and summary.json "
                          f"are written by main.py.") from error


def read_table(path):
    """{epoch: {metric: value}} of one CSV; empty cells are left out."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return {int(float(row["epoch"])): {k: float(v) for k, v in row.items() if k != "epoch" and v != ""}
                for row in rows}
    except (KeyError, ValueError) as error:
        raise ConfigError(f"{path}: not a per-epoch table (an 'epoch' column and numbers expected): {error}") from None


def load_folders(paths):
    folders = {}  # resolved -> as found: a folder given itself and inside a save path is one run
    for path in map(Path, paths):
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder: give a save path or run folders (with options.json).")
        found = sorted(p.parent for p in path.rglob("options.json"))
        if not found:
            raise ConfigError(f"{path}: no run folder (a folder with options.json) in it; give the --save_path of "
                              f"main.py runs or their run folders.")
        for folder in found:
            folders.setdefault(folder.resolve(), folder)
    runs = []
    for folder in folders.values():
        summary = folder / "summary.json"
        tables = {p.stem: read_table(p) for p in sorted(folder.glob("*.csv"))}
        runs.append(make_run(str(folder), read_json(folder / "options.json"),
                             read_json(summary) if summary.is_file() else {}, tables))
    return runs


# ---- W&B ----

def open_wandb():
    """wandb.Api() once the server is known to be reachable and to accept our credentials: the Api itself would
    prompt for a key, or retry an unreachable server for minutes."""
    try:
        import wandb
    except ImportError as error:
        raise ConfigError("--wandb needs the wandb package: pip install wandb") from error
    from utilities.online_logging import check_credentials, find_credentials
    try:
        auth = find_credentials()
    except Exception as error:  # noqa: BLE001 - a malformed key or unreadable settings
        raise ConfigError(f"--wandb: the W&B credentials are not usable ({error}); set WANDB_API_KEY or run "
                          f"`wandb login`.") from error
    if auth is None:
        raise ConfigError("--wandb: no W&B credentials; set WANDB_API_KEY or run `wandb login` (or aggregate the "
                          "run folders instead).")
    problem = check_credentials(auth)
    if problem:
        raise ConfigError(f"--wandb: the W&B server cannot be used ({problem}); check the network and the "
                          f"credentials, or aggregate the run folders instead.")
    return wandb.Api(timeout=WANDB_TIMEOUT_S)


def history_tables(rows):
    """The per-epoch tables from W&B history rows: our logger logs each table as {<table>/<metric>: value, epoch}.
    A resumed run logs the epochs after its last checkpoint again; the later row wins, as in its truncated CSV."""
    tables = {}
    for row in rows:
        if row.get("epoch") is None:
            continue
        epoch = int(float(row["epoch"]))
        for key, value in row.items():
            table, _, metric = key.partition("/")
            if metric and value is not None:  # wandb's own keys (_step, _runtime) have no table
                tables.setdefault(table, {}).setdefault(epoch, {})[metric] = float(value)
    return tables


def load_wandb(path, api=None):
    """The runs of W&B project `path` (entity/project); `api`: a wandb.Api (default: a checked real one)."""
    entity, _, project = path.partition("/")
    if not entity or not project or "/" in project:
        raise ConfigError(f"--wandb {path}: expected <entity>/<project>, e.g. my-team/DML.")
    api = api or open_wandb()
    runs = []
    try:
        for run in api.runs(path):
            name = f"W&B run {path}/{run.id} ({run.name})"
            options = dict(run.config)
            if not run.group or "seed" not in options:
                LOG.warning("%s: skipped, it has no group or seed (not logged by main.py).", name)
                continue
            options["group"] = run.group
            runs.append(make_run(name, options, dict(run.summary_metrics), history_tables(run.scan_history())))
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - wandb raises many types for a missing project or a lost connection
        raise ConfigError(f"--wandb {path}: the runs cannot be read ({type(error).__name__}: {error}); check the "
                          f"entity/project name and the connection.") from error
    if not runs:
        raise ConfigError(f"--wandb {path}: no runs logged by main.py in that project.")
    return runs


# ---- epoch choice ----

def first_best_epoch(rows, metric):
    """The epoch BestRecord.update keeps: the first whose value is above every earlier one (the first epoch counts
    even when NaN, and nothing beats a NaN after it, exactly as in the run)."""
    best = None
    for epoch in sorted(rows):
        value = rows[epoch][metric]
        if best is None or value > best[1]:
            best = (epoch, value)
    return best[0]


def selection_epoch(run, select):
    """The epoch `run` chose by its selection metric (or by `select`, a metric of its selection split)."""
    split = run.summary.get("selection_split") or ("val" if run.options.get("use_tv_split") else "test")
    own_evaltype = (run.options.get("evaltypes") or [DEFAULT_EVALTYPE])[0]
    storage = run.options.get("storage_metrics")
    if select is None and not storage:
        raise ConfigError(f"{run.name}: its options have no storage_metrics to select the epoch by; give --select "
                          f"METRIC or --epoch last.")
    evaltype, metric = parse_metric(select) if select else (own_evaltype, storage[0])
    table = f"{split}_{evaltype}"
    rows = run.tables.get(table)
    if not rows:
        raise ConfigError(f"{run.name}: no {table} values to select the epoch on (selection split {split}); "
                          f"its tables: {', '.join(sorted(run.tables)) or 'none'}.")
    missing = [epoch for epoch, row in rows.items() if metric not in row]
    if missing:
        raise ConfigError(f"{run.name}: {table} has no {metric} (at epoch {missing[0]}); its metrics: "
                          f"{', '.join(rows[missing[0]])}.")
    epoch = first_best_epoch(rows, metric)
    recorded = run.summary.get("best", {}).get(metric, {}).get("epoch")
    if recorded is not None and evaltype == own_evaltype:
        if recorded != epoch:
            LOG.warning("%s: its summary records epoch %d as best %s on %s, its %s values give %d; taking the "
                        "summary's (the run's best checkpoint).", run.name, recorded, metric, split, table, epoch)
        epoch = int(recorded)
    return epoch


def last_epoch(run, split):
    return max(epoch for name, rows in run.tables.items() if name.startswith(f"{split}_") for epoch in rows)


# ---- aggregation ----

def split_metrics(run, split):
    """{metric name: (table, column)} of every metric `run` logged on `split`, embeds first."""
    names = sorted((name for name in run.tables if name.startswith(f"{split}_")),
                   key=lambda name: (name != f"{split}_{DEFAULT_EVALTYPE}", name))
    found = {}
    for table in names:
        for row in run.tables[table].values():
            for column in row:
                found.setdefault(metric_name(table[len(split) + 1:], column), (table, column))
    return found


def aggregate(runs, split="test", epoch="best", select=None, metrics=None):
    if select and epoch == "last":
        raise ConfigError("--select chooses the epoch by a metric and --epoch last takes the last one: give one.")
    logged = {}
    for run in runs:
        found = split_metrics(run, split)
        if found:
            logged[run.name] = found
        else:
            LOG.warning("%s: skipped, it logged nothing on the %s split.", run.name, split)
    runs = [run for run in runs if run.name in logged]
    if not runs:
        raise ConfigError(f"no run logged metrics on the {split} split (<split>_<evaltype>.csv, e.g. "
                          f"{split}_embeds.csv); check --split and the paths.")
    groups = {}
    for run in sorted(runs, key=lambda r: (r.group, r.seed)):
        same = groups.setdefault(run.group, {})
        if run.seed in same:
            raise ConfigError(f"group {run.group} has two runs with seed {run.seed}: {same[run.seed].name} and "
                              f"{run.name} (a run started again?); give the folders of one run per seed.")
        same[run.seed] = run
    available = list(dict.fromkeys(name for found in logged.values() for name in found))
    metrics = [metric_name(*parse_metric(name)) for name in metrics or available]  # embeds/x is x
    unknown = [name for name in metrics if name not in available]
    if unknown:
        raise ConfigError(f"--metrics {' '.join(unknown)}: not logged on the {split} split by any run; logged: "
                          f"{', '.join(available)}.")
    results = []
    for group, members in groups.items():
        members = list(members.values())
        epochs = [last_epoch(run, split) if epoch == "last" else selection_epoch(run, select) for run in members]
        values = {metric: group_values(group, members, epochs, metric, logged) for metric in metrics}
        results.append(GroupResult(group, [run.seed for run in members], epochs, values))
    return Table(metrics, results)


def group_values(group, members, epochs, metric, logged):
    """The seeds' values of `metric` at their chosen epochs; None when no run of the group logged it."""
    having = [run for run in members if metric in logged[run.name]]
    if not having:
        return None
    if len(having) < len(members):
        lacking = [run.name for run in members if metric not in logged[run.name]]
        raise ConfigError(f"group {group}: {metric} was logged by some runs but not by {', '.join(lacking)}; give "
                          f"--metrics without it or aggregate those runs apart.")
    values = []
    for run, epoch in zip(members, epochs):
        table, column = logged[run.name][metric]
        row = run.tables[table].get(epoch, {})
        if column not in row:
            raise ConfigError(f"{run.name}: {table} has no {column} at the chosen epoch {epoch}.")
        values.append(row[column])
    nan_seeds = [run.seed for run, value in zip(members, values) if math.isnan(value)]
    if nan_seeds:
        LOG.warning("group %s: %s is NaN for seed(s) %s at the chosen epoch; its mean and std are NaN.", group,
                    metric, ", ".join(map(str, nan_seeds)))
    return values


def statistics(values):
    """(mean, sample std or None for one seed, number of NaN values)."""
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else None
    return float(array.mean()), std, int(np.isnan(array).sum())


# ---- output ----

def cells(table, plus_minus, escape=str):
    """Header and rows of text cells, the same for Markdown and LaTeX (which differ in `plus_minus` and in how the
    names are escaped)."""
    header = ["group", "n", "seeds", "epochs"] + [escape(metric) for metric in table.metrics]
    rows = []
    for result in table.groups:
        row = [escape(result.group), str(len(result.seeds)), ", ".join(map(str, result.seeds)),
               ", ".join(map(str, result.epochs))]
        for metric in table.metrics:
            values = result.values[metric]
            if values is None:
                row.append(NOT_LOGGED)
                continue
            mean, std, nans = statistics(values)
            if nans:
                row.append(f"NaN ({nans} of {len(values)} seeds)")
            else:
                row.append(f"{mean:.4f} {plus_minus} " + ("n/a" if std is None else f"{std:.4f}"))
        rows.append(row)
    return header, rows


def markdown(table):
    header, rows = cells(table, "±")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def latex_escape(text):
    # @ needs no escape: in a document body (and even under \makeatletter) it prints as itself.
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def latex(table):
    header, rows = cells(table, r"$\pm$", latex_escape)
    lines = [r"\begin{tabular}{lrll" + "c" * len(table.metrics) + "}", r"\hline", " & ".join(header) + r" \\",
             r"\hline"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def csv_text(table):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "n", "seeds", "epochs"] + [f"{m}_{s}" for m in table.metrics for s in ("mean", "std")])
    for result in table.groups:
        row = [result.group, len(result.seeds), " ".join(map(str, result.seeds)), " ".join(map(str, result.epochs))]
        for metric in table.metrics:
            values = result.values[metric]
            if values is None:
                row += ["", ""]
            else:
                mean, std, _ = statistics(values)
                row += [repr(mean), "n/a" if std is None else repr(std)]
        writer.writerow(row)
    return out.getvalue()


def write(path, text, flag):
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise ConfigError(f"{flag} {path}: cannot write it ({error}).") from error
    LOG.info("wrote %s", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="save paths or run folders (or --wandb)")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read the runs from this W&B project instead")
    parser.add_argument("--split", default="test", help="the split whose metrics are reported (test, val, train)")
    parser.add_argument("--epoch", choices=("best", "last"), default="best",
                        help="best: the epoch each run selected (its first storage metric on its selection split); "
                             "last: each run's last epoch")
    parser.add_argument("--select", metavar="METRIC", help="select the epoch by this metric of the selection split")
    parser.add_argument("--metrics", nargs="+", help="the metrics to report (default: all the split's)")
    parser.add_argument("--markdown", metavar="FILE")
    parser.add_argument("--latex", metavar="FILE")
    parser.add_argument("--csv", metavar="FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        if bool(args.paths) == bool(args.wandb):
            raise ConfigError("give either run folders / save paths or --wandb ENTITY/PROJECT (one of them).")
        runs = load_wandb(args.wandb) if args.wandb else load_folders(args.paths)
        table = aggregate(runs, args.split, args.epoch, args.select, args.metrics)
        text = markdown(table)
        for flag, path, render in (("--markdown", args.markdown, markdown), ("--latex", args.latex, latex),
                                   ("--csv", args.csv, csv_text)):
            if path:
                write(path, render(table), flag)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
