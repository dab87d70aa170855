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
import logging
import os
import sys
import types

from utilities.argtypes import (OnOff, fraction, nonnegative_float, nonnegative_int, positive_float,
                                positive_float_or_minus_one, positive_int, positive_int_or_minus_one)
from utilities.errors import ConfigError
from utilities.registry import add_static_arguments, static_index, static_names

from metrics import DEFAULT_STORAGE_METRICS  # noqa: E402 - light: the metric registry only

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
LOG = logging.getLogger("parameters")

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
DATASET_DEPENDENT_DEFAULTS = {"n_epochs": 150, "lr": 1e-5, "channels_last": False}
DEFAULT_ARCH = "efficientnet_lite0_frozen_normalize"

# Command lines written for Roth et al.'s code (github.com/Confusezius/Revisiting_Deep_Metric_Learning_PyTorch) are
# recognised by the two flags his README and Sample_Runs/ spell their own way. What such a command leaves out means
# his default, so his replaces ours where the two differ and change the run (his CUB lines name no --dataset); a
# --config recipe and the command line itself still win.
ROTH_MARKERS = ("--kernels", "--source")
ROTH_DEFAULTS = {"dataset": "cub200", "loss": "margin", "arch": "resnet50_frozen_normalize", "seed": 1, "tau": [1000]}

# Roth's flags that give a loss's own parameters an absolute learning rate, and ours, relative to --lr, that they set.
ABSOLUTE_LR_OPTIONS = {"loss_softmax_lr": "loss_softmax_lrmulti", "loss_arcface_lr": "loss_arcface_lrmulti"}

# Flags of two other programs whose command lines main.py does not read: what those leave out takes the program's
# own defaults, not ours, and some of their values have no counterpart here, so reading their flags as ours would
# silently train something else. Each is refused by name, with what to write here instead.
# (program, the defaults its commands rely on, the README section that translates them)
_DNC = ("the divide-and-conquer code's train.py (CompVis/metric-learning-divide-and-conquer-improved)",
        "its --experiment preset (margin loss with a fixed beta, ResNet-50 with frozen BatchNorm, weight decay 1e-3, 4 "
        "images per class, 100 epochs)", "Divide and conquer")
_TRANSFER = ("the embedding-transfer code's code/train_source.py, train_target.py and evaluate.py "
             "(tjddus9597/LabelRelaxation-CVPR21)",
             "their own defaults (AdamW, lr 1e-4, weight decay 1e-4, their own schedules)", "Embedding transfer")
