#!/usr/bin/env python
"""Kill a tiny training run with SIGKILL at many moments, resume it, and check it ends like an uninterrupted run.

    .venv/bin/python scripts/check_kill_resume.py                 # 20 kill points, 3 epochs
    .venv/bin/python scripts/check_kill_resume.py --points 40 --mode event --keep --workdir /tmp/kr

What it does:
  1. builds a tiny CUB200 tree (tests.dataset_trees.make_cub200: 8 classes x 16 images of 40 px);
  2. runs `main.py` once uninterrupted (the reference), measuring its wall time T and recording every file event in
     the run folder (a new `.tmp*` file, a checkpoint renamed into place, a CSV growing, summary.json, ...), then
     once more (the control: checks that two uninterrupted CPU runs agree, else the comparisons mean nothing);
  3. for each kill point runs `main.py` with a fresh save path and SIGKILLs it either
       - time-based:  at a moment spread over (0, T) (evenly spaced plus seeded jitter): one during start-up,
                      counted from the launch, the others counted from the moment the run folder appears (start-up
                      time varies most with the machine's load); one landing after the run's end is retried once,
                      scaled to that run's duration; or
       - event-based: right when the run folder shows a chosen event (polling it with os.scandir every --poll_ms),
         e.g. the 3rd `.tmp_*.pth` appearing, `checkpoint_last.pth` being replaced for epoch 2, a CSV growing;
     then runs `python main.py --resume <run folder>` to completion. A run killed before its first checkpoint must
     be refused (no checkpoint_last.pth); it is then started afresh (same command, new save path) and counted
     separately ("pre-checkpoint");
  4. checks the finished folder against the reference:
       csv      every CSV of the reference: one row per epoch (no duplicates, no gaps), every non-time column equal
                exactly (time-valued columns such as `seconds` are ignored);
       summary  summary.json's best value and epoch for every storage metric equal the reference's;
       best     each checkpoint_best_<metric>.pth exists, its `epoch` is the one summary.json names, and every
                tensor of its state["model"] is torch.equal to the reference's best file;
       last     checkpoint_last.pth holds the last epoch (and the reference's final weights);
       tmp      no leftover `.tmp*` / `*.tmp` files (nor staged `.pending*` checkpoints);
       resume   the resume exits 0 (or, before the first checkpoint, is refused and the fresh run exits 0).
Prints one table row per point (trigger, kill moment, what was happening: the last file event before the kill or
the temporary file being written, resume exit code, verdict), then a summary by check, and exits 0 only if every
point (and the control) passes. About 5-7 minutes for the default 20 points on 2 idle cores (longer under load).

The children run on the CPU (CUDA_VISIBLE_DEVICES="") with one thread (OMP/MKL/OpenBLAS), so results are
bit-for-bit reproducible and "equal" means exactly equal.
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

try:
    from utilities.checkpoint import best_name  # the training code's own naming, if it still exists
except Exception:  # pragma: no cover - the checkpoint module is being edited concurrently
    def best_name(metric):
        return f"checkpoint_best_{metric.replace('@', '_at_')}.pth"

LAST = "checkpoint_last.pth"
RUN_SUBDIR = ("cub200", "tiny_s0")


# ---------------------------------------------------------------------------------------------------------------
# Running main.py
# ---------------------------------------------------------------------------------------------------------------
def run_flags(source, save, epochs):
    return ["--dataset", "cub200", "--source_path", source, "--save_path", save,
            "--arch", "resnet18_normalize", "--not_pretrained", "--embed_dim", "32", "--crop_size", "32",
            "--bs", "16", "--samples_per_class", "4", "--lr", "1e-3", "--n_epochs", str(epochs),
            "--num_workers", "0", "--evaluation_metrics", "e_recall@1", "e_recall@2", "nmi", "mAP_R",
            "--storage_metrics", "e_recall@1", "mAP_R", "--group", "tiny"]


def run_dir_of(save):
    return os.path.join(save, *RUN_SUBDIR)


def child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "NUMEXPR_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0",
                "TQDM_DISABLE": "1"})
    return env


def launch(args, log_path):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, "main.py", *args], cwd=REPO_ROOT, env=child_env(),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()  # the child holds its own copy


def run_to_end(args, log_path, timeout):
    """Run main.py to completion; returns (exit code, seconds)."""
    start = time.monotonic()
    proc = launch(args, log_path)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = "timeout"
    return rc, time.monotonic() - start


def log_tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = [line.rstrip() for line in f if "it/s]" not in line and "s/it]" not in line]
        return "\n".join(lines[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------------------------
# Watching the run folder
# ---------------------------------------------------------------------------------------------------------------
def is_tmp(name):
    return name.startswith(".tmp") or name.endswith(".tmp")


def is_staging(name):
    """A file that must not outlive a finished run: temporary writes and staged (pending) checkpoints."""
    return is_tmp(name) or name.startswith(".pending")


def classify(name):
    if is_tmp(name):
        return "tmp"
    if name.startswith(".pending"):
        return "pending"
    if name.endswith(".pth"):
        return "ckpt"
    if name.endswith(".csv"):
        return "csv"
    if name == "summary.json":
        return "summary"
    if name.endswith(".png"):
        return "png"
    return "file"


def csv_progress(path):
    """(complete lines, epoch of the last complete row) of a CSV being appended to; (None, None) if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    lines = data.split(b"\n")[:-1]  # the part after the last newline is incomplete (or empty)
    try:
        epoch = int(float(lines[-1].split(b",")[0])) if len(lines) > 1 else None
    except ValueError:
        epoch = None
    return len(lines), epoch


