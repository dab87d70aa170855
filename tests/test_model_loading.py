"""utilities/model_loading.py: loading a trained model from a checkpoint or a run folder, frozen as a teacher.

The checkpoints are real ones in main.py's format (untrained resnet18 models, written with utilities/checkpoint.py),
so loading them exercises the same code path as a trained run's files.
"""
import json
import os
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import architectures
import parameters
from utilities import checkpoint
from utilities.errors import ConfigError
from utilities.model_loading import FrozenModel, load_trained_model, resolve_checkpoint, teacher_outputs
from utilities.options import saved_options

ARCH, DIM = "resnet18_normalize", 16


def options(**changes):
    opt = saved_options(parameters.build_parser().parse_args(["--arch", ARCH, "--embed_dim", str(DIM)]))
    opt.update(changes)
    return opt


def new_model(seed):
    torch.manual_seed(seed)
    return architectures.select(ARCH, DIM, pretrained=False)


def best_payload(model, epoch, opt):
    return {"epoch": epoch, "model": model.state_dict(), "options": opt, "metrics": {"test": {"e_recall@1": 0.5}}}


def last_payload(model, epoch, opt):
    # The keys a real checkpoint_last.pth holds besides the model are not read by the loader; a few stand in.
    return {"epoch": epoch, "model": model.state_dict(), "options": opt, "optimizer": {}, "best": {},
            "rng": checkpoint.rng_states()}


def write(path, payload):
    checkpoint.write_atomic(str(path), checkpoint.serialise(payload))
    return path


@pytest.fixture(scope="module")
def models():
    """Three differently initialised models: the run's best by recall, its best by MAP@R, its last state."""
    return {"recall": new_model(1), "map": new_model(2), "last": new_model(3)}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, models):
    """A run folder as main.py leaves it: options.json, two best files and checkpoint_last.pth (shared: read only)."""
    run = tmp_path_factory.mktemp("runs") / "cub200" / "msim_s0"
    run.mkdir(parents=True)
    opt = options()
    (run / "options.json").write_text(json.dumps(opt))
    write(run / checkpoint.best_name("e_recall@1"), best_payload(models["recall"], 3, opt))
    write(run / checkpoint.best_name("mAP_R"), best_payload(models["map"], 5, opt))
    write(run / checkpoint.LAST, last_payload(models["last"], 7, opt))
    return run


@pytest.fixture
def own_run(run_dir, tmp_path):
    """A copy of the run folder in which a test may delete files and rewrite options.json (the checkpoints are hard
    links: quick to make, and deleting one leaves the shared folder whole)."""
    def link_checkpoints(source, target):
        return os.link(source, target) if source.endswith(".pth") else shutil.copy2(source, target)
    return shutil.copytree(run_dir, tmp_path / "msim_s0", copy_function=link_checkpoints)


@pytest.fixture
def images():
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def assert_same_outputs(loaded, original, images):
    original.eval()
    with torch.no_grad():
        expected = original(images)
    got = teacher_outputs(loaded, images)
    for key in ("embeds", "features", "feature_map"):
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


# --- loading and selection -------------------------------------------------------------------------------------

def test_a_checkpoint_file_loads_with_its_record_and_gives_the_original_outputs(run_dir, models, images):
    path = run_dir / checkpoint.best_name("mAP_R")
    model, info = load_trained_model(path)
    assert info.path == str(path) and info.epoch == 5 and info.arch == ARCH and info.embed_dim == DIM
    assert info.options == options() and info.metrics == {"test": {"e_recall@1": 0.5}}
    assert model.embed_dim == DIM and model.name == ARCH  # reads as the wrapped model
    assert_same_outputs(model, models["map"], images)


def test_checkpoint_last_loads_too(run_dir, models, images):
    model, info = load_trained_model(run_dir / checkpoint.LAST, frozen=False)
    assert info.epoch == 7 and info.metrics is None
    assert isinstance(model, architectures.EmbeddingModel) and not model.training
    assert all(p.requires_grad for p in model.parameters())  # not frozen: trainable, e.g. for fine-tuning
    assert_same_outputs(model, models["last"], images)


def test_a_run_folder_defaults_to_the_best_file_of_its_first_storage_metric(run_dir, models, images):
    model, info = load_trained_model(run_dir)
    assert info.path == str(run_dir / checkpoint.best_name("e_recall@1")) and info.epoch == 3
    assert_same_outputs(model, models["recall"], images)


def test_the_default_follows_the_runs_storage_metrics(own_run):
    (own_run / "options.json").write_text(json.dumps(options(storage_metrics=["mAP_R", "e_recall@1"])))
    assert resolve_checkpoint(own_run) == str(own_run / checkpoint.best_name("mAP_R"))
    (own_run / "options.json").unlink()  # without options.json: the training default, e_recall@1
    assert resolve_checkpoint(own_run) == str(own_run / checkpoint.best_name("e_recall@1"))


def test_without_that_best_file_the_default_is_checkpoint_last(own_run, models, images):
    (own_run / checkpoint.best_name("e_recall@1")).unlink()
    model, info = load_trained_model(own_run)
    assert info.path == str(own_run / checkpoint.LAST) and info.epoch == 7
    assert_same_outputs(model, models["last"], images)


@pytest.mark.parametrize("which, epoch", [("mAP_R", 5), ("e_recall@1", 3), ("last", 7)])
def test_which_picks_the_file_of_a_run_folder(run_dir, which, epoch):
    assert load_trained_model(run_dir, which=which)[1].epoch == epoch


