"""Embedding transfer end to end: a trained run as the teacher of a student of another architecture and size, and the
refusals of a teacher that cannot serve (issue 11)."""
import csv
import logging

import pytest
import torch

import architectures
import main
from tests.test_main import tiny_run_flags
from utilities import checkpoint

# Trains: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher_run(source, tmp_path_factory):
    save = tmp_path_factory.mktemp("teacher")
    assert main.main(tiny_run_flags(source, save, "--no_train_metrics", epochs=1)) == 0
    return save / "cub200" / "tiny_s0"


def student_flags(source, save, *extra, epochs=2):
    return tiny_run_flags(source, save, "--no_train_metrics", "--arch", "efficientnet_lite0", "--embed_dim", "16",
                          *extra, epochs=epochs)


def test_a_student_of_another_architecture_and_size_learns_from_the_teacher_on_two_views(source, tmp_path,
                                                                                           teacher_run):
    teacher_before = checkpoint.load(teacher_run / checkpoint.LAST)["model"]
    code = main.main(student_flags(source, tmp_path, "--loss", "relaxed_contrastive", "--views", "2",
                                   "--teacher", str(teacher_run)))
    assert code == 0
    run_dir = tmp_path / "cub200" / "tiny_s0"
    with open(run_dir / "train.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 2 and all(value > 0 for value in losses)
    state = checkpoint.load(run_dir / checkpoint.LAST)
    # The student's own weights (efficientnet_lite0, 16-d), nothing of the resnet18 teacher's.
    assert state["model"]["head.weight"].shape == (16, architectures.describe("efficientnet_lite0")["feature_dim"])
    assert not [key for key in state["model"] if "teacher" in key]
    assert set(state["model"]) == set(architectures.select("efficientnet_lite0", 16, pretrained=False).state_dict())
    teacher_after = checkpoint.load(teacher_run / checkpoint.LAST)["model"]
    assert all(torch.equal(teacher_after[key], teacher_before[key]) for key in teacher_before)


def refusal(source, save, caplog, *flags):
    with caplog.at_level(logging.ERROR):
        code = main.main(student_flags(source, save, *flags))
    assert code == 2 and not (save / "cub200").exists()  # refused before any run folder
    return caplog.text


def test_a_transfer_loss_without_a_teacher_is_refused(source, tmp_path, caplog):
    assert "--teacher <run folder or checkpoint>" in refusal(source, tmp_path, caplog, "--loss", "relaxed_contrastive")


def test_a_missing_teacher_is_refused(source, tmp_path, caplog):
    text = refusal(source, tmp_path, caplog, "--loss", "relaxed_contrastive", "--teacher", str(tmp_path / "nowhere"))
    assert "nowhere: no such file" in text


@pytest.mark.parametrize("claim", [{"embed_dim": 64}, {"arch": "resnet50_normalize"}])
def test_a_teacher_whose_weights_do_not_fit_its_declared_architecture_or_size_is_refused(source, tmp_path, caplog,
                                                                                          teacher_run, claim):
    state = checkpoint.load(teacher_run / checkpoint.LAST)
    state["options"] = {**state["options"], **claim}
    forged = tmp_path / "forged.pth"
    torch.save(state, forged)
    text = refusal(source, tmp_path / "runs", caplog, "--loss", "rkd", "--teacher", str(forged))
    assert "do not fit the architecture its options name" in text
