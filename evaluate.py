"""Evaluate without training: a checkpoint written by main.py, or precomputed embeddings.

    python evaluate.py --checkpoint RUN/checkpoint_best_e_recall_at_1.pth [--dataset D --source_path P] [--split val]
    python evaluate.py --embeddings X.npy --labels y.npy                      # same-set: every item queries the rest
    python evaluate.py --embeddings G.npy --labels g.npy --query_embeddings Q.npy --query_labels q.npy

Both print a metric/value table and, with --json out.json, write {metric name: value} (null where a metric is
undefined, e.g. no query has a class mate in the gallery). Without --metrics, the training default
`evaluation.default_metrics(recall_ks)` is computed: the benchmark's recall@k list (its `recall_ks`; with
--embeddings, --dataset picks it, else 1/2/4/8), NMI, MAP@R and Roth et al.'s other metrics.

A checkpoint is evaluated with the options of its run (stored in it): the model is rebuilt and loaded, the dataset
split embedded with the test transform (the run's crop, else the dataset's default) and evaluated exactly as
during training, so it reproduces the run's CSV row of that epoch. Flags given here (--dataset, --source_path,
--seed, --num_workers, the dataset's own --dataset_<name>_* flags) override the run's options.
"""
import argparse
import json
import logging
import math
import os
import sys

import parameters
from utilities.errors import ConfigError
from utilities.registry import add_static_arguments, static_names

# The command line is parsed before numpy, torch and the components are imported (see main.py), so --help and a bad
# flag answer at once; the heavy modules are imported where they are used.

LOG = logging.getLogger("evaluate")


def build_parser():
    parser = argparse.ArgumentParser(
        description="Evaluate a checkpoint written by main.py or precomputed embeddings (see the module docstring).")
    inputs = parser.add_argument_group("What to evaluate: --checkpoint, or --embeddings with --labels")
    inputs.add_argument("--checkpoint", default="", type=str,
                        help="A checkpoint_*.pth written by main.py, or a run folder (its best checkpoint for its "
                             "first --storage_metrics entry, else checkpoint_last.pth).")
    inputs.add_argument("--embeddings", default="", type=str,
                        help="Embeddings [N, D] as a .npy file; the gallery when --query_embeddings is given.")
    inputs.add_argument("--labels", default="", type=str, help="Integer class labels [N] (.npy) of --embeddings.")
    inputs.add_argument("--query_embeddings", default="", type=str,
                        help="Query embeddings [Q, D] (.npy), searched against --embeddings.")
    inputs.add_argument("--query_labels", default="", type=str, help="Integer class labels [Q] (.npy) of the queries.")
    data = parser.add_argument_group("Checkpoint evaluation (a flag left out takes the run's value, if it has one)")
    data.add_argument("--dataset", default="", type=str,
                      help="Dataset to evaluate on: " + ", ".join(static_names("datasets")) + ". With --embeddings "
                           "it only picks the default recall@k list.")
    data.add_argument("--source_path", type=str, help="Folder holding one sub-folder per dataset.")
    data.add_argument("--split", default="test", type=str,
                      help="Evaluation split: test (default), or val for runs trained with --use_tv_split.")
    data.add_argument("--evaltype", default="embeds", choices=["embeds", "features"],
                      help="Model output to evaluate: the embedding (default) or the pooled backbone features.")
    data.add_argument("--num_workers", type=int, help="Data-loading worker processes.")
    add_static_arguments(parser, "datasets", "Dataset")
    output = parser.add_argument_group("Metrics and output")
    output.add_argument("--metrics", nargs="+", default=None, type=str,
                        help="Metric names, e.g. e_recall@1 nmi mAP_R; default: the training default for the "
                             "benchmark (its recall@k list, nmi, mAP_R and Roth et al.'s other metrics).")
    output.add_argument("--seed", default=0, type=int,
                        help="k-means seed of nmi; default 0, for a checkpoint the run's --seed.")
    output.add_argument("--json", default="", type=str, help="Also write {metric: value} to this JSON file.")
    return parser


def parse_options(argv):
    """The options namespace and, in checkpoint mode, the loaded checkpoint (else None)."""
    parser = build_parser()
    opt = parser.parse_args(argv)
    if bool(opt.checkpoint) == bool(opt.embeddings):
        raise ConfigError("Give either --checkpoint RUN/checkpoint_*.pth or --embeddings X.npy --labels y.npy.")
    if not opt.checkpoint:
        if not opt.labels:
            raise ConfigError("--embeddings needs --labels: the class label of every row.")
        if bool(opt.query_embeddings) != bool(opt.query_labels):
            raise ConfigError("--query_embeddings and --query_labels go together.")
        return opt, None
    if opt.labels or opt.query_embeddings or opt.query_labels:
        raise ConfigError("--labels and --query_* go with --embeddings, not --checkpoint: a checkpoint is evaluated "
                          "on its dataset's images and labels.")
    loaded = load_model(opt.checkpoint)
    # The run's options fill every flag not given here: argparse only sets defaults the namespace lacks.
    run_options = parameters.restore_options(loaded[1].options)
    return parser.parse_args(argv, namespace=run_options), loaded


