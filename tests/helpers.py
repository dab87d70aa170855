"""Small shared test utilities."""
import contextlib

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
