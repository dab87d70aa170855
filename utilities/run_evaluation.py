"""Evaluation inside a run: embed every evaluation split, compute and log its metrics, and keep the best epochs.

`SplitEvaluation.evaluate(epoch)` embeds each split once (test; val with --use_tv_split; a training subset unless
--no_train_metrics), logs one CSV row per split and evaluation type, and returns the metrics of the first
--evaltypes entry per split; with --evaluate_on_gpu in a run on CUDA the embeddings stay on the GPU for the search
and k-means (evaluation/device_search.py: the same results as the CPU path), elsewhere the flag is ignored with a
warning. `BestRecord` keeps, for each --storage_metrics entry, the best value on the selection split (val when it
exists, else test) with its epoch and the other splits' values then.
"""
import logging

import numpy as np

import datasets
import evaluation

LOG = logging.getLogger(__name__)


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


class SplitEvaluation:
    def __init__(self, opt, data, embed_split, logger, device=None):
        """embed_split(split) -> ({evaltype: array}, labels); logger: the run's RunLogger; device: the run's torch
        device. With --evaluate_on_gpu and a CUDA device, embed_split(split, on_device=True) must return the
        embeddings as tensors on it, and they are searched and clustered there (--eval_memory_mb per block)."""
        self.opt = opt
        self.device = evaluation.evaluation_device(opt.evaluate_on_gpu, device)
        self.embed_split = embed_split
        self.logger = logger
        self.splits = dict(data.evaluation)
        if not opt.no_train_metrics:
            subset = train_subset(data.train, opt.train_metrics_max_images, opt.seed)
            self.splits["train"] = datasets.base.EvalSplit("train", subset, None, data.evaluation["test"].recall_ks)
        self.selection_split = data.selection_key

    def evaluate(self, epoch, check_finite):
        """{split: {metric: value}} of the first evaltype; check_finite(what, array) raises on non-finite values."""
        results = {}
        for name, split in self.splits.items():
            parts = [split.query] + ([split.gallery] if split.gallery is not None else [])
            # on_device only when it is used, so that an embed_split without that keyword serves the CPU path.
            outputs = [self.embed_split(part) if self.device is None else self.embed_split(part, on_device=True)
                       for part in parts]
            for evaltype in self.opt.evaltypes:
                embedded = [(embeddings[evaltype], labels) for embeddings, labels in outputs]
                for embeddings, _ in embedded:
                    check_finite(f"the {name} split's {evaltype}", embeddings)
                gallery = embedded[1] if len(embedded) > 1 else (None, None)
                metrics = evaluation.evaluate(self.opt.evaluation_metrics, *embedded[0], *gallery, seed=self.opt.seed,
                                              device=self.device, memory_mb=self.opt.eval_memory_mb)
                self.logger.log(f"{name}_{evaltype}", epoch, metrics)
                LOG.info("epoch %d %s/%s: %s", epoch, name, evaltype,
                         "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
                if evaltype == self.opt.evaltypes[0]:
                    results[name] = metrics
        return results


class BestRecord:
    def __init__(self, storage_metrics, selection_split):
        self.storage_metrics = storage_metrics
        self.selection_split = selection_split
        self.best = {}

    def update(self, epoch, results):
        """Record improvements of this epoch; returns the metrics that improved."""
        improved = []
        for metric in self.storage_metrics:
            value = results[self.selection_split][metric]
            if metric not in self.best or value > self.best[metric]["value"]:
                self.best[metric] = {"value": value, "epoch": epoch,
                                     "other_splits": {s: r[metric] for s, r in results.items()}}
                improved.append(metric)
        return improved
