"""The training run: wires dataset, backbone, objective (loss + terms), batchminer, sampler, optimisers and an
optional frozen teacher, then trains, evaluates and checkpoints.

Epoch 0 is the evaluation before any training; epoch e >= 1 is the state after e training epochs. Every epoch ends
with an evaluation, the CSV rows and plots, and a checkpoint commit (utilities/checkpoint.py), so an interrupted run
loses at most the epoch in progress and `--resume <run folder>` continues it to the same result an uninterrupted run
reaches (on CPU).

Under torchrun (several processes, DistributedDataParallel) every rank trains on its shard of each global batch and
the loss sees the gathered global batch; rank 0 alone evaluates and writes: see utilities/distributed.py.

Where each concern lives: options checks in parameters.py; evaluation and best tracking in run_evaluation.py;
optimisers and schedules in optimizers.py; hook context and lifecycle in hooks.py; checkpoint files in
checkpoint.py; logs in logger.py; several processes in distributed.py. Components never get special cases here:
they declare what they need (NEEDS, VIEWS, parameter groups, optimiser specs, hooks) and the loop provides it.
"""
import logging
import os
import random
import shutil
import time

import numpy as np
import torch
from tqdm import tqdm

import architectures
import batchminer
import criteria
import datasampler
import datasets
import evaluation
import parameters
from criteria.objective import TEACHER_KEYS
from datasets.base import ImageDataset, build_transform, collate_skipping, evaluation_loader
from utilities import checkpoint, distributed
from utilities.errors import ConfigError, TrainingDiverged
from utilities.hooks import HookContext, ReadOnlyOptions
from utilities.logger import RunLogger, create_run_dir, write_options
from utilities.optimizers import MAIN, NamedOptimizers, main_spec
from utilities.options import saved_options
from utilities.run_evaluation import BestRecord, SplitEvaluation
from utilities.run_lock import RunLock

LOG = logging.getLogger(__name__)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_device(gpu):
    """The device a run or an evaluation uses: CUDA device gpu[0] when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device(f"cuda:{gpu[0]}")
    LOG.info("CUDA is not available: running on the CPU.")
    return torch.device("cpu")


def resolve_batchminer(opt):
    """The loss's batchminer: the one asked for, else the loss's default; None for losses that mine themselves."""
    name = opt.batch_mining or criteria.REGISTRY.get(opt.loss).DEFAULT_BATCHMINER
    return None if name is None else batchminer.select(name, opt)


def log_parameter_counts(model, objective):
    """Trainable against total parameters of the model (what evaluation uses) and of the loss (proxies, prompts)."""
    def count(module, trainable):
        return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)
    trained, total = count(model, True), count(model, False)
    LOG.info("Parameters: model %s trainable of %s (%.2f%%); loss and terms %s trainable.", f"{trained:,}",
             f"{total:,}", 100.0 * trained / max(total, 1), f"{count(objective, True):,}")


class MultiView:
    """V independent draws of a random transform of one image, stacked: [V, C, H, W]."""

    def __init__(self, transform, views):
        self.transform = transform
        self.views = views

    def __call__(self, image):
        return torch.stack([self.transform(image) for _ in range(self.views)])


class SeededItems(torch.utils.data.Dataset):
    """`dataset`'s items asked for as (index, seed) (datasampler.RankShard): the item's random transform draws from
    torch's CPU generator seeded with `seed`, which is restored afterwards, so the process's random stream is left
    as it was (and stays the same on every rank)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, item):
        index, seed = item
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]


