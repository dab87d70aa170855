"""Training on several processes with torchrun: DistributedDataParallel plus the gathered global batch.

    torchrun --nproc_per_node 4 main.py --bs 112 ...          # one machine, 4 GPUs: 28 images per GPU and step
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr host0 --master_port 29500 main.py ...

A process started by torchrun (RANK, LOCAL_RANK and WORLD_SIZE in its environment) joins the process group
(`init_from_env`: NCCL on CUDA, device cuda:LOCAL_RANK; gloo on the CPU); a plain `python main.py` joins no process
group and trains exactly as before (--gpu picks its device). `torchrun --nproc_per_node 1` takes the distributed path
with one process, so its results equal those of any world size with the same global batch (see below).

What each step does with W processes (rank r holds bs / W images of the global batch of bs, datasampler.RankShard):
  - the model runs on the local images (DistributedDataParallel);
  - `Group.gather_batch`: embeddings, labels and every per-sample tensor of the loss's context (features, logits,
    stage outputs, indices, images, teacher outputs) of all ranks are gathered into the global batch, in rank order
    (view-major when the loss asks for V views per image, as in one process). Our own rows keep their autograd graph;
    the other ranks' rows are detached copies. Every rank then computes the same loss L on the same global batch, as
    one process would;
  - the loss is multiplied by W before backward (`Group.loss_factor`). Rank r's backward gives the model
    W * sum_{i in shard r} dL/de_i * de_i/dtheta; DDP averages over the ranks, so every rank ends with
    sum_i dL/de_i * de_i/dtheta = dL/dtheta, exactly the single-process gradient on the global batch;
  - the loss's own parameters (proxies, learned margins, regressors) are outside the DDP-wrapped model. Each rank
    computed their full gradient on the whole global batch, times W: `Group.sync_loss_gradients` sums them over the
    ranks and divides by W^2, i.e. averages away the rounding differences and removes the factor W. Starting from
    the same values (broadcast from rank 0 after setup, resume and every epoch's hooks) with the same gradients and
    optimiser state, they stay identical on every rank after every step.
BatchNorm keeps per-rank batch statistics (each rank normalises its bs / W images; DDP copies rank 0's running
statistics to the others at every forward, and the loop at every epoch start, so that what components embed between
epochs is the same on every rank). Architectures with the _frozen tag have no batch statistics, and a
W-process run then follows a one-process run with the same global batch to rounding.

Augmentation: each image of a torchrun epoch is transformed under its own seed (the run's seed, the epoch, the batch
and its position in the global batch; `SeededItems`), so the augmentations do not depend on the world size, the rank
or --num_workers, and ranks never repeat each other's random crops. A plain one-process run keeps drawing them from
the global random stream as it always did (so it is not bit-identical to a torchrun run).

Every rank keeps the same random streams (torch, CUDA, numpy, Python: one seed, the same draws), so a random miner
mines the same pairs of the global batch everywhere; what rank 0 alone draws (evaluation) is undone afterwards.

Everything that writes (run folder, CSVs, plots, summary, checkpoints, W&B) and the evaluation happen on rank 0;
`on_main` runs such a step there while the others wait for its outcome (and stop with the same error if it fails).
Checkpoints hold the un-wrapped model, world-size-independent sampler state and the shared random states, so
`--resume` continues a run with any number of processes.

Components: setup (and --resume's loading) runs on rank 0 first, then on the others (`main_first`: a cache a
component writes into the run folder is written once); epoch-start hooks run on every rank with rank 0's BatchNorm
statistics, after which rank 0's loss state is broadcast and the ranks' sampler states are compared (a component
that computed cluster assignments differently on some rank stops the run rather than train on overlapping shards).
A sampler that needs the training set's embeddings gets rank 0's. A loss that runs its own model pass over the
batch's images (NEEDS "images", e.g. vptsp) is refused: on the gathered batch that pass would give the model W times
its gradient.

Collectives wait up to DML_DISTRIBUTED_TIMEOUT_MIN minutes (default 180) for the slowest rank; the other ranks wait
that long for rank 0's evaluation.
"""
import datetime
import hashlib
import logging
import os
import pickle

import torch
import torch.distributed as dist

from utilities import checkpoint
from utilities.errors import ConfigError, TrainingDiverged

LOG = logging.getLogger(__name__)

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
# Collectives wait this long for the slowest rank; rank 0 evaluates while the others wait in one, so it must cover
# an evaluation of the largest dataset (NCCL's own default, 10 minutes, does not). DML_DISTRIBUTED_TIMEOUT_MIN
# changes it.
TIMEOUT_MINUTES = 180

_GROUP = None