class Event:
    def __init__(self, t, kind, name, k_name, k_kind, desc):
        self.t, self.kind, self.name, self.k_name, self.k_kind, self.desc = t, kind, name, k_name, k_kind, desc

    def matches(self, kind, name, k):
        if kind != self.kind:
            return False
        return self.k_kind == k if name is None else (name == self.name and self.k_name == k)


class Monitor:
    """Polls the run folder with os.scandir and turns what changed into events.

    tmp      a new temporary file appeared (an atomic write started); its target is learnt from the inode the
             file it is renamed to has (reference run) or taken from the reference (killed runs)
    pending  a staged best checkpoint (.pending_*) appeared (if the training code stages them)
    ckpt     a *.pth file appeared or was replaced (new inode / size / mtime)
    csv      a CSV appeared or changed;  summary / png / file: summary.json, plots, options.*
    """

    def __init__(self, run_dir, reference_tmp_targets=None):
        self.run_dir = run_dir
        self.files = {}
        self.dir_seen = False
        self.dir_t = None  # when the run folder was first seen
        self.counts = {}
        self.events = []
        self.tmp_occurrence = {}  # name -> occurrence number of that .tmp file
        self.tmp_inode = {}  # inode -> occurrence number
        self.tmp_targets = {}  # occurrence -> checkpoint the tmp became (learnt here)
        self.reference_tmp_targets = reference_tmp_targets or {}
        self.csv_lines = {}  # CSV -> complete lines seen (a CSV event is a change of that count, not of mtime)
        self.epoch = None  # the epoch of test_embeds.csv's last row: the epoch whose checkpoints come next

    def _count(self, kind, name):
        for key in ((kind, name), (kind, None)):
            self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[(kind, name)], self.counts[(kind, None)]

    def target_of(self, k):
        return self.tmp_targets.get(k) or self.reference_tmp_targets.get(k, "?")

    def _emit(self, t, kind, name, desc_fn):
        k_name, k_kind = self._count(kind, name)
        event = Event(t, kind, name, k_name, k_kind, desc_fn(k_name, k_kind))
        self.events.append(event)
        return event

    def scan(self, t):
        new = []
        try:
            entries = {}
            with os.scandir(self.run_dir) as it:
                for entry in it:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:  # renamed or removed between listing and stat
                        continue
                    entries[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            return new
        if not self.dir_seen:
            self.dir_seen = True
            self.dir_t = t
            new.append(self._emit(t, "dir", "run folder", lambda k, kk: "run folder created"))
        for name, key in sorted(entries.items(), key=lambda item: (classify(item[0]) != "csv", item[0])):
            previous = self.files.get(name)
            if previous == key:
                continue
            kind = classify(name)
            if kind == "tmp":
                if previous is not None:  # still being written
                    continue
                event = self._emit(t, "tmp", name, lambda k, kk: "")
                event.epoch = self.epoch
                self.tmp_occurrence[name] = event.k_kind
                self.tmp_inode[key[0]] = event.k_kind
                self.describe_tmp(event)
                new.append(event)
                continue
            epoch = self.epoch
            k_tmp = self.tmp_inode.get(key[0])
            if k_tmp is not None and self.tmp_name_of(k_tmp) not in entries:  # a temporary write renamed to name
                self.tmp_targets.setdefault(k_tmp, name)
                del self.tmp_inode[key[0]]  # the inode may be reused by a later file
            if kind in ("ckpt", "pending"):
                verb = "staged" if kind == "pending" else "replaced"
                new.append(self._emit(t, kind, name, lambda k, kk: f"{name} {verb} #{k} (epoch {epoch})"))
            elif kind == "csv":
                # A write can show as two changes (mtime, then size): count complete lines instead.
                lines, last_epoch = csv_progress(os.path.join(self.run_dir, name))
                if lines is None or lines == self.csv_lines.get(name, 0):
                    continue
                self.csv_lines[name] = lines
                if name == "test_embeds.csv":
                    self.epoch = last_epoch
                new.append(self._emit(t, kind, name, lambda k, kk: f"{name} row for epoch {last_epoch} (#{k})"))
            else:
                new.append(self._emit(t, kind, name, lambda k, kk: f"{name} written #{k}"))
        # A .tmp that vanished without becoming a checkpoint is fine (write_atomic unlinks it on errors).
        self.files = entries
        return new

    def tmp_name_of(self, k):
        return next((name for name, occurrence in self.tmp_occurrence.items() if occurrence == k), None)

    def describe_tmp(self, event):
        shown = ".tmp_*" if event.name.startswith(".tmp_") else event.name
        event.desc = f"{shown} #{event.k_kind} appeared (-> {self.target_of(event.k_kind)}, epoch {event.epoch})"

    def finish(self):
        """Name each temporary file's target now that the renames are known."""
        for event in self.events:
            if event.kind == "tmp":
                self.describe_tmp(event)

    def left_behind(self):
        return sorted(name for name in self.files if is_staging(name))


def watch(args, log_path, run_dir, trigger, poll_s, timeout, reference_tmp_targets=None):
    """Run main.py, polling its run folder; SIGKILL it when `trigger` fires.

    trigger: None (run to the end), ("time", seconds, "start" | "folder") (seconds after the launch or after the run
    folder appeared) or ("event", kind, name or None, occurrence).
    Returns dict(rc, killed_at (None if it ended first; seconds after the launch), wall, folder_at, monitor,
    last_event).
    """
    monitor = Monitor(run_dir, reference_tmp_targets)
    start = time.monotonic()
    proc = launch(args, log_path)
    killed_at, last_event = None, None
    while True:
        now = time.monotonic() - start
        base = 0.0 if trigger and trigger[0] == "time" and trigger[2] == "start" else monitor.dir_t
        if trigger and trigger[0] == "time" and base is not None and now - base >= trigger[1]:
            if proc.poll() is None:
                proc.kill()
                killed_at = time.monotonic() - start
            break
        events = monitor.scan(now)
        if events:
            last_event = events[-1]
        if trigger and trigger[0] == "event" and any(e.matches(*trigger[1:]) for e in events):
            if proc.poll() is None:
                proc.kill()
                killed_at = time.monotonic() - start
                last_event = next(e for e in events if e.matches(*trigger[1:]))
            break
        if proc.poll() is not None:
            break
        if now > timeout:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"main.py ran for more than {timeout} s; see {log_path}")
        time.sleep(poll_s)
    rc = proc.wait()
    wall = time.monotonic() - start
    # What happened between the last poll and the end, and what the kill left behind (a .tmp still there was
    # being written when the process died).
    for event in monitor.scan(killed_at if killed_at is not None else wall):
        last_event = event
    monitor.finish()
    return {"rc": rc, "killed_at": killed_at, "wall": wall, "folder_at": monitor.dir_t, "monitor": monitor,
            "last_event": last_event}