class TrainingSteps:
    """One pass of optimisation steps over a loader: the loop every training goes through (Run, and the tests'
    tiny trainings on synthetic features). The loader yields (inputs, labels, indices, n_skipped); the model returns
    a dict with "embeds" (and what the objective NEEDS). Each step: forward (autocast in amp_dtype under --amp), the
    context keys the objective declared, the objective, a finiteness check (FloatingPointError), backward and a step of
    every named optimiser, then the objective's on_step_end hook. Returns the epoch means: "loss", and each part's
    value ("loss_<name>") when the objective has terms; and the count of skipped unreadable items.

    With a distributed `group` (utilities/distributed.py; the model then DDP-wrapped), the objective gets the global
    batch gathered from every rank, the loss is scaled by group.loss_factor for backward (the logged value is not),
    and the objective's gradients are synchronised before the optimisers step."""

    def __init__(self, model, objective, optimizers, scaler, device, amp_dtype=None, teacher=None, group=None):
        self.model = model
        self.objective = objective
        self.optimizers = optimizers
        self.scaler = scaler
        self.device = device
        self.amp_dtype = amp_dtype  # torch.float16 / torch.bfloat16 under --amp, None in full precision
        self.teacher = teacher
        self.group = group

    def batch_context(self, out, images, indices):
        """The context keys the objective declared in NEEDS, for one batch."""
        needs = self.objective.NEEDS
        context = {key: out[key] for key in needs if key in out}
        if "images" in needs:
            context["images"] = images
        if "indices" in needs:
            context["indices"] = indices
        if "views" in needs:
            context["views"] = self.objective.VIEWS
        if needs & TEACHER_KEYS:
            with torch.no_grad():
                teacher_out = self.teacher(images, return_intermediate="teacher_intermediate" in needs)
            context["teacher_embeds"] = teacher_out["embeds"].float()
            if "teacher_features" in needs:
                context["teacher_features"] = teacher_out["features"].float()
            if "teacher_intermediate" in needs:
                context["teacher_intermediate"] = teacher_out["intermediate"]
        return context

    def run(self, loader, hook_context, desc="train"):
        totals, skipped, views = {}, 0, self.objective.VIEWS
        group = self.group
        bar = tqdm(loader, desc=desc, leave=False, disable=group is not None and not group.is_main)
        for images, labels, indices, n_skipped in bar:
            skipped += n_skipped
            if views > 1:  # [B, V, C, H, W] -> view-major [V * B, C, H, W]
                images = images.transpose(0, 1).reshape(-1, *images.shape[2:])
                labels, indices = labels.repeat(views), indices.repeat(views)
            images = images.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                out = self.model(images, return_logits="logits" in self.objective.NEEDS,
                                 return_intermediate="intermediate" in self.objective.NEEDS)
                context = self.batch_context(out, images, indices)
            embeds, labels = out["embeds"].float(), labels.to(self.device)
            if group is not None:  # every rank's samples, in rank order; only ours carry gradients
                embeds, labels, context = group.gather_batch(embeds, labels, context, views)
            loss = self.objective(embeds, labels, **context)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()}")
            self.optimizers.zero_grad()
            self.scaler.scale(loss if group is None else loss * group.loss_factor).backward()
            if group is not None:
                group.sync_loss_gradients(self.objective)
            self.optimizers.step(self.scaler)
            hook_context.step += 1
            self.objective.on_step_end(hook_context)
            # Each part's value gets its own column when there are terms (alone, the base loss is "loss").
            parts = self.objective.last_values if self.objective.terms else {}
            for key, value in {"loss": loss, **parts}.items():
                totals.setdefault(key, []).append(value.item())
            bar.set_postfix(loss=f"{totals['loss'][-1]:.4f}", refresh=False)
        self.optimizers.epoch_end()
        values = {key: float(np.mean(v)) for key, v in totals.items()} or {"loss": float("nan")}
        return values, skipped