def launched_by_torchrun(environ=None):
    environ = os.environ if environ is None else environ
    return all(name in environ for name in TORCHRUN_VARIABLES)


class Group:
    """This process's place in the torchrun job and the collective operations the training loop needs."""

    def __init__(self, rank, world_size, local_rank, device, owns_process_group):
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.device = device
        self.owns_process_group = owns_process_group

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def loss_factor(self):
        """What the loss is multiplied by before backward: DDP's averaging of W gradients then gives the
        single-process gradient (module docstring)."""
        return self.world_size

    # ---- the global batch ----
    def batch_sizes(self, local_rows):
        """Rows of every rank's batch (they differ only when unreadable images were skipped)."""
        size = torch.tensor([local_rows], dtype=torch.long, device=self.device)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        dist.all_gather(sizes, size)
        return [int(s.item()) for s in sizes]

    def gather(self, tensor, sizes, views=1):
        """Every rank's rows of `tensor` in rank order (view-major for views > 1); our rows keep their graph.

        `tensor` has views * sizes[self.rank] rows, view-major (rows v * b .. (v + 1) * b - 1 are view v of our b
        images). The result has views * sum(sizes) rows, view-major over the global batch, as one process with the
        whole batch would have them.
        """
        rows = views * max(sizes)
        sent = tensor.detach().to(self.device)
        if len(sent) < rows:  # all_gather needs one shape everywhere: pad, then cut each part back
            sent = torch.cat([sent, sent.new_zeros((rows - len(sent), *sent.shape[1:]))])
        parts = [torch.empty_like(sent) for _ in range(self.world_size)]
        dist.all_gather(parts, sent.contiguous())
        parts = [part[:views * size].to(tensor.device) for part, size in zip(parts, sizes)]
        parts[self.rank] = tensor
        if views == 1:
            return torch.cat(parts)
        by_view = [part.reshape(views, size, *part.shape[1:]) for part, size in zip(parts, sizes)]
        return torch.cat(by_view, dim=1).reshape(-1, *tensor.shape[1:])

    def gather_value(self, value, sizes, views):
        if torch.is_tensor(value) and value.dim() > 0:
            return self.gather(value, sizes, views)
        if isinstance(value, (list, tuple)):
            return type(value)(self.gather_value(item, sizes, views) for item in value)
        return value  # not per sample (e.g. "views")

    def gather_batch(self, embeddings, labels, context, views=1):
        """(embeddings, labels, context) of the global batch: the loss then sees every rank's samples."""
        local_rows = len(labels) // views
        sizes = self.batch_sizes(local_rows)
        gathered = {key: self.gather_value(value, sizes, views) for key, value in context.items()}
        return self.gather(embeddings, sizes, views), self.gather(labels, sizes, views), gathered

    # ---- keeping what is outside the DDP model in step ----
    def sync_loss_gradients(self, module):
        """Make the gradients of `module`'s parameters (the loss and its terms) dL/dP on every rank: each rank holds
        W * dL/dP of the same global batch; they are summed and divided by W^2. Parameters without a gradient (none
        of the ranks used them) are left without."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        by_kind = {}
        for grad in grads:
            by_kind.setdefault((grad.device, grad.dtype), []).append(grad)
        for same_kind in by_kind.values():
            flat = torch.cat([g.reshape(-1) for g in same_kind]).to(self.device)
            dist.all_reduce(flat)
            flat /= self.world_size ** 2
            offset = 0
            for grad in same_kind:
                grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
                offset += grad.numel()

    def broadcast_module(self, module, buffers_only=False):
        """Rank 0's parameters and buffers (non-persistent ones too), or its buffers only, copied into every rank's
        `module`."""
        with torch.no_grad():
            for tensor in [*([] if buffers_only else module.parameters()), *module.buffers()]:
                sent = tensor.data.to(self.device)
                dist.broadcast(sent, src=0)
                if sent is not tensor.data:
                    tensor.data.copy_(sent)

    def wrap_model(self, model):
        """The model wrapped for training. find_unused_parameters: parameters the loss does not reach (the
        backbone's ImageNet classifier without "logits") and groups frozen for --warmup or by a hook get no
        gradient on any rank and keep none, as in one process."""
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    # ---- objects and agreement ----
    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank (others pass anything, e.g. None)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def check_same(self, obj, what):
        """Raise on every rank when `obj` (picklable) differs between ranks."""
        digest = hashlib.sha256(pickle.dumps(obj, protocol=4)).hexdigest()
        digests = [None] * self.world_size
        dist.all_gather_object(digests, digest)
        if len(set(digests)) > 1:
            differing = [r for r, d in enumerate(digests) if d != digests[0]]
            raise RuntimeError(f"The ranks disagree on {what} (ranks {differing} differ from rank 0): a component "
                               f"computed it differently on different processes, so their batches would not form "
                               f"one global batch. Make that computation deterministic.")


def init_from_env():
    """Join torchrun's process group when this process was started by torchrun; None in a plain process.

    Idempotent. The device is cuda:LOCAL_RANK with NCCL when CUDA is available, else the CPU with gloo. A process
    group that already exists (set up by the caller) is used as it is.
    """
    global _GROUP
    if _GROUP is not None or not launched_by_torchrun():
        return _GROUP
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"torchrun started local rank {local_rank} but this machine has only "
                              f"{torch.cuda.device_count()} CUDA device(s): give --nproc_per_node at most that.")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    owns = not dist.is_initialized()
    if owns:
        minutes = float(os.environ.get("DML_DISTRIBUTED_TIMEOUT_MIN", TIMEOUT_MINUTES))
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=minutes))
    _GROUP = Group(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)
    if _GROUP.is_main:
        LOG.info("torchrun: %d process(es), backend %s; rank 0 on %s evaluates and writes.", world_size,
                 dist.get_backend(), device)
    return _GROUP


def current():
    """The Group of this process under torchrun, else None."""
    return _GROUP


def shutdown():
    """Leave the process group (only if init_from_env created it); a plain process: nothing to do."""
    global _GROUP
    group, _GROUP = _GROUP, None
    if group is not None and group.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()


def rank():
    return 0 if _GROUP is None else _GROUP.rank


def world_size():
    return 1 if _GROUP is None else _GROUP.world_size


def is_main():
    """True in a plain process and on rank 0: the process that evaluates, logs and writes."""
    return _GROUP is None or _GROUP.is_main


# ---- rank-0 guards ----
_REBUILT = {"ConfigError": ConfigError, "TrainingDiverged": TrainingDiverged}


def _outcome_error(outcome):
    _, name, message = outcome
    if name == "KeyboardInterrupt":
        return KeyboardInterrupt()
    if name in _REBUILT:
        return _REBUILT[name](message)
    return RuntimeError(f"rank 0 stopped with {name}: {message}")


def _run_and_tell(group, function, keep_random_state=False):
    """Rank 0: run `function`, then tell the others its outcome: ("ok", result) or ("error", type, message).
    keep_random_state: the random generators are put back as they were before (the others did not draw)."""
    states = checkpoint.rng_states() if keep_random_state else None
    try:
        result = function()
    except BaseException as error:
        group.broadcast_object(("error", type(error).__name__, str(error)))
        raise
    finally:
        if states is not None:
            checkpoint.restore_rng_states(states)
    group.broadcast_object(("ok", result))
    return result


def on_main(function):
    """function() on rank 0 only (evaluation, logging, writing); every rank returns its result (broadcast, so keep
    it small) or raises its error (ConfigError, TrainingDiverged and KeyboardInterrupt keep their type).

    Rank 0's random generators (torch, CUDA, numpy, Python) are restored afterwards: what it drew there (the
    evaluation loaders' seeds, ...) the others did not, and every rank must keep drawing the same numbers (a random
    miner mines the same pairs of the global batch on every rank). A plain process just calls it."""
    group = _GROUP
    if group is None:
        return function()
    if group.is_main:
        return _run_and_tell(group, function, keep_random_state=True)
    outcome = group.broadcast_object(None)
    if outcome[0] == "error":
        raise _outcome_error(outcome)
    return outcome[1]


def main_first(function):
    """function() on rank 0, then (once it succeeded) on every other rank, each returning its own result: files a
    step writes (a component's cache in the run folder) are written once, by rank 0, and found by the others.
    A plain process just calls it."""
    group = _GROUP
    if group is None:
        return function()
    if group.is_main:
        return _run_and_tell(group, function)
    outcome = group.broadcast_object(None)
    if outcome[0] == "error":
        raise _outcome_error(outcome)
    return function()


class RankLogFilter(logging.Filter):
    """Lets through, on ranks other than 0, only warnings and errors, marked with the rank."""

    def __init__(self, rank):
        super().__init__()
        self.rank = rank

    def filter(self, record):
        if record.levelno < logging.WARNING:
            return False
        if not getattr(record, "rank_marked", False):
            record.msg, record.rank_marked = f"[rank {self.rank}] {record.msg}", True
        return True


def quiet_other_ranks():
    """On ranks other than 0, the root handlers show warnings and errors only, with the rank: info lines (epoch
    metrics, progress) come once, from rank 0."""
    if _GROUP is None or _GROUP.is_main:
        return
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RankLogFilter) for f in handler.filters):
            handler.addFilter(RankLogFilter(_GROUP.rank))
