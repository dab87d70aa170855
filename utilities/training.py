"""The training run: wires dataset, backbone, objective (loss + terms), batchminer, sampler, optimisers and an
optional frozen teacher, then trains, evaluates and checkpoints.

Epoch 0 is the evaluation before any training; epoch e >= 1 is the state after e training epochs. Every epoch ends
with an evaluation, the CSV rows and plots, and a checkpoint commit (utilities/checkpoint.py), so an interrupted run
loses at most the epoch in progress and `--resume <run folder>` continues it to the same result an uninterrupted run
reaches (on CPU).

Where each concern lives: options checks in parameters.py; evaluation and best tracking in run_evaluation.py;
optimisers and schedules in optimizers.py; hook context and lifecycle in hooks.py; checkpoint files in
checkpoint.py; logs in logger.py. Components never get special cases here: they declare what they need (NEEDS,
VIEWS, parameter groups, optimiser specs, hooks) and the loop provides it.
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
from utilities import checkpoint
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


class TrainingSteps:
    """One pass of optimisation steps over a loader: the loop every training goes through (Run, and the tests'
    tiny trainings on synthetic features). The loader yields (inputs, labels, indices, n_skipped); the model returns
    a dict with "embeds" (and what the objective NEEDS). Each step: forward (with autocast when use_amp), the context
    keys the objective declared, the objective, a finiteness check (FloatingPointError), backward and a step of
    every named optimiser, then the objective's on_step_end hook. Returns the epoch means: "loss", and each part's
    value ("loss_<name>") when the objective has terms; and the count of skipped unreadable items."""

    def __init__(self, model, objective, optimizers, scaler, device, use_amp=False, teacher=None):
        self.model = model
        self.objective = objective
        self.optimizers = optimizers
        self.scaler = scaler
        self.device = device
        self.use_amp = use_amp
        self.teacher = teacher

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
        bar = tqdm(loader, desc=desc, leave=False)
        for images, labels, indices, n_skipped in bar:
            skipped += n_skipped
            if views > 1:  # [B, V, C, H, W] -> view-major [V * B, C, H, W]
                images = images.transpose(0, 1).reshape(-1, *images.shape[2:])
                labels, indices = labels.repeat(views), indices.repeat(views)
            images = images.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                out = self.model(images, return_logits="logits" in self.objective.NEEDS,
                                 return_intermediate="intermediate" in self.objective.NEEDS)
                context = self.batch_context(out, images, indices)
            loss = self.objective(out["embeds"].float(), labels.to(self.device), **context)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()}")
            self.optimizers.zero_grad()
            self.scaler.scale(loss).backward()
            self.optimizers.step(self.scaler)
            hook_context.step += 1
            self.objective.on_step_end(hook_context)
            # Each part's value gets its own column when there are terms (alone, the base loss is "loss").
            parts = self.objective.last_values if self.objective.terms else {}
            for key, value in {"loss": loss, **parts}.items():
                totals.setdefault(key, []).append(value.item())
            bar.set_postfix(loss=f"{np.mean(totals['loss']):.4f}")
        self.optimizers.epoch_end()
        values = {key: float(np.mean(v)) for key, v in totals.items()} or {"loss": float("nan")}
        return values, skipped


class Run:
    def __init__(self, opt, run_dir=None):
        parameters.check_options(opt)
        self.opt = opt
        self.device = select_device(opt.gpu)
        seed_everything(opt.seed)
        if opt.amp and self.device.type != "cuda":
            LOG.warning("--amp needs CUDA; training in float32 on the CPU.")
        self.use_amp = opt.amp and self.device.type == "cuda"

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
        log_parameter_counts(self.model, self.objective)
        specs = {MAIN: main_spec(opt), **self.objective.optimizer_specs(opt, len(self.sampler))}
        head_lr = opt.fc_lr if opt.fc_lr > 0 else opt.lr
        groups = self.model.param_groups(opt.lr, head_lr) + self.objective.param_groups(opt.lr)
        self.optimizers = NamedOptimizers(groups, specs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.start_epoch = 0

        # The folder comes last, so that a run refused at start leaves nothing behind.
        fresh = run_dir is None
        self.run_dir = create_run_dir(opt.save_path, opt.dataset, opt.group, opt.seed) if fresh else run_dir
        self.lock = None
        try:
            self.lock = RunLock(self.run_dir)
            online = None
            if opt.log_online:
                from utilities.online_logging import WandbLogger
                online = WandbLogger(opt, self.run_dir, f"{opt.group}_s{opt.seed}")
            self.logger = RunLogger(self.run_dir, opt, online)
            if fresh:
                write_options(self.run_dir, opt)
        except BaseException:
            self.close()
            if fresh:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        self.evaluation = SplitEvaluation(opt, self.data, self.embed_split, self.logger)
        self.record = BestRecord(opt.storage_metrics, self.evaluation.selection_split)
        self.context = HookContext(options=ReadOnlyOptions(opt), model=self.model, sampler=self.sampler,
                                   train_split=self.data.train, device=self.device, run_dir=self.run_dir,
                                   logger=logging.getLogger("component"), embed=self.embed_split,
                                   optimizers=self.optimizers, teacher=self.teacher, resuming=bool(opt.resume))
        self.steps = TrainingSteps(self.model, self.objective, self.optimizers, self.scaler, self.device,
                                   use_amp=self.use_amp, teacher=self.teacher)

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
        return torch.utils.data.DataLoader(dataset, batch_sampler=self.sampler, num_workers=self.opt.num_workers,
                                           collate_fn=collate_skipping, pin_memory=self.device.type == "cuda")

    def embed_split(self, split, keys=None):
        """({key: outputs}, labels) of a Split with the evaluation transform; keys default to --evaltypes."""
        loader = evaluation_loader(split, self.eval_transform, self.opt, self.device)
        return evaluation.embed(self.model, loader, self.device, amp=self.use_amp, keys=keys or self.opt.evaltypes)

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
            "rng": checkpoint.rng_states(),
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
        """Component setup, then (on --resume) the saved state: setup's state is overwritten by the checkpoint's."""
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
        self.logger.truncate_after(state["epoch"])
        for problem in checkpoint.check_best_files(self.run_dir, self.record.best):
            LOG.warning("Best checkpoint out of step with the run's record: %s.", problem)
        LOG.info("Resuming %s after epoch %d.", self.run_dir, state["epoch"])

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
            if not np.isfinite(embeddings).all():
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
        if self.sampler.needs_embeddings(epoch):
            outputs, _ = evaluation.embed(self.model, evaluation_loader(self.data.train, self.eval_transform, self.opt,
                                                                        self.device), self.device, amp=self.use_amp)
            self.sampler.set_embeddings(outputs["embeds"])
        self.objective.on_epoch_start(self.context)
        self.sampler.on_epoch_start(self.context)
        try:
            values, skipped = self.steps.run(self.train_loader(), self.context, desc=f"epoch {epoch} train")
        except FloatingPointError as error:
            raise self.diverged(epoch, str(error)) from None
        if skipped:
            LOG.warning("epoch %d: skipped %d unreadable training images.", epoch, skipped)
        return values

    def run(self):
        started = time.time()
        if self.start_epoch == 0:
            self.finish_epoch(0, self.evaluate(0), started)
            self.start_epoch = 1
        for epoch in range(self.start_epoch, self.opt.n_epochs + 1):
            epoch_start = time.time()
            lrs = self.optimizers.learning_rates()
            losses = self.train_epoch(epoch)
            self.logger.log("train", epoch, {**losses, **lrs, "seconds": time.time() - epoch_start})
            self.finish_epoch(epoch, self.evaluate(epoch), started)
        summary = self.write_summary(started)
        self.logger.finish()
        return summary