OTHER_PROGRAM_FLAGS = {
    "--experiment": ((_DNC,), "for margin_loss_resnet50: --loss margin --batch_mining distance "
                              "--loss_margin_beta_constant --arch resnet50_frozen_normalize --decay 1e-3 --scheduler "
                              "none"),
    "-i": ((_DNC,), "--group"),
    "-seed": ((_DNC,), "--seed"),
    "--sz-embedding": ((_DNC,), "--embed_dim"),
    "--nb-clusters": ((_DNC,), "--dnc_nb_clusters"),
    "--mod-epoch": ((_DNC,), "--dnc_mod_epoch"),
    "--mod-epoch-freeze": ((_DNC,), "--dnc_mod_epoch_freeze"),
    "--force-full-embedding-epoch": ((_DNC,), "--dnc_force_full_embedding_epoch"),
    "--mask-lr-mult": ((_DNC,), "--dnc_mask_lr_mult"),
    "--mask-wd-mult": ((_DNC,), "--dnc_mask_wd_mult"),
    "--masking-lambda": ((_DNC,), "--dnc_masking_lambda"),
    "--nb-epochs": ((_DNC,), "--n_epochs"),
    "--num-samples-per-class": ((_DNC,), "--samples_per_class"),
    "--sampler": ((_DNC,), "--batch_mining (distanceweighted is distance; its default easypeasy is not implemented)"),
    "--batch-sampler": ((_DNC,), "--data_sampler class_random, the nearest (its adaptbalanced sampler, which replaces "
                                 "classes too small for a batch by others, is not implemented)"),
    "--backend": ((_DNC,), "--evaluate_on_gpu for faiss-gpu"),
    "--lr-gamma": ((_DNC,), "--scheduler none (train.py never builds its scheduler, so --lr-gamma changes nothing)"),
    "--weight-decay": ((_DNC,), "--decay"),
    "--dataset-dir": ((_DNC,), "--source_path"),
    "--batch-size": ((_DNC, _TRANSFER), "--bs"),
    "--gpu-id": ((_TRANSFER,), "--gpu"),
    "--model": ((_TRANSFER,), "--arch (bn_inception is bninception; --bn-freeze 1 adds _frozen, --target-norm 1 or "
                              "--l2-norm 1 adds _normalize)"),
    "--embedding-size": ((_TRANSFER,), "--embed_dim"),
    "--IPC": ((_TRANSFER,), "--samples_per_class with --data_sampler class_random (without --IPC: --data_sampler "
                            "random)"),
    "--epochs": ((_TRANSFER,), "--n_epochs"),
    "--source-ckpt": ((_TRANSFER,), "--teacher with a run trained here (its checkpoints hold its own model classes' "
                                    "weights, which are not read here)"),
    "--sigma": ((_TRANSFER,), "--loss_relaxed_contrastive_sigma or --loss_relaxed_ms_sigma"),
    "--delta": ((_TRANSFER,), "--loss_relaxed_contrastive_delta or --loss_relaxed_ms_delta"),
    "--save": ((_TRANSFER,), "nothing: checkpoints are always written (--save_path is where)"),
    "--warm": ((_TRANSFER,), "--warmup"),
    "--bn-freeze": ((_TRANSFER,), "the _frozen tag of --arch"),
    "--lr-decay-step": ((_TRANSFER,), "--scheduler step --tau N, with --gamma 0.5 (its --lr-decay-gamma default)"),
    "--ckpt": ((_TRANSFER,), "evaluate.py --checkpoint"),
}

# Methods of the seed code bases that are not implemented here: their flags and component names are refused with what
# they are, rather than as unknown.
_S2SD = ("S2SD (Roth et al., ICML 2021), the language-guidance code's --loss s2sd, is not implemented here; language "
         "guidance itself works over any loss (e.g. --loss multisimilarity with the same --language_* flags)")
_POINT_BASELINES = ("the EL-nivMF paper's point-embedding baselines of its kernel comparison (a proxy softmax over "
                    "Euclidean distances or cosine similarities, read with --loss_proxyvmf_* flags) are not "
                    "implemented here; that comparison's other losses are: proxyvmf_panc, proxyvmf (with "
                    "--loss_proxyvmf_rho 1 or 0.5), proxyvmf_kl, proxynca_nivmf")
NOT_IMPLEMENTED_FLAGS = {f"--loss_s2sd_{name}": _S2SD
                         for name in ("source", "target", "feat_distill", "feat_w", "feat_distill_delay", "pool_aggr")}
NOT_IMPLEMENTED_NAMES = {
    ("criteria", "s2sd"): _S2SD,
    ("criteria", "proxynca_l2"): _POINT_BASELINES,
    ("criteria", "proxynca_cos"): _POINT_BASELINES,
    ("batchminer", "parametric"): "PADS (Roth et al., CVPR 2020), Roth's --batch_mining parametric, is not "
                                  "implemented here",
}


def _refusal(flag):
    """Why `flag` is refused, and what to write instead."""
    if flag in NOT_IMPLEMENTED_FLAGS:
        return NOT_IMPLEMENTED_FLAGS[flag] + "."
    programs, instead = OTHER_PROGRAM_FLAGS[flag]
    names, defaults, sections = zip(*programs)
    return (f"a flag of {' and of '.join(names)}, not of main.py. Command lines of that code are not read here: what "
            f"they leave out takes {' or '.join(defaults)}, not ours. Here: {instead}; the README section "
            f"{' and '.join(map(repr, sections))} gives its published commands in our flags.")