class Run:
    def __init__(self, opt, run_dir=None):
        parameters.check_options(opt)
        self.opt = opt
        # Under torchrun (utilities/distributed.py): this process's rank, world size and device; None otherwise.
        self.group = distributed.current()
        self.device = select_device(opt.gpu) if self.group is None else self.group.device
        seed_everything(opt.seed)
        if parameters.amp_dtype(opt.amp) and self.device.type != "cuda":
            LOG.warning("--amp needs CUDA; training in float32 on the CPU.")
        self.amp_dtype = parameters.autocast_dtype(opt.amp, self.device)

        self.data = datasets.select(opt)
        self.model = architectures.select(opt.arch, opt.embed_dim, pretrained=not opt.not_pretrained,
                                          options=opt).to(self.device)
        crop = opt.crop_size or self.data.default_crop_size
        self.train_transform = build_transform(True, crop, self.data.train_crop_scale)
        self.eval_transform = build_transform(False, crop)
        self.sampler = datasampler.select(opt.data_sampler, opt, self.data.train.labels)
        self.objective = criteria.build_objective(opt, num_classes=self.data.train.num_classes, embed_dim=opt.embed_dim,
                                            batchminer=resolve_batchminer(opt)).to(self.device)
        self.teacher = self.load_teacher()
        if self.group is not None:
            self.check_distributed()
        log_parameter_counts(self.model, self.objective)
        specs = {MAIN: main_spec(opt), **self.objective.optimizer_specs(opt, len(self.sampler))}
        head_lr = opt.fc_lr if opt.fc_lr > 0 else opt.lr
        groups = self.model.param_groups(opt.lr, head_lr) + self.objective.param_groups(opt.lr)
        self.optimizers = NamedOptimizers(groups, specs)
        # bf16 keeps float32's exponent range: only fp16 needs its loss scaled.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.start_epoch = 0
        self.training_rng = None  # under torchrun: the random states a checkpoint keeps (keep_training_rng)

        # The folder comes last, so that a run refused at start leaves nothing behind. Only rank 0 (or the one
        # process) creates, locks and writes it; the other ranks learn its name.
        self.lock = self.logger = None
        self.run_dir = distributed.on_main(lambda: self.open_run_folder(run_dir))
        self.evaluation = SplitEvaluation(opt, self.data, self.embed_split, self.logger, self.device)
        self.record = BestRecord(opt.storage_metrics, self.evaluation.selection_split)
        self.context = HookContext(options=ReadOnlyOptions(opt), model=self.model, sampler=self.sampler,
                                   train_split=self.data.train, device=self.device, run_dir=self.run_dir,
                                   logger=logging.getLogger("component"), embed=self.embed_split,
                                   optimizers=self.optimizers, teacher=self.teacher, resuming=bool(opt.resume))
        self.steps = TrainingSteps(self.model, self.objective, self.optimizers, self.scaler, self.device,
                                   amp_dtype=self.amp_dtype, teacher=self.teacher, group=self.group)

    def open_run_folder(self, run_dir):
        """The run folder (a new one unless resuming), locked, with its logger (and W&B) and options file."""
        opt = self.opt
        fresh = run_dir is None
        run_dir = create_run_dir(opt.save_path, opt.dataset, opt.group, opt.seed) if fresh else run_dir
        try:
            self.lock = RunLock(run_dir)
            online = None
            if opt.log_online:
                from utilities.online_logging import WandbLogger
                online = WandbLogger(opt, run_dir, f"{opt.group}_s{opt.seed}")
            self.logger = RunLogger(run_dir, opt, online)
            if fresh:
                write_options(run_dir, opt)
        except BaseException:
            self.close()
            if fresh:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return run_dir

    def check_distributed(self):
        """What torchrun training refuses before anything is written (every rank refuses alike)."""
        self.sampler.check_world_size(self.group.world_size)
        if "images" in self.objective.NEEDS:
            raise ConfigError(
                f"--loss {self.opt.loss} (or one of its terms) runs its own pass of the model over the batch's "
                f"images; under torchrun it would see the gathered global batch on every rank, and that pass would "
                f"give the model {self.group.world_size} times its gradient. Train it in one process (python "
                f"main.py ...).")
        if self.opt.gpu != [0] and self.device.type == "cuda":
            LOG.info("torchrun: --gpu is not used; each process takes the GPU of its local rank (cuda:LOCAL_RANK; "
                     "choose GPUs with CUDA_VISIBLE_DEVICES).")
        if self.group.world_size > 1 and not self.model.frozen_bn:
            LOG.info("torchrun: BatchNorm normalises with each rank's own %d images (per-rank statistics); an "
                     "architecture with the _frozen tag has none.", self.opt.bs // self.group.world_size)

    def load_teacher(self):
        needs_teacher = sorted(self.objective.NEEDS & TEACHER_KEYS)
        path = self.opt.teacher
        if not path:
            if needs_teacher:
                raise ConfigError(f"The objective needs {', '.join(needs_teacher)}: give --teacher <run folder or "
                                  f"checkpoint> of a trained model.")
            return None
        from utilities.model_loading import load_trained_model
        teacher, record = load_trained_model(path, device=self.device)
        LOG.info("Teacher: %s (epoch %s, %s, %d-d).", record.path, record.epoch, record.arch, record.embed_dim)
        return teacher

    def close(self):
        """Release the run folder (also after a failure); safe to call twice."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def has_checkpoint(self):
        return os.path.isfile(os.path.join(self.run_dir, checkpoint.LAST))

    # ---- data ----
    def train_loader(self):
        views = self.objective.VIEWS
        transform = self.train_transform if views == 1 else MultiView(self.train_transform, views)
        dataset = ImageDataset(self.data.train, transform, skip_unreadable=self.opt.skip_unreadable_images)
        batches = self.sampler
        if self.group is not None:  # this rank's part of each global batch, each image with its augmentation seed
            dataset = SeededItems(dataset)
            batches = datasampler.RankShard(self.sampler, self.group.rank, self.group.world_size)
        return torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=self.opt.num_workers,
                                           collate_fn=collate_skipping, pin_memory=self.device.type == "cuda")

    def embed_split(self, split, keys=None, on_device=False):
        """({key: outputs}, labels) of a Split with the evaluation transform; keys default to --evaltypes; with
        on_device the outputs stay tensors on the run's device (--evaluate_on_gpu)."""
        loader = evaluation_loader(split, self.eval_transform, self.opt, self.device)
        return evaluation.embed(self.model, loader, self.device, amp=self.amp_dtype, keys=keys or self.opt.evaltypes,
                                on_device=on_device)

    # ---- checkpoints ----
    def state(self, epoch):
        return {
            "epoch": epoch,
            "step": self.context.step,
            "model": self.model.state_dict(),
            "criterion": self.objective.state_dict(),
            **self.optimizers.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": checkpoint.rng_states() if self.group is None else self.training_rng,
            "best": self.record.best,
            "options": saved_options(self.opt),
        }

    def best_state(self, epoch, results):
        """What a best file holds: enough to evaluate the model or use it as a teacher, no optimiser state."""
        return {"epoch": epoch, "model": self.model.state_dict(), "options": saved_options(self.opt),
                "metrics": results}

    def save_checkpoints(self, epoch, results, improved):
        best = checkpoint.serialise(self.best_state(epoch, results)) if improved else None
        checkpoint.commit_epoch(self.run_dir, epoch, checkpoint.serialise(self.state(epoch)), best, improved)

    def start(self):
        """Component setup, then (on --resume) the saved state: setup's state is overwritten by the checkpoint's.

        Under torchrun rank 0 goes first (what setup caches in the run folder is then written once), then the others;
        rank 0's loss state is then broadcast, and the model wrapped in DistributedDataParallel (which broadcasts
        rank 0's model)."""
        distributed.main_first(self.set_up_components)
        if self.group is not None:
            self.group.broadcast_module(self.objective)
            self.wrap_model()

    def wrap_model(self):
        """DDP takes the parameters that require gradients now; one unfrozen later needs a new wrapper (train_epoch)."""
        self.steps.model = self.group.wrap_model(self.model)
        self.wrapped = {id(p) for p in self.model.parameters() if p.requires_grad}

    def set_up_components(self):
        self.objective.setup(self.context)
        self.sampler.setup(self.context)
        if self.opt.resume:
            self.resume()

    def resume(self):
        path = f"{self.run_dir}/{checkpoint.LAST}"
        try:
            state = checkpoint.load(path, map_location=self.device)
        except Exception as error:  # noqa: BLE001 - torch.load raises many types for a damaged file
            raise ConfigError(f"--resume {self.run_dir}: {checkpoint.LAST} cannot be read ({type(error).__name__}: "
                              f"{error}); it is damaged or truncated, so the run cannot continue from it. Restore "
                              f"the file from a copy, or start the run again.") from error
        if distributed.is_main():
            checkpoint.recover(self.run_dir, state["epoch"])
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["criterion"])
        if "optimizer" in state:  # written before optimisers were named
            state = {**state, "optimizers": {MAIN: state["optimizer"]}, "schedulers": {MAIN: state["scheduler"]}}
        self.optimizers.load_state_dict(state)
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        checkpoint.restore_rng_states(state["rng"])
        self.record.best = state["best"]
        self.start_epoch = state["epoch"] + 1
        self.context.step = state.get("step", 0)
        if not distributed.is_main():
            return
        self.logger.truncate_after(state["epoch"])
        for problem in checkpoint.check_best_files(self.run_dir, self.record.best):
            LOG.warning("Best checkpoint out of step with the run's record: %s.", problem)
        LOG.info("Resuming %s after epoch %d%s.", self.run_dir, state["epoch"],
                 "" if self.group is None else f" with {self.group.world_size} torchrun process(es)")

    # ---- evaluation ----
    def diverged(self, epoch, what):
        # Every committed epoch precedes this one, so the last good checkpoint holds epoch - 1.
        last = os.path.join(self.run_dir, checkpoint.LAST)
        where = (f"The last good checkpoint is {last} (epoch {epoch - 1})." if self.has_checkpoint
                 else "No checkpoint was written yet.")
        return TrainingDiverged(f"Training diverged in epoch {epoch}: {what}. {where} Start a new run with a lower "
                                f"--lr (now {self.opt.lr}), an _normalize architecture or gradient-friendlier "
                                f"loss settings; resuming would diverge again.")

    def evaluate(self, epoch):
        def check_finite(what, embeddings):
            if not torch.isfinite(torch.as_tensor(embeddings)).all():  # numpy arrays or device tensors
                raise self.diverged(epoch, f"{what} contain NaN or infinite values")
        return self.evaluation.evaluate(epoch, check_finite)

    def finish_epoch(self, epoch, results, started):
        self.save_checkpoints(epoch, results, self.record.update(epoch, results))
        summary = self.write_summary(started)
        self.logger.plot()
        return summary

    def write_summary(self, started):
        last = {name: self.logger.table(name).rows()[-1] for name in self.logger.existing_tables()}
        summary = {"best": self.record.best, "selection_split": self.record.selection_split,
                   "run_dir": self.run_dir, "last": last, "seconds_this_session": time.time() - started}
        self.logger.write_summary(summary)
        return summary

    # ---- training ----
    def train_epoch(self, epoch):
        self.model.train()
        self.optimizers.set_warmup(frozen=epoch <= self.opt.warmup)
        self.sampler.set_epoch(epoch)
        self.context.epoch = epoch
        if self.group is not None:  # BatchNorm's running statistics: rank 0's, as the checkpoint and evaluation have
            self.group.broadcast_module(self.model, buffers_only=True)
        if self.sampler.needs_embeddings(epoch):
            # Under torchrun rank 0 embeds and every rank gets its numbers: all draw the same global batches.
            self.sampler.set_embeddings(distributed.on_main(self.embed_training_set))
        self.objective.on_epoch_start(self.context)
        self.sampler.on_epoch_start(self.context)
        if self.group is not None:  # the hooks ran on every rank: rank 0's loss state wins, the batches must agree
            self.group.broadcast_module(self.objective)
            self.group.check_same(self.sampler.state_dict(), f"the sampler's state in epoch {epoch}")
            if any(p.requires_grad and id(p) not in self.wrapped for p in self.model.parameters()):
                self.wrap_model()
        try:
            values, skipped = self.steps.run(self.train_loader(), self.context, desc=f"epoch {epoch} train")
        except FloatingPointError as error:
            raise self.diverged(epoch, str(error)) from None
        if skipped:
            LOG.warning("epoch %d: skipped %d unreadable training images.", epoch, skipped)
        return values

    def embed_training_set(self):
        return self.embed_split(self.data.train, keys=("embeds",))[0]["embeds"]

    def run(self):
        """Evaluate (epoch 0), then train and evaluate every epoch. Under torchrun the evaluation, the logs and the
        checkpoints are rank 0's (distributed.on_main): the other ranks wait for it, and stop with its error."""
        started = time.time()
        if self.start_epoch == 0:
            self.keep_training_rng()
            distributed.on_main(lambda: self.finish_epoch(0, self.evaluate(0), started))
            self.start_epoch = 1
        for epoch in range(self.start_epoch, self.opt.n_epochs + 1):
            epoch_start = time.time()
            lrs = self.optimizers.learning_rates()
            losses = self.train_epoch(epoch)
            self.keep_training_rng()
            distributed.on_main(lambda: self.end_epoch(epoch, {**losses, **lrs, "seconds": time.time() - epoch_start},
                                                       started))
        return distributed.on_main(lambda: self.end_run(started))

    def keep_training_rng(self):
        """Under torchrun: the random states the checkpoint keeps are those before rank 0's evaluation, which
        distributed.on_main puts back afterwards, so that a resumed run draws what the uninterrupted one did."""
        if self.group is not None:
            self.training_rng = checkpoint.rng_states()

    def end_epoch(self, epoch, train_values, started):
        self.logger.log("train", epoch, train_values)
        return self.finish_epoch(epoch, self.evaluate(epoch), started)

    def end_run(self, started):
        summary = self.write_summary(started)
        self.logger.finish()
        return summary
