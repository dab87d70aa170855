"""Command-line options, grouped as in Roth et al.'s framework so published commands run as written.

Component-specific flags are not listed here: each loss, batchminer, sampler and dataset declares its own,
namespaced (`--loss_<name>_<param>`, `--miner_<name>_<param>`, ...), in its own file; `build_parser()` collects them
from the registries so that adding a component never means editing this file.

Building the parser imports neither torch nor any component module (names and flags are read from the component
files, see utilities/registry.py), so `--help` and a bad flag are answered at once. Every numeric flag has a checked
type (utilities/argtypes.py); `check_options` then checks what involves several flags or the registries, still
before any dataset or model is loaded.
"""
import argparse
import os
import sys
import types

from utilities.argtypes import (fraction, nonnegative_float, nonnegative_int, positive_float,
                                positive_float_or_minus_one, positive_int, positive_int_or_minus_one)
from utilities.errors import ConfigError
from utilities.registry import add_static_arguments, static_index, static_names

from metrics import DEFAULT_STORAGE_METRICS  # noqa: E402 - light: the metric registry only

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))

AMP_DTYPES = ("fp16", "bf16")


def amp_dtype(value):
    """The autocast dtype name of an --amp value ("fp16", "bf16"), or None for full precision. Runs saved before
    --amp took a dtype stored true/false: true was fp16."""
    if value is True:
        return "fp16"
    return value or None


def autocast_dtype(value, device):
    """The torch dtype training and evaluation autocast to on `device` for an --amp value: None in full precision,
    which is also what a device other than CUDA gets (torch is imported here only: recipes are read before it)."""
    name = amp_dtype(value)
    if name is None or device.type != "cuda":
        return None
    import torch
    return {"fp16": torch.float16, "bf16": torch.bfloat16}[name]


# Flags that may be given with --resume: they change how the run continues, not what its saved state means.
RESUME_CHANGEABLE = ("n_epochs", "num_workers", "image_cache_mb", "log_online", "skip_unreadable_images", "gpu",
                     "project", "wandb_key")

# Flags whose default depends on the dataset: Roth's values for the benchmarks, unless the dataset recommends others
# (the CPU-sized emoji default trains for a few epochs at a higher learning rate).
DATASET_DEPENDENT_DEFAULTS = {"n_epochs": 150, "lr": 1e-5}
DEFAULT_ARCH = "efficientnet_lite0_frozen_normalize"


def _momentum(text):
    value = nonnegative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a momentum in [0, 1), got {text!r}")
    return value


def basic_training_parameters(parser):
    group = parser.add_argument_group("Basic training")
    group.add_argument("--dataset", default="emoji", type=str,
                       help="Dataset to train on: " + ", ".join(static_names("datasets")) + ".")
    group.add_argument("--source_path", default=os.path.join(REPO_ROOT, "data"), type=str,
                       help="Folder holding one sub-folder per dataset (see the README for each layout).")
    group.add_argument("--save_path", default=os.path.join(REPO_ROOT, "Training_Results"), type=str,
                       help="Runs are written to <save_path>/<dataset>/<group>_s<seed>/.")
    group.add_argument("--n_epochs", default=None, type=nonnegative_int,
                       help="Number of training epochs (default 150; 8 on emoji).")
    group.add_argument("--lr", default=None, type=positive_float,
                       help="Learning rate of the backbone (default 1e-5; 2e-4 on emoji).")
    group.add_argument("--fc_lr", default=-1, type=positive_float_or_minus_one,
                       help="Learning rate of the embedding head; -1 uses --lr.")
    group.add_argument("--decay", default=4e-4, type=nonnegative_float, help="Weight decay.")
    group.add_argument("--optim", default="adam", choices=["adam", "adamw", "sgd"], help="Optimiser.")
    group.add_argument("--sgd_momentum", default=0.9, type=_momentum, help="Momentum when --optim sgd.")
    group.add_argument("--scheduler", default="step", choices=["step", "multistep", "cosine", "none"],
                       help="step: multiply lr by --gamma every --tau epochs; multistep: at each epoch listed "
                            "in --tau; cosine: cosine annealing over --lr_cosine_length epochs to --lr_cosine_min.")
    group.add_argument("--tau", default=[10000], nargs="+", type=positive_int,
                       help="Step scheduler period (first value) or multistep milestones (epochs).")
    group.add_argument("--gamma", default=0.3, type=positive_float, help="Learning-rate decay factor.")
    group.add_argument("--lr_cosine_length", default=-1, type=positive_int_or_minus_one,
                       help="Epochs of the cosine schedule's half period; -1: --n_epochs.")
    group.add_argument("--lr_cosine_min", default=0.0, type=nonnegative_float,
                       help="The learning rate the cosine schedule ends at.")
    group.add_argument("--warmup", default=0, type=nonnegative_int,
                       help="Epochs at the start that train only the embedding head and loss parameters.")
    group.add_argument("--seed", default=0, type=nonnegative_int, help="Seed of every random number generator.")
    group.add_argument("--gpu", default=[0], nargs="+", type=nonnegative_int,
                       help="CUDA device index; ignored (CPU is used) when CUDA is unavailable.")
    group.add_argument("--amp", nargs="?", const="fp16", default=None, choices=AMP_DTYPES,
                       help="Mixed precision on CUDA: fp16 (with loss scaling; also `--amp` alone) or bf16 (no "
                            "scaling needed, Ampere GPUs and newer). Ignored with a warning on the CPU.")
    group.add_argument("--num_workers", default=2, type=nonnegative_int, help="Data-loading worker processes.")
    group.add_argument("--resume", default=None, type=str,
                       help="Run folder of an interrupted or finished run: continue from its last checkpoint with "
                            "its options. Only " + ", ".join(f"--{k}" for k in RESUME_CHANGEABLE) + " may be given "
                            "with it (e.g. --n_epochs to extend a run); other flags are refused.")
    group.add_argument("--config", default=None, type=str,
                       help="YAML recipe of options, one `name: value` per line with the names of these flags (a W&B "
                            "config export or a run's options.json also works); values are checked like the flags, "
                            "and flags given on the command line win. Not allowed with --resume.")


