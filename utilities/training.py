"""The training run: wires dataset, backbone, loss, batchminer and sampler, then trains, evaluates and checkpoints.

Epoch 0 is the evaluation before any training; epoch e >= 1 is the state after e training epochs. Every epoch ends
with an evaluation, the CSV rows and plots, and an atomic checkpoint, so an interrupted run loses at most the epoch in
progress and `--resume <run folder>` continues it to the same result an uninterrupted run reaches (on CPU).
"""
import dataclasses
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
from datasets.base import ImageDataset, build_transform, collate_skipping, evaluation_loader
from utilities import checkpoint
from utilities.errors import ConfigError, TrainingDiverged
from utilities.logger import RunLogger, create_run_dir, write_options
from utilities.options import saved_options
from utilities.run_lock import RunLock

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingContext:
    """What loss hooks (on_train_start / on_epoch_start) may use: the model, the data and a way to embed it."""
    model: torch.nn.Module
    train_split: object
    device: torch.device
    make_loader: object  # callable(split, train: bool) -> DataLoader yielding (images, labels, indices, n_skipped)
    run_dir: str


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_device(opt):
    if torch.cuda.is_available():
        return torch.device(f"cuda:{opt.gpu[0]}")
    LOG.info("CUDA is not available: training on the CPU.")
    return torch.device("cpu")


def resolve_batchminer(opt):
    """The loss's batchminer: the one asked for, else the loss's default; None for losses that mine themselves."""
    criterion_class = criteria.REGISTRY.get(opt.loss)
    name = opt.batch_mining or criterion_class.DEFAULT_BATCHMINER
    if name is None:
        return None
    return batchminer.select(name, opt)


def build_optimizer(opt, model, criterion):
    head_lr = opt.fc_lr if opt.fc_lr > 0 else opt.lr
    head_ids = {id(p) for p in model.head_parameters()}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": opt.lr, "name": "backbone"},
        {"params": list(model.head_parameters()), "lr": head_lr, "name": "head"},
        *criterion.param_groups(opt.lr),
    ]
    if opt.optim == "adam":
        return torch.optim.Adam(groups, weight_decay=opt.decay)
    if opt.optim == "adamw":
        return torch.optim.AdamW(groups, weight_decay=opt.decay)
    return torch.optim.SGD(groups, momentum=opt.sgd_momentum, weight_decay=opt.decay)


def build_scheduler(opt, optimizer):
    if opt.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=opt.tau[0], gamma=opt.gamma)
    if opt.scheduler == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=opt.tau, gamma=opt.gamma)
    if opt.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(opt.n_epochs, 1))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def train_subset(split, max_images, seed):
    """Whole random classes of the training split, up to max_images, for the (optional) training-split metrics."""
    if len(split.paths) <= max_images:
        return split
    sizes = np.bincount(split.labels, minlength=split.num_classes)
    order = np.random.default_rng(seed).permutation(split.num_classes)
    # Keep classes while they fit (at least one), in the seeded order.
    fits = np.cumsum(sizes[order]) <= max_images
    fits[0] = True
    return split.select_classes("train", sorted(order[fits].tolist()))


