"""A trained run folder with the data it was trained on: its model, its splits embedded exactly as the run's own
evaluation embedded them, and the evaluation's nearest-neighbour ranking. Shared by evaluate.py,
scripts/show_retrievals.py and scripts/export.py.

    run = open_run("Training_Results/emoji/<group>_s0", checkpoint="best")   # model, info, opt, data, device
    split = evaluation_split(run.data, "test")
    query, gallery = embed_evaluation_split(run.model, split, run.transform, run.opt, run.device, run.output)
    order = ranked_neighbours(query[0], query[0], k=5, self_index=np.arange(len(query[0])), space=run.space)

`checkpoint` is "best" (the best file of the run's first --storage_metrics entry, else checkpoint_last.pth: the
default of utilities/model_loading.py), "last", or the path of a checkpoint file. The run's saved options rebuild
the dataset; `source_path` overrides where it lies.
"""
import dataclasses
import logging

import numpy as np

import datasets
import evaluation
import parameters
from datasets.base import evaluation_loader
from evaluation.knn import _Scorer, search_device
from metrics import build_metric
from metrics.base import SPACES
from utilities.errors import ConfigError
from utilities.model_loading import LAST, load_trained_model

LOG = logging.getLogger(__name__)

CHECKPOINT_CHOICES = ("best", "last")


@dataclasses.dataclass
class OpenedRun:
    """A run's frozen model on `device`, where it came from (TrainedModelInfo), its options (a namespace), its
    dataset splits, the evaluation transform (the run's crop, else the dataset's default), and what its model
    selection evaluates: the model output (its first --evaltypes entry) and the ranking space."""
    model: object
    info: object
    opt: object
    data: object
    device: object
    transform: object
    crop: int
    output: str
    space: str


def load_run_model(folder, checkpoint="best"):
    """(frozen model on the CPU, TrainedModelInfo) of a run folder's checkpoint, see the module docstring."""
    if checkpoint in CHECKPOINT_CHOICES:
        return load_trained_model(folder, device="cpu", frozen=True, which=LAST if checkpoint == "last" else None)
    return load_trained_model(checkpoint, device="cpu", frozen=True)


def open_run(folder, checkpoint="best", source_path=None):
    """The OpenedRun of a run folder (ConfigError when it holds no checkpoint or its dataset cannot be loaded)."""
    from utilities.training import select_device
    model, info = load_run_model(folder, checkpoint)
    opt = parameters.restore_options(info.options)
    if source_path:
        opt.source_path = source_path
    data = datasets.select(opt)
    device = select_device(opt.gpu)
    transform, crop = evaluation_transform(opt, data)
    LOG.info("%s: epoch %s of %s (%s, %d-d); %s from %s at %d px crops.", info.path, info.epoch,
             opt.group or "the run", info.arch, info.embed_dim, opt.dataset, opt.source_path, crop)
    return OpenedRun(model.to(device), info, opt, data, device, transform, crop, output=opt.evaltypes[0],
                     space=ranking_space(opt))


def evaluation_transform(opt, data):
    """(transform, crop): the test transform at the run's crop, else the dataset's default, as the run evaluated."""
    crop = opt.crop_size or data.default_crop_size
    return datasets.build_transform(False, crop), crop


def ranking_space(opt):
    """"euclidean" or "cosine": the space in which the run's first --storage_metrics entry ranks (model selection's)."""
    return build_metric(opt.storage_metrics[0]).space


def evaluation_split(data, name, flag="--split"):
    """data.evaluation[name], or a ConfigError naming the evaluation splits the dataset has."""
    if name not in data.evaluation:
        hint = " (val exists only for runs trained with --use_tv_split)" if name == "val" else ""
        raise ConfigError(f"{flag} {name}: {data.name} has the evaluation splits "
                          f"{', '.join(sorted(data.evaluation))}{hint}.")
    return data.evaluation[name]


def embed_split(model, split, transform, opt, device, output):
    """(the model's `output` ("embeds" or "features"), labels) of one Split, batched and cast like the training
    loop's evaluation, so that the numbers are the run's own."""
    loader = evaluation_loader(split, transform, opt, device)
    outputs, labels = evaluation.embed(model, loader, device, amp=parameters.autocast_dtype(opt.amp, device),
                                       keys=(output,))
    return outputs[output], labels


def embed_evaluation_split(model, split, transform, opt, device, output):
    """((query outputs, labels), (gallery outputs, labels)) of an EvalSplit; the gallery is (None, None) for the
    same-set protocol, as evaluation.evaluate takes it."""
    query = embed_split(model, split.query, transform, opt, device, output)
    gallery = (None, None) if split.gallery is None else embed_split(model, split.gallery, transform, opt, device,
                                                                     output)
    return query, gallery


def ranked_neighbours(queries, gallery, k, self_index=None, space="euclidean"):
    """int64 [Q, k]: each query's k nearest gallery items, nearest first, ranked as the evaluation ranks.

    The scores are evaluation/knn.py's own (Euclidean: 2 <q, g> - |g|^2; cosine: the inner product of normalised
    embeddings), so float rounding is the metrics'; ties go to the lower gallery index. self_index (int64 [Q], the
    same-set protocol): each query's own gallery index, never its own neighbour. k is capped at the candidates.
    """
    queries = np.ascontiguousarray(SPACES[space](np.asarray(queries, dtype=np.float32)))
    gallery = np.ascontiguousarray(SPACES[space](np.asarray(gallery, dtype=np.float32)))
    k = min(k, len(gallery) - (self_index is not None))
    own = None if self_index is None else np.asarray(self_index, dtype=np.int64)
    with _Scorer(gallery, space == "cosine", len(queries), min(k + 1, len(gallery)), search_device()) as score:
        scores = score(queries, own)[0].cpu().numpy()
    # A stable sort of the negated scores keeps equal scores in gallery order: ties go to the lower index.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
