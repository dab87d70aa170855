"""Atomic checkpoints: a crash or Ctrl-C mid-write never leaves a half-written file behind.

The payload is serialised once in memory, written to a temporary file in the target folder, flushed to disk and
renamed over the destination (rename is atomic on POSIX within one file system).
"""
import io
import os
import random
import tempfile

import numpy as np
import torch

LAST = "checkpoint_last.pth"


def best_name(metric):
    return f"checkpoint_best_{metric.replace('@', '_at_')}.pth"


def rng_states():
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states):
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


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
