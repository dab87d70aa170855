"""Atomic checkpoints: a crash or Ctrl-C mid-write never leaves a half-written file behind.

The payload is serialised once in memory, written to a temporary file in the target folder, flushed to disk and
renamed over the destination (rename is atomic on POSIX within one file system).

A run folder holds two kinds of checkpoint:
  checkpoint_last.pth           everything needed to continue: model, loss, optimisers, schedulers, sampler, RNG
                                states, best-so-far record and options (no secrets);
  checkpoint_best_<metric>.pth  what evaluation and transfer need: model, options, epoch and that epoch's metrics
                                (about the model's size: no optimiser state).
An epoch's checkpoints are committed in three steps, so that the best files always match the record in
checkpoint_last.pth whatever the moment a process is killed: (1) each improved best file is written as
`.pending_e<epoch>_<name>`; (2) checkpoint_last.pth is replaced: the commit point; (3) the pending files are renamed
into place. `recover` (on --resume) finishes step 3 for pending files of the committed epoch and deletes those of
an uncommitted one, and removes stray temporary files.

Under torchrun only rank 0 writes (and recovers) these files; the model saved is the un-wrapped one (no DDP
`module.` prefix) and nothing saved depends on the world size, so a run continues with any number of processes.
"""
import glob
import io
import logging
import os
import random
import re
import tempfile

import numpy as np
import torch

LOG = logging.getLogger(__name__)

LAST = "checkpoint_last.pth"
_PENDING = re.compile(r"^\.pending_e(\d+)_(checkpoint_best_.+\.pth)$")


def best_name(metric):
    return f"checkpoint_best_{metric.replace('@', '_at_')}.pth"


def rng_states():
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states):
    """Put back the states rng_states saved. Under torchrun the checkpoint holds rank 0's states, which every rank
    shares (utilities/distributed.py), so they serve any world size; CUDA states are restored for the devices both
    machines have (a run may resume on a machine with fewer or more GPUs)."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        for device, state in enumerate(states["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)


def serialise(payload):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def write_atomic(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp_path = tempfile.mkstemp(prefix=".tmp_", suffix=".pth", dir=folder)
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise


def load(path, map_location="cpu"):
    # Our own files hold numpy RNG states and option dicts, so full (trusted) unpickling is needed.
    return torch.load(path, map_location=map_location, weights_only=False)


def pending_name(epoch, final_name):
    return f".pending_e{epoch}_{final_name}"


def commit_epoch(run_dir, epoch, last_payload, best_payload, improved_metrics):
    """Write an epoch's checkpoints in the three steps of the module docstring."""
    pending = [(os.path.join(run_dir, pending_name(epoch, best_name(m))), os.path.join(run_dir, best_name(m)))
               for m in improved_metrics]
    for pending_path, _ in pending:
        write_atomic(pending_path, best_payload)
    write_atomic(os.path.join(run_dir, LAST), last_payload)
    for pending_path, final_path in pending:
        os.replace(pending_path, final_path)


def recover(run_dir, committed_epoch):
    """Bring the folder back to the state of the committed epoch after a kill: see the module docstring."""
    for path in glob.glob(os.path.join(run_dir, ".tmp_*")):
        os.remove(path)
        LOG.info("Removed the unfinished write %s.", path)
    for name in os.listdir(run_dir):
        match = _PENDING.match(name)
        if match is None:
            continue
        path = os.path.join(run_dir, name)
        if int(match.group(1)) == committed_epoch:
            os.replace(path, os.path.join(run_dir, match.group(2)))
        else:
            os.remove(path)


def check_best_files(run_dir, best):
    """Each best file must hold the epoch the record names; returns the list of problems (empty when all agree)."""
    problems = []
    for metric, record in best.items():
        path = os.path.join(run_dir, best_name(metric))
        if not os.path.isfile(path):
            problems.append(f"{path} is missing (the record names epoch {record['epoch']})")
            continue
        # Memory-mapped: only the epoch entry is read, not the model's tensors.
        epoch = torch.load(path, map_location="cpu", weights_only=False, mmap=True).get("epoch")
        if epoch != record["epoch"]:
            problems.append(f"{path} holds epoch {epoch}, the record names epoch {record['epoch']}")
    return problems