def data_parameters(parser):
    group = parser.add_argument_group("Data and sampling")
    group.add_argument("--bs", default=112, type=positive_int, help="Mini-batch size.")
    group.add_argument("--samples_per_class", default=2, type=positive_int,
                       help="Images per class in a batch (class-balanced samplers).")
    group.add_argument("--data_sampler", default="class_random", type=str,
                       help="Batch sampler: " + ", ".join(static_names("datasampler")) + ".")
    group.add_argument("--views", default=1, type=positive_int,
                       help="Independent augmentations of each image per step (the loss sees views x bs "
                            "embeddings, view-major; the embedding-transfer paper's --view 2).")
    group.add_argument("--crop_size", default=0, type=nonnegative_int,
                       help="Training/test crop in pixels; 0 uses the dataset's default (224 for the benchmarks).")
    group.add_argument("--use_tv_split", action="store_true",
                       help="Carve a class-disjoint validation split out of the training classes; checkpoints "
                            "are then chosen on validation, never on test.")
    group.add_argument("--tv_split_perc", default=0.8, type=fraction,
                       help="Fraction of training classes kept for training when --use_tv_split is on.")
    group.add_argument("--image_cache_mb", default=1024, type=nonnegative_int,
                       help="Decode the dataset's images once into memory when they take at most this many MiB "
                            "(the emoji default does; the benchmarks are larger), instead of decoding every image "
                            "again each epoch; 0: always read from disk. Results are the same either way.")
    group.add_argument("--skip_unreadable_images", action="store_true",
                       help="Skip (and count in the log) images that cannot be decoded instead of failing.")
    add_static_arguments(parser, "datasets", "Dataset")
    add_static_arguments(parser, "datasampler", "Data sampler")


def architecture_parameters(parser):
    group = parser.add_argument_group("Architecture")
    group.add_argument("--arch", default=None, type=str,
                       help="Backbone name plus optional tags _frozen (BatchNorm in eval mode) and _normalize "
                            "(L2-normalised embedding). Backbones: " + ", ".join(static_names("architectures")) +
                            f". Default: {DEFAULT_ARCH} (without _normalize for losses that read the embedding "
                            f"norm, e.g. proxyvmf_panc).")
    group.add_argument("--embed_dim", default=128, type=positive_int, help="Embedding dimensionality.")
    group.add_argument("--not_pretrained", action="store_true", help="Start from random instead of ImageNet weights.")
    group.add_argument("--channels_last", action="store_true",
                       help="Channels-last (NHWC) memory format for the model and its input images: faster "
                            "convolutions on most CPUs and on GPUs with --amp.")
    group.add_argument("--compile", action="store_true",
                       help="torch.compile the model in place (nn.Module.compile: checkpoints keep their keys). The "
                            "first steps and every new input shape or train/eval switch pay for compilation.")
    group.add_argument("--compile_backend", default="inductor", type=str,
                       help="With --compile: torch.compile's backend (inductor generates kernels and needs a C++ "
                            "compiler on the CPU; eager only traces, for checking).")
    add_static_arguments(parser, "architectures", "Architecture options")