# ---------------------------------------------------------------------------------------------------------------
# Comparing a finished run folder with the reference
# ---------------------------------------------------------------------------------------------------------------
def is_time_column(name):
    name = name.lower()
    return "second" in name or "time" in name or name in ("wall", "duration")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def as_float(text):
    return float(text)


def same_value(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def compare_csv(name, run_dir, ref_dir):
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        return [f"csv:{name} missing"]
    try:
        rows, ref_rows = read_csv(path), read_csv(os.path.join(ref_dir, name))
        epochs = [as_float(r["epoch"]) for r in rows]
        ref_epochs = [as_float(r["epoch"]) for r in ref_rows]
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        return [f"csv:{name} unreadable ({error})"]
    if epochs != ref_epochs:
        dups = sorted({int(e) for e in epochs if epochs.count(e) > 1})
        gaps = sorted({int(e) for e in ref_epochs} - {int(e) for e in epochs})
        extra = sorted({int(e) for e in epochs} - {int(e) for e in ref_epochs})
        parts = [f"dup {dups}" if dups else "", f"gap {gaps}" if gaps else "", f"extra {extra}" if extra else ""]
        detail = " ".join(p for p in parts if p) or f"order {[int(e) for e in epochs]}"
        return [f"csv:{name} epochs {detail}"]
    columns = [c for c in ref_rows[0] if c != "epoch" and not is_time_column(c)] if ref_rows else []
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        return [f"csv:{name} lacks columns {missing}"]
    for row, ref_row in zip(rows, ref_rows):
        for column in columns:
            try:
                value, ref_value = as_float(row[column]), as_float(ref_row[column])
            except (ValueError, TypeError):
                value, ref_value = row[column], ref_row[column]
            if not same_value(value, ref_value):
                return [f"csv:{name} {column}@e{int(as_float(row['epoch']))} {value!r} != {ref_value!r}"]
    return []


def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_state(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def weights_differ(model, ref_model):
    if set(model) != set(ref_model):
        return "keys differ"
    for key, tensor in ref_model.items():
        if not (isinstance(tensor, torch.Tensor) and isinstance(model[key], torch.Tensor)):
            continue
        if tensor.shape != model[key].shape or not torch.equal(model[key], tensor):
            return f"tensor {key} differs"
    return None


class Reference:
    def __init__(self, run_dir, epochs):
        self.run_dir = run_dir
        self.epochs = epochs
        self.summary = load_json(os.path.join(run_dir, "summary.json"))
        self.csvs = sorted(n for n in os.listdir(run_dir) if n.endswith(".csv"))
        self.best_models = {m: load_state(os.path.join(run_dir, best_name(m)))["model"] for m in self.summary["best"]}
        self.last_model = load_state(os.path.join(run_dir, LAST))["model"]


def compare(run_dir, ref):
    failures = []
    if not os.path.isdir(run_dir):
        return ["run folder missing"]
    for name in ref.csvs:
        failures += compare_csv(name, run_dir, ref.run_dir)
    extra_csvs = sorted(n for n in os.listdir(run_dir) if n.endswith(".csv") and n not in ref.csvs)
    if extra_csvs:
        failures.append(f"csv: extra {extra_csvs}")

    summary = None
    try:
        summary = load_json(os.path.join(run_dir, "summary.json"))
        for metric, ref_best in ref.summary["best"].items():
            best = summary["best"].get(metric)
            if best is None:
                failures.append(f"summary:{metric} missing")
            elif (best["value"], best["epoch"]) != (ref_best["value"], ref_best["epoch"]):
                failures.append(f"summary:{metric} e{best['epoch']}={best['value']:.4f} != "
                                f"ref e{ref_best['epoch']}={ref_best['value']:.4f}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        failures.append(f"summary unreadable ({type(error).__name__}: {error})")

    for metric, ref_model in ref.best_models.items():
        path = os.path.join(run_dir, best_name(metric))
        if not os.path.isfile(path):
            failures.append(f"best:{metric} file missing")
            continue
        try:
            state = load_state(path)
        except Exception as error:  # a torn or empty file
            failures.append(f"best:{metric} unreadable ({type(error).__name__})")
            continue
        named = (summary or ref.summary)["best"].get(metric, ref.summary["best"][metric])["epoch"]
        if state.get("epoch") != named:
            failures.append(f"best:{metric} file epoch {state.get('epoch')} != summary epoch {named}")
        diff = weights_differ(state["model"], ref_model)
        if diff:
            failures.append(f"best:{metric} weights != ref ({diff})")

    path = os.path.join(run_dir, LAST)
    try:
        state = load_state(path)
        if state.get("epoch") != ref.epochs:
            failures.append(f"last: epoch {state.get('epoch')} != {ref.epochs}")
        diff = weights_differ(state["model"], ref.last_model)
        if diff:
            failures.append(f"last: weights != ref ({diff})")
    except FileNotFoundError:
        failures.append("last: missing")
    except Exception as error:
        failures.append(f"last: unreadable ({type(error).__name__})")

    leftovers = sorted(n for n in os.listdir(run_dir) if is_staging(n))
    if leftovers:
        failures.append(f"tmp: leftover {leftovers}")
    return failures


# ---------------------------------------------------------------------------------------------------------------
# Choosing kill points
# ---------------------------------------------------------------------------------------------------------------
def spread(n, begin, end, rng):
    """n moments spread over (begin, end): the centres of n equal slices, jittered within +-40% of a slice."""
    width = (end - begin) / n
    return [begin + (i + 0.5 + rng.uniform(-0.4, 0.4)) * width for i in range(n)]


def time_points(n, startup, writing, rng):
    """n moments over the run: one during start-up (imports, data, model: before the run folder exists), counted
    from the launch, and n - 1 spread over the part that writes files, counted from the run folder's appearance
    (start-up time varies most with the machine's load). Returns [(seconds, anchor)]."""
    if n == 1:
        return [(t, "start") for t in spread(1, 0, startup + writing, rng)]
    return [(max(t, 0.05), "start") for t in spread(1, 0, startup, rng)] + \
        [(min(t, 0.97 * writing), "folder") for t in spread(n - 1, 0, writing, rng)]


def event_points(n, events):
    """n events of the reference run: every checkpoint_last.pth replacement first (the window before the best
    checkpoints are written), then round-robin over the other kinds of write, spread within each kind. (Plots are
    left out: savefig's several writes make their event count vary from run to run.)"""
    last = [("ckpt", LAST, e.k_name, e) for e in events if e.kind == "ckpt" and e.name == LAST]
    groups = [
        [("tmp", None, e.k_kind, e) for e in events if e.kind == "tmp"],
        [("csv", "test_embeds.csv", e.k_name, e) for e in events if e.kind == "csv" and e.name == "test_embeds.csv"],
        [("ckpt", e.name, e.k_name, e) for e in events if e.kind == "ckpt" and e.name != LAST],
        [("pending", e.name, e.k_name, e) for e in events if e.kind == "pending"],
        [("csv", "train.csv", e.k_name, e) for e in events if e.kind == "csv" and e.name == "train.csv"],
        [("summary", "summary.json", e.k_name, e) for e in events if e.kind == "summary"],
        [("csv", e.name, e.k_name, e) for e in events
         if e.kind == "csv" and e.name not in ("test_embeds.csv", "train.csv")],
        [(e.kind, e.name, e.k_name, e) for e in events if e.kind == "file" and e.name == "options.json"
         and e.k_name == 1],
    ]
    chosen = last[:n]
    quota = [0] * len(groups)
    remaining = n - len(chosen)
    while remaining > 0 and any(q < len(g) for q, g in zip(quota, groups)):
        for i, group in enumerate(groups):
            if remaining and quota[i] < len(group):
                quota[i] += 1
                remaining -= 1
    for group, m in zip(groups, quota):
        if m:
            picks = sorted({round(j * (len(group) - 1) / (m - 1)) if m > 1 else len(group) // 2 for j in range(m)})
            for j in range(len(group)):  # fill up if rounding merged two picks
                if len(picks) >= m:
                    break
                if j not in picks:
                    picks.append(j)
            chosen += [group[j] for j in sorted(picks)]
    chosen.sort(key=lambda c: c[3].t)
    return [(("event", kind, name, k), f"on {ev.desc}", ev.t) for kind, name, k, ev in chosen]


# ---------------------------------------------------------------------------------------------------------------
def describe_kill(result):
    if result["killed_at"] is None:
        return "not killed (run ended first)"
    monitor, last = result["monitor"], result["last_event"]
    left = [n for n in monitor.left_behind() if is_tmp(n)]
    if left:
        targets = [monitor.target_of(monitor.tmp_occurrence[n]) if n in monitor.tmp_occurrence else "?" for n in left]
        shown = [".tmp_*" if n.startswith(".tmp_") else n for n in left]
        return "mid-write: " + ", ".join(f"{n} -> {t}" for n, t in zip(shown, targets))
    if not monitor.dir_seen:
        return "before the run folder existed"
    if last is None:
        return "run folder created, nothing written"
    return f"after {last.desc} (+{result['killed_at'] - last.t:.3f}s)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20, help="number of kill points (default 20)")
    parser.add_argument("--mode", choices=["both", "time", "event"], default="both",
                        help="time-based, event-based or half of each (default)")
    parser.add_argument("--epochs", type=int, default=3, help="--n_epochs of the tiny run (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill-time jitter (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (run folders, logs)")
    parser.add_argument("--workdir", help="where to put the data tree and the runs (default: a new temp folder)")
    parser.add_argument("--poll_ms", type=float, default=2.0, help="run-folder polling interval (default 2 ms)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one main.py may take")
    args = parser.parse_args(argv)
    if args.points < 1:
        parser.error("--points must be at least 1")

    script_start = time.monotonic()
    made_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="check_kill_resume_"))
    os.makedirs(workdir, exist_ok=True)
    created = []

    def fresh(name):
        path = os.path.join(workdir, name)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(path)
        created.append(path)
        return path

    print(f"work folder: {workdir}", flush=True)
    try:
        return run_all(args, workdir, fresh, script_start)
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            if made_workdir:
                shutil.rmtree(workdir, ignore_errors=True)


def run_all(args, workdir, fresh, script_start):
    from tests.dataset_trees import make_cub200

    source = fresh("src")
    make_cub200(source, n_classes=8, per_class=16, size=40)
    poll = args.poll_ms / 1000

    # Reference (uninterrupted) run: wall time and the timeline of file events.
    ref_save = fresh("reference")
    ref_log = os.path.join(ref_save, "main.log")
    result = watch(run_flags(source, ref_save, args.epochs), ref_log, run_dir_of(ref_save), None, poll, args.timeout)
    if result["rc"] != 0:
        print(f"reference run failed (exit {result['rc']}):\n{log_tail(ref_log)}")
        return 2
    total = result["wall"]
    timeline = result["monitor"].events
    tmp_targets = result["monitor"].tmp_targets
    ref = Reference(run_dir_of(ref_save), args.epochs)
    ref_failures = compare(ref.run_dir, ref)  # e.g. best files that disagree with summary.json even without a kill
    print(f"reference run: {total:.1f} s, {len(timeline)} file events, best: "
          + ", ".join(f"{m} e{b['epoch']}={b['value']:.4f}" for m, b in ref.summary["best"].items()))
    for event in timeline:
        print(f"  {event.t:7.3f}s  {event.desc}")
    if ref_failures:
        print("reference run is not self-consistent: " + "; ".join(ref_failures))

    # Control: a second uninterrupted run must agree exactly, else the comparisons below are meaningless.
    control_save = fresh("control")
    control = watch(run_flags(source, control_save, args.epochs), os.path.join(control_save, "main.log"),
                    run_dir_of(control_save), None, poll, args.timeout)
    rc, control_wall = control["rc"], control["wall"]
    control_failures = ([f"exit {rc}"] if rc != 0 else []) + compare(run_dir_of(control_save), ref)
    print(f"control run (no kill): {control_wall:.1f} s, "
          + ("agrees with the reference" if not control_failures else "DIFFERS: " + "; ".join(control_failures)))
    if not args.keep:
        shutil.rmtree(control_save, ignore_errors=True)
    # Kill times follow the faster of the two uninterrupted runs, phase by phase (other load on the machine slows
    # a run down; a kill time past the end of the run is retried once, scaled to that run's own duration).
    startup = min(result["folder_at"] or 0.0, control["folder_at"] or 0.0)
    writing = min(total - (result["folder_at"] or 0.0), control_wall - (control["folder_at"] or 0.0))
    total = startup + writing

    rng = random.Random(args.seed)
    n_time = {"time": args.points, "event": 0, "both": args.points // 2}[args.mode]
    plans = event_points(args.points - n_time, timeline)
    n_time = args.points - len(plans)  # if the run has too few events, the rest are time-based
    for t, anchor in time_points(n_time, startup, writing, rng) if n_time else []:
        label = f"{t:.2f}s after launch" if anchor == "start" else f"{t:.2f}s after run folder appeared"
        plans.append((("time", t, anchor), label, t if anchor == "start" else startup + t))
    plans.sort(key=lambda p: p[2])

    header = f"{'#':>3}  {'trigger':<50} {'kill at':>8}  {'state at kill':<72} {'resume':>6}  verdict"
    print(f"\n{len(plans)} kill points ({len(plans) - n_time} event-based, {n_time} time-based), "
          f"T={total:.1f} s = start-up {startup:.1f} s + writing {writing:.1f} s (the faster uninterrupted run)\n"
          f"{header}", flush=True)
    rows = []
    for i, (trigger, label, _) in enumerate(plans, 1):
        save = fresh(f"p{i:02d}")
        log = os.path.join(save, "main.log")
        run_dir = run_dir_of(save)
        killed = watch(run_flags(source, save, args.epochs), log, run_dir, trigger, poll, args.timeout, tmp_targets)
        if killed["killed_at"] is None and killed["rc"] == 0 and trigger[0] == "time":
            if trigger[2] == "folder" and killed["folder_at"] is not None:
                own = killed["wall"] - killed["folder_at"]
                trigger = ("time", min(trigger[1] / writing * own, 0.95 * own), "folder")
            else:
                trigger = ("time", min(trigger[1] / total * killed["wall"], 0.95 * killed["wall"]), "start")
            label += f", retried at {trigger[1]:.2f}s"
            shutil.rmtree(save)
            os.makedirs(save)
            killed = watch(run_flags(source, save, args.epochs), log, run_dir, trigger, poll, args.timeout,
                           tmp_targets)
        state = describe_kill(killed)
        kill_at = "-" if killed["killed_at"] is None else f"{killed['killed_at']:.3f}s"
        had_checkpoint = os.path.isfile(os.path.join(run_dir, LAST))
        failures, pre_checkpoint = [], False
        if killed["killed_at"] is None and killed["rc"] != 0:
            failures.append(f"run exited {killed['rc']} before the kill")
        resume_rc, _ = run_to_end(["--resume", run_dir], log, args.timeout)
        checked_dir = run_dir
        if had_checkpoint:
            if resume_rc != 0:
                failures.append(f"resume exit {resume_rc}")
        else:
            pre_checkpoint = True
            if resume_rc == 0:
                failures.append("resume without checkpoint_last.pth was accepted")
            fresh_save = os.path.join(save, "fresh")
            fresh_rc, _ = run_to_end(run_flags(source, fresh_save, args.epochs), log, args.timeout)
            if fresh_rc != 0:
                failures.append(f"fresh run exit {fresh_rc}")
            checked_dir = run_dir_of(fresh_save)
        failures += compare(checked_dir, ref)
        if any(f.startswith(("resume exit", "fresh run exit", "run exited")) for f in failures):
            failures.append("log tail:\n" + log_tail(log))
        verdict = "ok" if not failures else "FAIL " + "; ".join(f for f in failures if not f.startswith("log tail"))
        if pre_checkpoint:
            verdict = f"[pre-checkpoint: refused, rerun afresh] {verdict}"
        row = (i, label, kill_at, state, str(resume_rc), verdict, failures, pre_checkpoint, killed["killed_at"])
        rows.append(row)
        print(f"{i:>3}  {label[:50]:<50} {kill_at:>8}  {state[:72]:<72} {resume_rc!s:>6}  {verdict}", flush=True)
        for failure in failures:
            if failure.startswith("log tail"):
                print("     " + failure.replace("\n", "\n     "))
        if not args.keep:
            shutil.rmtree(save, ignore_errors=True)

    # Summary.
    failed = [r for r in rows if r[6]]
    pre = [r for r in rows if r[7]]
    not_killed = [r for r in rows if r[8] is None]
    by_check = {}
    for r in failed:
        for failure in r[6]:
            if failure.startswith("log tail"):
                continue
            check = failure.split(":")[0].split(" ")[0]
            by_check.setdefault(check, []).append(r[0])
    print(f"\n{len(rows)} points: {len(rows) - len(failed)} ok, {len(failed)} failed; "
          f"{len(pre)} killed before the first checkpoint (resume refused, rerun afresh): {[r[0] for r in pre]}; "
          f"{len(not_killed)} not killed (run ended first): {[r[0] for r in not_killed]}")
    for check, points in sorted(by_check.items()):
        print(f"  check '{check}' failed at points {sorted(set(points))}")
    if control_failures:
        print("  control run (no kill) differs from the reference: the comparisons are not trustworthy")
    print(f"total time {time.monotonic() - script_start:.0f} s")
    return 0 if not failed and not control_failures and not ref_failures else 1


if __name__ == "__main__":
    sys.exit(main())
