"""Small shared test utilities."""
import contextlib
import os
import re
import shlex

import torch
import torch.nn.functional as F

import parameters


def options(*argv):
    """An options namespace exactly as main.py would build it from these flags."""
    return parameters.parse_args(list(argv))


def clustered_batch(n_classes=8, per_class=4, dim=16, seed=0, spread=0.6):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=generator)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    embeds = centres[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return F.normalize(embeds, dim=1).double(), labels


def loss_and_grad(loss_fn, embeds, labels):
    x = embeds.clone().requires_grad_(True)
    value = loss_fn(x, labels)
    value.backward()
    return value.detach(), x.grad


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even `except Exception` clean-up)."""


@contextlib.contextmanager
def killed_at_commit(epoch, write_last_first=False, on_kill=None):
    """Within the block, the checkpoint commit of `epoch` dies (raises Killed) when it reaches checkpoint_last.pth:
    before writing it, or just after with write_last_first. on_kill(path, data) runs first (e.g. to leave a stray
    temporary file as a real kill would)."""
    from utilities import checkpoint
    original, last_writes = checkpoint.write_atomic, []

    def write_atomic(path, data):
        if str(path).endswith(checkpoint.LAST):
            last_writes.append(path)
            if len(last_writes) == epoch + 1:
                if write_last_first:
                    original(path, data)
                if on_kill is not None:
                    on_kill(path, data)
                raise Killed
        return original(path, data)

    checkpoint.write_atomic = write_atomic
    try:
        yield
    finally:
        checkpoint.write_atomic = original


def script_commands(name):
    """The main.py command lines of a scripts/ shell script as argument lists: continuation lines joined, the bash
    arrays it defines expanded, its variables filled with placeholders, the pass-through extra flags dropped."""
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", name)) as f:
        text = f.read().replace("\\\n", " ")
    arrays = {match.group(1): " ".join(match.group(2).split())
              for match in re.finditer(r"^\s*(\w+)=\((.*?)\)", text, flags=re.S | re.M)}
    fills = {**{f'"${{{array}[@]}}"': words for array, words in arrays.items()}, '"${extra[@]}"': "",
             '"$gpu"': "0", '"$datapath"': "/data", '"$seed"': "1", '"$save"': "/runs",
             '"$dataset"': "cub200", '"$epochs"': "90"}
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if " main.py " in line and not line.startswith("#"):
            for variable, value in fills.items():
                line = line.replace(variable, value)
            commands.append(shlex.split(line.split(" main.py ", 1)[1]))
    return commands