def load_model(path):
    """(frozen model on the CPU, TrainedModelInfo) of a checkpoint file or a run folder (utilities/model_loading.py)."""
    from utilities.model_loading import load_trained_model
    try:
        return load_trained_model(path, device="cpu", frozen=True)
    except ConfigError as error:
        raise ConfigError(f"--checkpoint {error}") from error


def load_array(path, flag):
    import numpy as np
    if not os.path.isfile(path):
        raise ConfigError(f"{flag} {path}: no such file; expected a NumPy array saved with numpy.save (.npy).")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{flag} {path} is not a NumPy .npy array ({error}).") from error
    if not isinstance(array, np.ndarray):
        raise ConfigError(f"{flag} {path} is an .npz archive; save one array per file with numpy.save (.npy).")
    return array


def checked_pair(embeddings_flag, labels_flag, opt):
    """(embeddings float32 [N, D], labels int64 [N]) loaded from the two flags' files, validated."""
    import numpy as np
    embeddings_path, labels_path = getattr(opt, embeddings_flag), getattr(opt, labels_flag)
    if not labels_path:
        raise ConfigError(f"--{embeddings_flag} needs --{labels_flag}: the class label of every row.")
    embeddings = load_array(embeddings_path, f"--{embeddings_flag}")
    labels = load_array(labels_path, f"--{labels_flag}")
    if embeddings.ndim != 2 or len(embeddings) == 0 or not np.issubdtype(embeddings.dtype, np.number) \
            or np.issubdtype(embeddings.dtype, np.complexfloating):
        raise ConfigError(f"--{embeddings_flag} {embeddings_path} must be a non-empty real [N, D] array, got shape "
                          f"{embeddings.shape} and dtype {embeddings.dtype}.")
    if not np.isfinite(embeddings).all():
        raise ConfigError(f"--{embeddings_flag} {embeddings_path} contains NaN or infinite values.")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"--{labels_flag} {labels_path} must be a 1-D integer array [N], got shape {labels.shape} "
                          f"and dtype {labels.dtype}; save class ids with e.g. numpy.save(path, y.astype(int)).")
    if len(labels) != len(embeddings):
        raise ConfigError(f"--{embeddings_flag} has {len(embeddings)} rows but --{labels_flag} has {len(labels)} "
                          f"labels; they must match one to one.")
    return embeddings.astype(np.float32), labels.astype(np.int64)


def evaluate_embeddings(opt, metrics):
    import numpy as np

    import evaluation
    if bool(opt.query_embeddings) != bool(opt.query_labels):
        raise ConfigError("--query_embeddings and --query_labels go together.")
    gallery = checked_pair("embeddings", "labels", opt)
    if not opt.query_embeddings:
        LOG.info("Same-set evaluation of %d items (%d classes).", len(gallery[1]), len(np.unique(gallery[1])))
        return evaluation.evaluate(metrics, *gallery, seed=opt.seed)
    query = checked_pair("query_embeddings", "query_labels", opt)
    if query[0].shape[1] != gallery[0].shape[1]:
        raise ConfigError(f"--query_embeddings are {query[0].shape[1]}-d but --embeddings are "
                          f"{gallery[0].shape[1]}-d; both must come from the same model.")
    LOG.info("%d queries against a gallery of %d items.", len(query[1]), len(gallery[1]))
    return evaluation.evaluate(metrics, *query, *gallery, seed=opt.seed)


def evaluate_checkpoint(opt, loaded, metrics):
    import datasets
    import evaluation
    from utilities import run_folder
    from utilities.training import select_device
    data = datasets.select(opt)
    split = run_folder.evaluation_split(data, opt.split)
    model, info = loaded
    device = select_device(opt.gpu)
    model.to(device)
    transform, crop = run_folder.evaluation_transform(opt, data)
    LOG.info("Evaluating %s (epoch %s) on %s/%s, %d px crops.", info.path, info.epoch, opt.dataset, opt.split, crop)
    query, gallery = run_folder.embed_evaluation_split(model, split, transform, opt, device, opt.evaltype)
    return evaluation.evaluate(metrics, *query, *gallery, seed=opt.seed)


def recall_ks_of(opt):
    import datasets
    from datasets.base import DiskDataset
    return datasets.REGISTRY.get(opt.dataset).recall_ks if opt.dataset else DiskDataset.recall_ks


def write_json(path, results):
    """{metric: value}; an undefined (NaN) value is written as null, since strict JSON has no NaN."""
    strict = {name: None if math.isnan(value) else value for name, value in results.items()}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(strict, f, indent=1, allow_nan=False)
    except OSError as error:
        raise ConfigError(f"--json {path}: cannot write it ({error}).") from error


def format_table(results):
    width = max(len("metric"), *(len(name) for name in results))
    rows = [f"{'metric':<{width}}  value"] + [f"{name:<{width}}  {value:.4f}" for name, value in results.items()]
    return "\n".join(rows)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        opt, loaded = parse_options(argv)
        from metrics import check_metric_names, default_metrics
        metrics = opt.metrics or default_metrics(recall_ks_of(opt))
        check_metric_names(metrics)
        if loaded is None:
            results = evaluate_embeddings(opt, metrics)
        else:
            results = evaluate_checkpoint(opt, loaded, metrics)
        if opt.json:
            write_json(opt.json, results)
    except ConfigError as error:
        LOG.error("%s", error)
        return 2
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