def logging_parameters(parser):
    group = parser.add_argument_group("Logging")
    group.add_argument("--log_online", action="store_true",
                       help="Log to Weights & Biases (offline mode when there are no credentials).")
    group.add_argument("--project", default="DML", type=str, help="W&B project.")
    group.add_argument("--group", default="", type=str,
                       help="Run group: names the run folder and the W&B group; default <loss>_<arch>.")
    group.add_argument("--wandb_key", default="", type=str,
                       help="W&B API key, used in memory for this run only and never written anywhere (not to the "
                            "W&B config, the run folder or ~/.netrc). Prefer the WANDB_API_KEY environment variable "
                            "or `wandb login`, which keep the key off the command line and out of the shell "
                            "history. Without any credentials, --log_online logs offline.")


def evaluation_parameters(parser):
    group = parser.add_argument_group("Evaluation")
    group.add_argument("--evaluation_metrics", nargs="+", default=None, type=str,
                       help="Metrics computed on every evaluated split; default: Roth's list with MAP@R added and "
                            "the benchmark's recall@k list (e.g. 1 2 4 8 on CUB/Cars, 1 10 100 1000 on SOP).")
    group.add_argument("--storage_metrics", nargs="+", default=DEFAULT_STORAGE_METRICS, type=str,
                       help="A best checkpoint is kept for each of these (on validation when --use_tv_split).")
    group.add_argument("--evaltypes", nargs="+", default=["embeds"], type=str,
                       help="Model outputs to evaluate (embeds; features for the pooled backbone features).")
    group.add_argument("--no_train_metrics", action="store_true",
                       help="Do not evaluate the training split (saves time on big datasets).")
    group.add_argument("--train_metrics_max_images", default=10000, type=positive_int,
                       help="Training-split evaluation uses at most this many images (whole classes, seeded).")
    group.add_argument("--evaluate_on_gpu", action="store_true",
                       help="Keep the embeddings on the training GPU for the metrics: nearest neighbours by chunked "
                            "matrix products and k-means on the GPU (same results as the CPU path; ignored on a "
                            "machine without CUDA).")
    group.add_argument("--eval_memory_mb", default=1024, type=positive_int,
                       help="With --evaluate_on_gpu: the most memory one block of query-gallery similarities may "
                            "take, in MiB (the search runs over as many blocks as needed).")


def loss_parameters(parser):
    group = parser.add_argument_group("Loss")
    group.add_argument("--loss", default="multisimilarity", type=str,
                       help="Training loss: " + ", ".join(static_names("criteria")) + ".")
    group.add_argument("--teacher", default="", type=str,
                       help="A trained run folder or checkpoint whose model is loaded frozen (eval mode, no "
                            "gradients) as a teacher for losses or terms that need one (NEEDS teacher_embeds); it is "
                            "never saved in this run's checkpoints.")
    add_static_arguments(parser, "criteria", "Loss")
    add_static_arguments(parser, "regularisers", "Regulariser (on when its weight is non-zero)")


def batchminer_parameters(parser):
    group = parser.add_argument_group("Batchminer")
    group.add_argument("--batch_mining", default=None, type=str,
                       help="Batchminer for losses that use one (default: the loss's own choice): "
                            + ", ".join(static_names("batchminer")) + ".")
    add_static_arguments(parser, "batchminer", "Batchminer")


