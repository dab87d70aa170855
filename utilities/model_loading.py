"""Load a model trained by main.py: for evaluation, or as a frozen teacher for distillation.

    model, info = load_trained_model("Training_Results/cub200/msim_s0")             # a run folder
    model, info = load_trained_model("RUN/checkpoint_last.pth", device="cuda:0")     # or one checkpoint file
    out = teacher_outputs(model, images)                                             # {"embeds": ..., ...}

`path` is either a checkpoint file written by main.py (checkpoint_last.pth or checkpoint_best_<metric>.pth) or a
run folder <save_path>/<dataset>/<group>_s<seed>/. In a run folder, `which` picks the file:
  which="<metric>"  checkpoint_best_<metric>.pth (e.g. "e_recall@1" or "mAP_R"); an error if the run has none;
  which="last"      checkpoint_last.pth;
  which=None        the best file of the run's first --storage_metrics entry (read from the run's options.json; the
                    training default, e_recall@1, when options.json is missing or unreadable) if it exists, else
                    checkpoint_last.pth.

The architecture is rebuilt from the options stored in the checkpoint (`arch`, `embed_dim`; never ImageNet weights,
the checkpoint holds them all) and the weights are loaded strictly. Every failure is a ConfigError that names the
path, what was wrong and what is expected. Images go in as the model itself takes them (RGB in [0, 1] once the
model normalises its own input); no transform is built here.

A frozen model (frozen=True, the default) is a `FrozenModel`: it is in eval mode and stays there (its `train()`
keeps it in eval, so a parent's `.train()` cannot switch BatchNorm or dropout back on), none of its parameters
requires a gradient, and it reads as the model it wraps (`.embed_dim`, `.name`, ... are the wrapped model's; the
wrapped model itself is `.model`). Run it through `teacher_outputs`, which runs it under torch.no_grad.

The rule for a teacher: keep it OUT of the student's module tree. A teacher assigned as an ordinary attribute of an
nn.Module (`self.teacher = teacher`) is registered as a submodule: its weights would be written into every
checkpoint of the student, moved and cast with it, and listed in its parameters. Store it with
`object.__setattr__(self, "teacher", teacher)` or in a plain container (a list, a dict, a dataclass; not an
nn.ModuleList or nn.ModuleDict), and move it to the device yourself (the loader already puts it on `device`). As a
safety net, a FrozenModel refuses to be saved as part of another module's state_dict (a RuntimeError that states
this rule) rather than let a checkpoint silently grow by a whole network.
"""
import dataclasses
import json
import os
from collections.abc import Mapping

import torch
from torch import nn

from utilities import checkpoint
from utilities.errors import ConfigError

LAST = "last"

_EXPECTED = ("expected <save_path>/<dataset>/<group>_s<seed>/ (a run folder) or its checkpoint_last.pth or "
             "checkpoint_best_<metric>.pth, written by main.py")


@dataclasses.dataclass
class TrainedModelInfo:
    """Where a loaded model came from: the checkpoint file, its epoch, the architecture it was rebuilt as, the run's
    options (a dict) and, for a checkpoint_best_* file, that epoch's metrics (None for checkpoint_last.pth)."""
    path: str
    epoch: object
    arch: str
    embed_dim: int
    options: dict
    metrics: object = None


class FrozenModel(nn.Module):
    """A trained model that stays in eval mode with no trainable parameter; see the module docstring.

    Calling it calls the wrapped model (same arguments, same output dict). Keep it out of any other module's tree:
    its state_dict may only be taken on its own (`frozen.state_dict()`, or `frozen.model.state_dict()` for the
    wrapped model's own keys).
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        model.requires_grad_(False)
        self.train(False)

    def train(self, mode=True):
        # Whatever is asked (a parent's train(), evaluation.embed restoring a mode), a frozen model stays in eval.
        return super().train(False)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        # Attributes the wrapper lacks (embed_dim, feature_dim, name, normalize_input, ...) are the wrapped model's.
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name.startswith("_"):
                raise
            return getattr(super().__getattr__("model"), name)

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        if prefix:
            raise RuntimeError(
                f"A frozen trained model (a teacher) is registered as the submodule '{prefix[:-1]}' of the module "
                f"whose state_dict is being taken, so its weights would be written into that module's checkpoint. "
                f"Keep it out of the module tree: store it with object.__setattr__(module, name, teacher) or in a "
                f"plain container (a list or dict), not as an ordinary nn.Module attribute.")
        return super().state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)


def resolve_checkpoint(path, which=None):
    """The checkpoint file that `path` and `which` designate (see the module docstring); a ConfigError if none."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such file; {_EXPECTED}.")
    if not os.path.isdir(path):
        if which is not None:
            raise ConfigError(f"{path} is a checkpoint file, but which={which!r} was given: `which` picks a "
                              f"checkpoint inside a run folder; give the run folder, or the file alone.")
        return path
    available = sorted(name for name in os.listdir(path)
                       if name == checkpoint.LAST or (name.startswith("checkpoint_best_") and name.endswith(".pth")))
    if not available:
        raise ConfigError(f"{path} is a folder without any checkpoint (no {checkpoint.LAST} nor "
                          f"checkpoint_best_<metric>.pth); {_EXPECTED}.")
    if which is not None:
        name = checkpoint.LAST if which == LAST else checkpoint.best_name(which)
        if name not in available:
            raise ConfigError(f"{path} has no {name} (which={which!r}); its checkpoints are {', '.join(available)}. "
                              f"Give which='last' or the name of a metric the run kept a best checkpoint for.")
        return os.path.join(path, name)
    best = checkpoint.best_name(_storage_metrics(path)[0])
    for name in (best, checkpoint.LAST):
        if name in available:
            return os.path.join(path, name)
    raise ConfigError(f"{path} has neither {best} (the best file of the run's first storage metric) nor "
                      f"{checkpoint.LAST}; its checkpoints are {', '.join(available)}. Pick one with "
                      f"which='<metric>'.")