# --- frozen ----------------------------------------------------------------------------------------------------

def test_a_frozen_model_has_no_trainable_parameter_and_stays_in_eval(run_dir):
    model, _ = load_trained_model(run_dir)
    assert isinstance(model, FrozenModel)
    assert not any(p.requires_grad for p in model.parameters())
    parent = nn.ModuleDict({"teacher": model, "head": nn.Linear(2, 2)})  # even when registered in a tree
    parent.train()
    model.train(True)
    assert parent["head"].training
    assert not any(m.training for m in model.modules())


def test_teacher_outputs_carry_no_graph_and_serve_as_targets_of_a_students_loss(run_dir, images):
    teacher, _ = load_trained_model(run_dir)
    images = images.requires_grad_(True)
    target = teacher_outputs(teacher, images, return_intermediate=True)
    assert set(target) >= {"embeds", "features", "intermediate"}
    assert not target["embeds"].requires_grad and target["embeds"].grad_fn is None
    student = nn.Linear(3, DIM)
    loss = F.mse_loss(student(images.mean((2, 3))), target["embeds"])
    loss.backward()  # the targets are ordinary tensors (no_grad, not inference_mode): usable in the backward pass
    assert student.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())


def test_teacher_outputs_refuses_a_model_in_training_mode(images, models):
    model = new_model(0).train()
    with pytest.raises(RuntimeError, match="training mode"):
        teacher_outputs(model, images)


class Student(nn.Module):
    def __init__(self, teacher):
        super().__init__()
        self.head = nn.Linear(4, 4)
        object.__setattr__(self, "teacher", teacher)  # kept out of the module tree
        self.helpers = {"teacher": teacher}           # a plain container is not registered either

    def forward(self, x):
        return self.head(x)


def test_a_teacher_kept_out_of_the_module_tree_stays_out_of_the_students_checkpoint(run_dir):
    teacher, _ = load_trained_model(run_dir)
    student = Student(teacher)
    assert set(student.state_dict()) == {"head.weight", "head.bias"}
    assert len(list(student.parameters())) == 2
    student.train()
    assert student.head.training and not teacher.training
    assert student.teacher is teacher and teacher.state_dict()  # still usable, and its own state_dict works


def test_a_teacher_registered_as_a_submodule_refuses_to_enter_a_state_dict(run_dir):
    teacher, _ = load_trained_model(run_dir)
    parent = nn.Module()
    parent.teacher = teacher
    with pytest.raises(RuntimeError, match=r"object\.__setattr__"):
        parent.state_dict()


# --- refusals --------------------------------------------------------------------------------------------------

def test_weights_that_do_not_fit_the_stored_options_are_refused(tmp_path, models):
    path = write(tmp_path / "edited.pth", best_payload(models["recall"], 3, options(embed_dim=32)))
    with pytest.raises(ConfigError, match=r"do not fit .*arch resnet18_normalize, embed_dim 32"):
        load_trained_model(path)


def test_weights_missing_a_tensor_are_refused(tmp_path, models):
    state = models["recall"].state_dict()
    del state["head.bias"]
    path = write(tmp_path / "edited.pth", {"epoch": 1, "model": state, "options": options()})
    with pytest.raises(ConfigError, match=r"(?s)do not fit .*Missing key.*head\.bias"):
        load_trained_model(path)


def test_an_unknown_architecture_in_the_options_is_refused(tmp_path, models):
    path = write(tmp_path / "edited.pth", best_payload(models["recall"], 3, options(arch="resnet7")))
    with pytest.raises(ConfigError, match=r"edited\.pth: its options name an architecture that cannot be built"):
        load_trained_model(path)


def test_a_truncated_checkpoint_is_refused(tmp_path, models):
    data = checkpoint.serialise(best_payload(models["recall"], 3, options()))
    path = tmp_path / checkpoint.best_name("e_recall@1")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="is not a checkpoint written by main.py: it cannot be read"):
        load_trained_model(path)


def test_a_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(ConfigError, match="notes.txt is not a checkpoint written by main.py"):
        load_trained_model(path)


@pytest.mark.parametrize("payload", [{"epoch": 1, "options": {"arch": ARCH, "embed_dim": DIM}}, torch.zeros(3),
                                     {"epoch": 1, "model": {}, "options": {"lr": 1.0}}])
def test_a_torch_file_that_is_not_our_checkpoint_is_refused(tmp_path, payload):
    path = write(tmp_path / "other.pth", payload)
    with pytest.raises(ConfigError, match="other.pth"):
        load_trained_model(path)


def test_a_missing_path_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"none\.pth: no such file; expected <save_path>/<dataset>/"):
        load_trained_model(tmp_path / "none.pth")


def test_a_folder_without_checkpoints_is_refused(tmp_path):
    (tmp_path / "options.json").write_text(json.dumps(options()))
    with pytest.raises(ConfigError, match="folder without any checkpoint"):
        load_trained_model(tmp_path)


def test_a_missing_best_file_asked_for_is_refused_with_the_available_ones(run_dir):
    with pytest.raises(ConfigError, match=r"no checkpoint_best_nmi\.pth .*checkpoint_best_mAP_R\.pth"):
        load_trained_model(run_dir, which="nmi")


def test_which_with_a_file_is_refused(run_dir):
    with pytest.raises(ConfigError, match="which='last' was given"):
        load_trained_model(run_dir / checkpoint.LAST, which="last")