def build_parser():
    parser = argparse.ArgumentParser(
        description="Deep metric learning: train and evaluate an embedding model.",
        usage="%(prog)s [options]    (python main.py --help lists every option)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    basic_training_parameters(parser)
    data_parameters(parser)
    architecture_parameters(parser)
    logging_parameters(parser)
    evaluation_parameters(parser)
    loss_parameters(parser)
    batchminer_parameters(parser)
    return parser


def resolve_dataset_defaults(opt):
    """Fill the dataset-dependent flags the user left unset; derived once here, never rewritten later."""
    import datasets
    from metrics import default_metrics
    dataset_class = datasets.REGISTRY.get(opt.dataset)
    for key, default in DATASET_DEPENDENT_DEFAULTS.items():
        if getattr(opt, key) is None:
            setattr(opt, key, dataset_class.recommended_options.get(key, default))
    loss = static_index("criteria").get(opt.loss)
    if opt.arch is None:
        # A loss whose meaning lives in the embedding norm (RAW_EMBEDDING_NORM) gets the unnormalised default.
        raw_norm = loss is not None and loss.literals.get("RAW_EMBEDDING_NORM", False)
        opt.arch = DEFAULT_ARCH.replace("_normalize", "") if raw_norm else DEFAULT_ARCH
    if opt.evaluation_metrics is None:
        opt.evaluation_metrics = default_metrics(dataset_class.recall_ks)
        # A loss may add what its method is judged by (e.g. recall on normalised embeddings, uncertainty metrics);
        # "{k}" stands for each of the dataset's recall ks.
        for template in loss.literals.get("EVALUATION_METRICS", ()) if loss else ():
            names = [template.format(k=k) for k in dataset_class.recall_ks] if "{k}" in template else [template]
            opt.evaluation_metrics += [name for name in names if name not in opt.evaluation_metrics]
    return opt


def check_names(opt):
    """Component names and metric names, from the registries' source index (no module is imported)."""
    for kind, package, value in (("dataset", "datasets", opt.dataset), ("loss", "criteria", opt.loss),
                                 ("data sampler", "datasampler", opt.data_sampler),
                                 ("batchminer", "batchminer", opt.batch_mining)):
        names = static_names(package)
        if value is not None and value not in names and package in sys.modules:
            names = sys.modules[package].REGISTRY.names()  # components registered at run time
        if value is not None and value not in names:
            raise ConfigError(f"Unknown {kind} '{value}'. Valid {kind} names: {', '.join(names)}.")
    from metrics import check_metric_names
    check_metric_names(opt.evaluation_metrics)


def check_options(opt):
    """Refuse impossible settings before any data is read or folder written: names, the loss/batchminer pairing,
    and constraints between flags (single-flag ranges are checked by the argparse types)."""
    check_names(opt)
    missing = [m for m in opt.storage_metrics if m not in opt.evaluation_metrics]
    if missing:
        raise ConfigError(f"--storage_metrics {' '.join(missing)} must also be in --evaluation_metrics "
                          f"({' '.join(opt.evaluation_metrics)}).")
    unknown_types = [t for t in opt.evaltypes if t not in ("embeds", "features")]
    if unknown_types:
        raise ConfigError(f"Unknown --evaltypes {' '.join(unknown_types)}; valid: embeds, features.")
    import datasampler
    datasampler.check_batch_shape(opt.bs, opt.samples_per_class)
    if opt.scheduler == "multistep" and sorted(set(opt.tau)) != opt.tau:
        raise ConfigError(f"--tau {' '.join(map(str, opt.tau))}: multistep milestones must be increasing epochs.")
    import architectures
    import criteria
    _, tags = architectures.parse(opt.arch)
    loss = static_index("criteria").get(opt.loss)
    if loss is not None and loss.literals.get("RAW_EMBEDDING_NORM") and "normalize" in tags:
        raise ConfigError(f"--loss {opt.loss} reads each image's certainty from its embedding norm, which --arch "
                          f"{opt.arch} normalises to 1: use the architecture without the _normalize tag (e.g. "
                          f"{opt.arch.replace('_normalize', '')}), or leave --arch out.")
    criterion_class = criteria.REGISTRY.get(opt.loss)
    miner = opt.batch_mining or criterion_class.DEFAULT_BATCHMINER
    criterion_class.check_batchminer(None if miner is None else types.SimpleNamespace(registry_name=miner))


def apply_config(opt, argv=None):
    """opt parsed again from argv with the --config recipe as the defaults (command-line flags win); opt unchanged
    without --config. Recipe errors are ConfigErrors, raised before anything heavy is imported."""
    if opt.config is None:
        return opt
    from utilities.config import recipe_values
    parser = build_parser()
    parser.set_defaults(**recipe_values(opt.config, build_parser))
    return parser.parse_args(argv)


def restore_options(saved):
    """A run's options from its saved dict (options.json or a checkpoint), over today's defaults so that options
    added since the run was made are present."""
    opt = build_parser().parse_args([])
    vars(opt).update(saved)
    return opt


def parse_args(argv=None):
    """The options main.py runs with: parsed flags (over the --config recipe) plus the dataset-dependent defaults."""
    return resolve_dataset_defaults(apply_config(build_parser().parse_args(argv), argv))