def _storage_metrics(run_dir):
    """The run's --storage_metrics from its options.json, else the training default."""
    try:
        with open(os.path.join(run_dir, "options.json")) as f:
            metrics = json.load(f).get("storage_metrics")
        if isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics):
            return metrics
    except (OSError, ValueError, AttributeError):
        pass
    from metrics import DEFAULT_STORAGE_METRICS
    return DEFAULT_STORAGE_METRICS


def read_checkpoint(path):
    """The dict stored in a checkpoint file of ours (on the CPU), checked to hold "model" and "options"."""
    try:
        state = checkpoint.load(path, map_location="cpu")
    except Exception as error:  # unpickling a damaged or foreign file may raise nearly anything
        raise ConfigError(f"{path} is not a checkpoint written by main.py: it cannot be read "
                          f"({type(error).__name__}: {error}); it may be truncated or another kind of file; "
                          f"{_EXPECTED}.") from error
    if not isinstance(state, dict) or not {"model", "options"} <= set(state):
        found = f"the entries {', '.join(map(repr, state))}" if isinstance(state, dict) else type(state).__name__
        raise ConfigError(f"{path} is not a checkpoint written by main.py: it lacks the 'model' and 'options' "
                          f"entries (found {found}).")
    options = state["options"]
    if not isinstance(options, Mapping):
        options = getattr(options, "__dict__", None)
    if not isinstance(options, Mapping) or "arch" not in options or "embed_dim" not in options:
        raise ConfigError(f"{path}: its 'options' entry does not name the architecture; expected the run's options "
                          f"with 'arch' and 'embed_dim', as main.py stores them.")
    if not isinstance(state["model"], Mapping):
        raise ConfigError(f"{path}: its 'model' entry is a {type(state['model']).__name__}, expected the model's "
                          f"state_dict as main.py stores it.")
    return {**state, "options": dict(options)}


def build_model(state, path):
    """The architecture named in `state["options"]`, randomly initialised, then given `state["model"]` strictly."""
    import architectures
    arch, embed_dim = state["options"]["arch"], state["options"]["embed_dim"]
    try:
        model = architectures.select(arch, embed_dim, pretrained=False, options=state["options"])
    except ConfigError as error:
        raise ConfigError(f"{path}: its options name an architecture that cannot be built (arch {arch!r}, "
                          f"embed_dim {embed_dim!r}): {error}") from error
    except TypeError as error:
        raise ConfigError(f"{path}: its options hold arch {arch!r}, embed_dim {embed_dim!r}; expected an "
                          f"architecture name and a positive integer ({error}).") from error
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: its weights do not fit the architecture its options name (arch {arch}, "
                          f"embed_dim {embed_dim}); the options and the weights must come from the same run, was "
                          f"one of them edited? ({error})") from error
    return model


def load_trained_model(path, device="cpu", frozen=True, which=None):
    """(model, TrainedModelInfo) from a run folder or a checkpoint file; see the module docstring.

    path:   a checkpoint file written by main.py, or a run folder (then `which` picks the file).
    device: where the model is put (loading itself happens on the CPU).
    frozen: True (default): a FrozenModel (eval mode for good, no gradients, kept out of other modules' state
            dicts); False: the plain model, in eval mode, its parameters trainable (e.g. to evaluate or fine-tune).
    which:  in a run folder, a metric name (its best checkpoint), "last", or None for the default.
    Raises ConfigError when nothing fitting can be loaded.
    """
    file = resolve_checkpoint(path, which)
    state = read_checkpoint(file)
    model = build_model(state, file).eval()
    model = model.to(device)
    if frozen:
        model = FrozenModel(model)
    options = state["options"]
    info = TrainedModelInfo(path=file, epoch=state.get("epoch"), arch=options["arch"], embed_dim=options["embed_dim"],
                            options=options, metrics=state.get("metrics"))
    return model, info


def trained_model_options(path, which=None):
    """The saved options (a dict: arch, embed_dim, ...) of the model that load_trained_model(path, which) would load,
    without building it: losses that size modules for a teacher read its architecture here."""
    return read_checkpoint(resolve_checkpoint(path, which))["options"]


def teacher_outputs(model, images, **kwargs):
    """The model's output dict for `images`, computed under torch.no_grad (keyword arguments such as
    return_intermediate=True go to the model).

    no_grad rather than inference_mode: the outputs are targets in the student's loss, and inference-mode tensors
    cannot be saved for the backward pass. Refuses a model in training mode, whose BatchNorm statistics the call
    would change: load it with frozen=True, or call .eval().
    """
    if model.training:
        raise RuntimeError("teacher_outputs got a model in training mode: its BatchNorm running statistics would "
                           "change. Load it with load_trained_model(..., frozen=True) or call .eval() first.")
    with torch.no_grad():
        return model(images, **kwargs)