class Run:
    def __init__(self, opt, run_dir=None):
        parameters.check_options(opt)
        self.opt = opt
        self.device = select_device(opt)
        seed_everything(opt.seed)
        if opt.amp and self.device.type != "cuda":
            LOG.warning("--amp needs CUDA; training in float32 on the CPU.")
        self.use_amp = opt.amp and self.device.type == "cuda"

        self.data = datasets.select(opt)
        self.model = architectures.select(opt.arch, opt.embed_dim, pretrained=not opt.not_pretrained).to(self.device)
        crop = opt.crop_size or self.data.default_crop_size
        self.train_transform = build_transform(True, crop, self.model.mean, self.model.std, self.data.train_crop_scale)
        self.eval_transform = build_transform(False, crop, self.model.mean, self.model.std)
        self.sampler = datasampler.select(opt.data_sampler, opt, self.data.train.labels)
        self.criterion = criteria.select(opt.loss, opt, num_classes=self.data.train.num_classes,
                                         embed_dim=opt.embed_dim, batchminer=resolve_batchminer(opt)).to(self.device)
        self.optimizer = build_optimizer(opt, self.model, self.criterion)
        self.scheduler = build_scheduler(opt, self.optimizer)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        self.eval_splits = dict(self.data.evaluation)
        if not opt.no_train_metrics:
            subset = train_subset(self.data.train, opt.train_metrics_max_images, opt.seed)
            self.eval_splits["train"] = datasets.base.EvalSplit("train", subset, None,
                                                                self.data.evaluation["test"].recall_ks)
        self.selection_split = "val" if "val" in self.eval_splits else "test"
        self.best = {}
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

    def close(self):
        """Release the run folder (also after a failure); safe to call twice."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def has_checkpoint(self):
        return os.path.isfile(os.path.join(self.run_dir, checkpoint.LAST))

    # ---- data ----
    def make_loader(self, split, train):
        if not train:
            return evaluation_loader(split, self.eval_transform, self.opt, self.device)
        dataset = ImageDataset(split, self.train_transform, skip_unreadable=self.opt.skip_unreadable_images)
        return torch.utils.data.DataLoader(dataset, batch_sampler=self.sampler, num_workers=self.opt.num_workers,
                                           collate_fn=collate_skipping, pin_memory=self.device.type == "cuda")

    def context(self):
        return TrainingContext(self.model, self.data.train, self.device, self.make_loader, self.run_dir)

    # ---- checkpoints ----
    def state(self, epoch):
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "criterion": self.criterion.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": checkpoint.rng_states(),
            "best": self.best,
            "options": saved_options(self.opt),
        }

    def best_state(self, epoch, results):
        """What a best file holds: enough to evaluate the model or use it as a teacher, no optimiser state."""
        return {"epoch": epoch, "model": self.model.state_dict(), "options": saved_options(self.opt),
                "metrics": results}

    def save_checkpoints(self, epoch, results, improved):
        best = checkpoint.serialise(self.best_state(epoch, results)) if improved else None
        checkpoint.commit_epoch(self.run_dir, epoch, checkpoint.serialise(self.state(epoch)), best, improved)

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
        self.criterion.load_state_dict(state["criterion"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        checkpoint.restore_rng_states(state["rng"])
        self.best = state["best"]
        self.start_epoch = state["epoch"] + 1
        self.logger.truncate_after(state["epoch"])
        for problem in checkpoint.check_best_files(self.run_dir, self.best):
            LOG.warning("Best checkpoint out of step with the run's record: %s.", problem)
        LOG.info("Resuming %s after epoch %d.", self.run_dir, state["epoch"])

    # ---- evaluation ----
    def evaluate(self, epoch):
        """Evaluate every split; returns {split: {metric: value}} for the embedding used to select checkpoints."""
        results = {}
        for name, split in self.eval_splits.items():
            loaders = [self.make_loader(split.query, train=False)]
            if split.gallery is not None:
                loaders.append(self.make_loader(split.gallery, train=False))
            outputs = [evaluation.embed(self.model, loader, self.device, amp=self.use_amp, keys=self.opt.evaltypes)
                       for loader in loaders]
            for embeddings, _ in outputs:
                for evaltype in self.opt.evaltypes:
                    if not np.isfinite(embeddings[evaltype]).all():
                        raise self.diverged(epoch, f"the {name} split's {evaltype} contain NaN or infinite values")
            for evaltype in self.opt.evaltypes:
                embedded = [(embeddings[evaltype], labels) for embeddings, labels in outputs]
                gallery = embedded[1] if len(embedded) > 1 else (None, None)
                metrics = evaluation.evaluate(self.opt.evaluation_metrics, *embedded[0], *gallery, seed=self.opt.seed)
                self.logger.log(f"{name}_{evaltype}", epoch, metrics)
                LOG.info("epoch %d %s/%s: %s", epoch, name, evaltype,
                         "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
                if evaltype == self.opt.evaltypes[0]:
                    results[name] = metrics
        return results

    def update_best(self, epoch, results):
        improved = []
        for metric in self.opt.storage_metrics:
            value = results[self.selection_split][metric]
            if metric not in self.best or value > self.best[metric]["value"]:
                self.best[metric] = {"value": value, "epoch": epoch,
                                     "other_splits": {s: r[metric] for s, r in results.items()}}
                improved.append(metric)
        return improved

    def diverged(self, epoch, what):
        last = os.path.join(self.run_dir, checkpoint.LAST)
        where = (f"The last good checkpoint is {last} (epoch {checkpoint.load(last)['epoch']})."
                 if self.has_checkpoint else "No checkpoint was written yet.")
        return TrainingDiverged(f"Training diverged in epoch {epoch}: {what}. {where} Start a new run with a lower "
                                f"--lr (now {self.opt.lr}), an _normalize architecture or gradient-friendlier "
                                f"loss settings; resuming would diverge again.")

    def write_summary(self, started):
        last = {name: self.logger.table(name).rows()[-1] for name in self.logger.existing_tables()}
        summary = {"best": self.best, "selection_split": self.selection_split, "run_dir": self.run_dir,
                   "last": last, "seconds_this_session": time.time() - started}
        self.logger.write_summary(summary)
        return summary

    # ---- training ----
    def set_warmup(self, epoch):
        """During --warmup epochs only the embedding head and the loss's own parameters learn."""
        head_ids = {id(p) for p in self.model.head_parameters()}
        for p in self.model.parameters():
            if id(p) not in head_ids:
                p.requires_grad_(epoch > self.opt.warmup)

    def train_epoch(self, epoch):
        self.model.train()
        self.set_warmup(epoch)
        self.sampler.set_epoch(epoch)
        if self.sampler.REQUIRES_EMBEDDINGS:
            outputs, _ = evaluation.embed(self.model, self.make_loader(self.data.train, train=False), self.device,
                                          amp=self.use_amp)
            self.sampler.set_embeddings(outputs["embeds"])
        self.criterion.on_epoch_start(epoch, self.context())
        losses, skipped = [], 0
        bar = tqdm(self.make_loader(self.data.train, train=True), desc=f"epoch {epoch} train", leave=False)
        for images, labels, indices, n_skipped in bar:
            skipped += n_skipped
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                out = self.model(images.to(self.device, non_blocking=True),
                                 return_intermediate="intermediate" in self.criterion.NEEDS)
            context = {key: out[key] for key in self.criterion.NEEDS if key in out}
            if "images" in self.criterion.NEEDS:
                context["images"] = images
            if "indices" in self.criterion.NEEDS:
                context["indices"] = indices
            loss = self.criterion(out["embeds"].float(), labels.to(self.device), **context)
            if not torch.isfinite(loss):
                raise self.diverged(epoch, f"the loss became {loss.item()}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        self.scheduler.step()
        if skipped:
            LOG.warning("epoch %d: skipped %d unreadable training images.", epoch, skipped)
        return float(np.mean(losses)) if losses else float("nan")

    def run(self):
        start = time.time()
        if self.start_epoch == 0:
            self.criterion.on_train_start(self.context())
            results = self.evaluate(0)
            self.save_checkpoints(0, results, self.update_best(0, results))
            self.write_summary(start)
            self.logger.plot()
            self.start_epoch = 1
        for epoch in range(self.start_epoch, self.opt.n_epochs + 1):
            epoch_start = time.time()
            lrs = {f"lr_{g['name']}": g["lr"] for g in self.optimizer.param_groups}
            loss = self.train_epoch(epoch)
            self.logger.log("train", epoch, {"loss": loss, **lrs, "seconds": time.time() - epoch_start})
            results = self.evaluate(epoch)
            self.save_checkpoints(epoch, results, self.update_best(epoch, results))
            self.write_summary(start)
            self.logger.plot()
        summary = self.write_summary(start)
        self.logger.finish()
        return summary