class _Refused(argparse.Action):
    """A flag that is recognised in order to be refused, by name and with the reason (see _refusal)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, _refusal(self.option_strings[0]))


def refused_flag_parameters(parser):
    # The flag itself is the dest (never set: the default is suppressed), so that none shadows an option of ours
    # (`-seed` would otherwise have the dest of --seed).
    for flag in (*OTHER_PROGRAM_FLAGS, *NOT_IMPLEMENTED_FLAGS):
        parser.add_argument(flag, action=_Refused, dest=flag)


def _momentum(text):
    value = nonnegative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a momentum in [0, 1), got {text!r}")
    return value


def basic_training_parameters(parser):
    group = parser.add_argument_group("Basic training")
    group.add_argument("--dataset", default="emoji", type=str,
                       help="Dataset to train on: " + ", ".join(static_names("datasets")) + ".")
    group.add_argument("--source_path", "--source", default=os.path.join(REPO_ROOT, "data"), type=str,
                       help="Folder holding one sub-folder per dataset (see the README for each layout). --source is "
                            "Roth's spelling; a command with it is read as his code's (see --kernels).")
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
    # multistep is the default because Roth's code and its forks decay at each --tau epoch (their --scheduler step is
    # a MultiStepLR), so their commands' --tau 60 80 means here what it meant there.
    group.add_argument("--scheduler", default="multistep", choices=["step", "multistep", "cosine", "none"],
                       help="multistep: multiply lr by --gamma at each epoch listed in --tau (what Roth's code and "
                            "its forks do, under their --scheduler step); step: every --tau epochs (one value); "
                            "cosine: cosine annealing over --lr_cosine_length epochs to --lr_cosine_min.")
    group.add_argument("--tau", default=[10000], nargs="+", type=positive_int,
                       help="Multistep milestones, or the step scheduler's period (epochs).")
    group.add_argument("--gamma", default=0.3, type=nonnegative_float,
                       help="Learning-rate decay factor. 0 is accepted, as in Roth's code (the EL-nivMF paper's "
                            "runs give --gamma 0 and no --tau: no decay within the run), but refused when the "
                            "schedule reaches a step within --n_epochs (the learning rate would be 0 from there).")
    group.add_argument("--lr_cosine_length", default=-1, type=positive_int_or_minus_one,
                       help="Epochs of the cosine schedule's half period; -1: --n_epochs.")
    group.add_argument("--lr_cosine_min", default=0.0, type=nonnegative_float,
                       help="The learning rate the cosine schedule ends at.")
    group.add_argument("--warmup", default=0, type=nonnegative_int,
                       help="Epochs at the start that train only the embedding head and loss parameters.")
    group.add_argument("--seed", default=0, type=nonnegative_int, help="Seed of every random number generator.")
    group.add_argument("--gpu", default=[0], nargs="+", type=nonnegative_int,
                       help="CUDA device index (no effect on results); of several, the first is used, as in "
                            "Roth's code. Ignored (CPU is used) when CUDA is unavailable.")
    group.add_argument("--amp", nargs="?", const="fp16", default=None, choices=AMP_DTYPES,
                       help="Mixed precision on CUDA: fp16 (with loss scaling; also `--amp` alone) or bf16 (no "
                            "scaling needed, Ampere GPUs and newer). Ignored with a warning on the CPU.")
    group.add_argument("--num_workers", "--kernels", default=2, type=nonnegative_int,
                       help="Data-loading worker processes (no effect on results). --kernels is Roth's name for it: a "
                            "command spelling --kernels or --source is read as written for his code, so what it "
                            "leaves out takes his defaults where they differ from ours: " +
                            ", ".join(f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                                      for k, v in ROTH_DEFAULTS.items()) + ".")
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
    group.add_argument("--views", "--view", default=1, type=positive_int,
                       help="Independent augmentations of each image per step (the loss sees views x bs "
                            "embeddings, view-major; --view is the embedding-transfer paper's spelling).")
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
    group.add_argument("--channels_last", action=OnOff, default=None,
                       help="Channels-last (NHWC) memory format for the model and its input images (--no_channels_last: "
                            "NCHW): faster convolutions on most CPUs and on GPUs with --amp; the same function up to "
                            "float rounding. Default: on for emoji (1.2x on its CPU default job), off otherwise.")
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


def build_parser(refusals=True):
    """The parser of every option; refusals: also recognise, in order to refuse, the flags of other programs and of
    methods we lack (command lines only: a recipe key of theirs is simply unknown, and suggestions stay ours)."""
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
    if refusals:
        refused_flag_parameters(parser)
    return parser


def resolve_dataset_defaults(opt):
    """Fill the dataset-dependent flags the user left unset, and derive the options other code bases give in other
    units; derived once here, never rewritten later."""
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
    for absolute, multiplier in ABSOLUTE_LR_OPTIONS.items():
        if getattr(opt, absolute) is not None:
            setattr(opt, multiplier, getattr(opt, absolute) / opt.lr)
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
            if (package, value) in NOT_IMPLEMENTED_NAMES:
                raise ConfigError(f"{kind} '{value}': {NOT_IMPLEMENTED_NAMES[package, value]}.")
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
    if opt.scheduler == "step" and len(opt.tau) > 1:
        raise ConfigError(f"--scheduler step --tau {' '.join(map(str, opt.tau))}: step takes one period; for "
                          f"milestones (Roth's --scheduler step) use --scheduler multistep.")
    if opt.scheduler == "multistep" and sorted(set(opt.tau)) != opt.tau:
        raise ConfigError(f"--tau {' '.join(map(str, opt.tau))}: multistep milestones must be increasing epochs.")
    if opt.gamma == 0 and opt.scheduler in ("step", "multistep") and opt.tau[0] < opt.n_epochs:
        raise ConfigError(f"--gamma 0 with --scheduler {opt.scheduler} --tau {' '.join(map(str, opt.tau))}: the "
                          f"learning rate would be 0 from epoch {opt.tau[0]} of {opt.n_epochs}. For no decay, use "
                          f"--scheduler none (or --gamma 1).")
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


def written_for_roth(argv):
    """Whether the command line spells one of ROTH_MARKERS (in full: an abbreviation of --source_path does not)."""
    return any(word.split("=", 1)[0] in ROTH_MARKERS for word in argv)


def apply_config(opt, argv=None, parser=None):
    """opt parsed again from argv over the defaults of what the command was written for: Roth's code (ROTH_DEFAULTS)
    and the --config recipe, the recipe over Roth's and the command line over both; opt unchanged without either.
    parser: the one that read opt, if the caller has no other use for it (it gets those defaults; building a parser
    takes most of a parse). Recipe errors are ConfigErrors, raised before anything heavy is imported (a Roth command
    that gives a batchminer imports its loss's module, to ask whether the loss takes one)."""
    argv = sys.argv[1:] if argv is None else argv
    roth = written_for_roth(argv)
    if opt.config is None and not roth:
        return opt
    parser = parser or build_parser()
    if roth:
        parser.set_defaults(**ROTH_DEFAULTS)
    if opt.config is not None:
        from utilities.config import recipe_values
        parser.set_defaults(**recipe_values(opt.config, lambda: build_parser(refusals=False)))
    opt = parser.parse_args(argv)
    if roth and opt.batch_mining is not None and opt.loss in static_names("criteria"):
        import criteria
        if not criteria.REGISTRY.get(opt.loss).REQUIRES_BATCHMINER:
            # Roth's code hands its batchminer only to a loss that needs one (his Sample_Runs give softmax one).
            LOG.warning("--batch_mining %s is left out: --loss %s takes no batchminer, and Roth's code, which this "
                        "command is written for (it spells %s), ignores it.", opt.batch_mining, opt.loss,
                        " or ".join(ROTH_MARKERS))
            opt.batch_mining = None
    return opt


def restore_options(saved):
    """A run's options from its saved dict (options.json or a checkpoint), over today's defaults so that options
    added since the run was made are present."""
    opt = build_parser().parse_args([])
    vars(opt).update(saved)
    return opt


def parse_args(argv=None):
    """The options main.py runs with: parsed flags (over the --config recipe) plus the dataset-dependent defaults."""
    parser = build_parser()
    return resolve_dataset_defaults(apply_config(parser.parse_args(argv), argv, parser))
