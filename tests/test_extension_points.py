"""The extension points methods build on, each exercised by fake components through the real Run (issue 7)."""
import contextlib
import csv
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import criteria
import datasampler
import main
import parameters
import regularisers
from criteria.base import Criterion
from criteria.multisimilarity import MultiSimilarityLoss
from datasampler.class_random import ClassRandomSampler
from regularisers.base import Regulariser
from tests.helpers import Killed, killed_at_commit
from tests.test_main import tiny_run_flags
from utilities import checkpoint
from utilities.errors import ConfigError
from utilities.optimizers import OptimizerSpec
from utilities.training import Run

# Trains or starts processes: part of the full suite, left out of the fast one (-m 'not slow').
pytestmark = pytest.mark.slow


def rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def run(source, save, *flags, epochs=2, kill_at_epoch=None, **attributes):
    """Train through Run as main.py does, with extra option attributes (flags of test-registered components);
    optionally 'killed' while epoch kill_at_epoch commits its checkpoint. Returns the run folder."""
    opt = parameters.parse_args(tiny_run_flags(source, save, "--no_train_metrics", *flags, epochs=epochs))
    opt.group = "tiny"
    for key, value in attributes.items():
        setattr(opt, key, value)
    training = Run(opt)
    with contextlib.nullcontext() if kill_at_epoch is None else killed_at_commit(kill_at_epoch):
        try:
            training.start()
            training.run()
        except Killed:
            pass
        finally:
            training.close()
    return training.run_dir


def resume(run_dir, **attributes):
    opt = main.resume_options(str(run_dir), {})
    for key, value in attributes.items():
        setattr(opt, key, value)
    training = Run(opt, run_dir=str(run_dir))
    try:
        training.start()
        training.run()
    finally:
        training.close()


@pytest.fixture
def register(monkeypatch):
    """Register a component for one test only."""
    def add(registry, name, component):
        monkeypatch.setitem(registry._entries, name, component)
        component.registry_name = name
        return component
    return add


# ---- 1: objective = base loss + weighted terms, each logged ----

class EmbeddingNormTerm(Regulariser):
    """A fake term: the mean squared embedding norm, weighted by --fake_norm_w."""
    WEIGHT_OPTION = "fake_norm_w"

    def __init__(self, opt, num_classes, embed_dim):
        super().__init__()

    def forward(self, batch, labels, **context):
        return batch.pow(2).sum(dim=1).mean()


def test_a_terms_value_lands_in_train_csv_next_to_the_total(source, tmp_path, register):
    register(regularisers.REGISTRY, "fake_norm", EmbeddingNormTerm)
    run_dir = run(source, tmp_path, "--arch", "resnet18", fake_norm_w=0.01)
    train = rows(os.path.join(run_dir, "train.csv"))
    assert {"loss", "loss_multisimilarity", "loss_fake_norm"} <= set(train[0])
    for row in train:
        assert row["loss"] == pytest.approx(row["loss_multisimilarity"] + 0.01 * row["loss_fake_norm"], rel=1e-5)
        assert row["loss_fake_norm"] > 0


def test_a_term_with_zero_weight_is_off(source, tmp_path, register):
    register(regularisers.REGISTRY, "fake_norm", EmbeddingNormTerm)
    run_dir = run(source, tmp_path, epochs=1, fake_norm_w=0.0)
    assert set(rows(os.path.join(run_dir, "train.csv"))[0]) == {"epoch", "loss", "lr_backbone", "lr_head"}


# ---- 2: hooks; state built in setup survives a kill and --resume ----

class RandomProjectionLoss(MultiSimilarityLoss):
    """Multi-similarity on a projection drawn in setup with the seed the test sets: the resumed run's setup draws
    with another seed, so it gets the uninterrupted run's numbers only if the projection comes back from the
    checkpoint. Records its hook calls."""
    calls = []
    setup_seed = 0

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(opt, num_classes, embed_dim, batchminer)
        self.register_buffer("projection", torch.zeros(embed_dim, embed_dim))

    def setup(self, ctx):
        generator = torch.Generator().manual_seed(self.setup_seed)
        self.projection.copy_(torch.randn(self.projection.shape, generator=generator))
        self.calls.append(("setup", ctx.options.loss))

    def on_epoch_start(self, ctx):
        self.calls.append(("epoch", ctx.epoch))
        with pytest.raises(AttributeError, match="read-only"):
            ctx.options.lr = 1.0

    def on_step_end(self, ctx):
        self.calls.append(("step", ctx.step))

    def forward(self, batch, labels, **context):
        return super().forward(batch @ self.projection, labels)


def test_setup_state_survives_a_kill_and_resume(source, tmp_path, register):
    register(criteria.REGISTRY, "fake_projection", RandomProjectionLoss)
    RandomProjectionLoss.setup_seed = 7
    uninterrupted = run(source, tmp_path / "a", "--loss", "fake_projection", epochs=2)
    steps = [call for call in RandomProjectionLoss.calls if call[0] == "step"]
    assert RandomProjectionLoss.calls[:2] == [("setup", "fake_projection"), ("epoch", 1)]
    assert steps == [("step", i + 1) for i in range(len(steps))] and len(steps) == 2 * 4  # 4 steps per epoch
    RandomProjectionLoss.calls.clear()
    interrupted = run(source, tmp_path / "b", "--loss", "fake_projection", epochs=2, kill_at_epoch=2)
    assert checkpoint.load(os.path.join(interrupted, checkpoint.LAST))["epoch"] == 1
    RandomProjectionLoss.setup_seed = 8
    resume(interrupted)
    # setup ran again on resume (before the state was loaded), and the loaded projection won.
    assert [c for c in RandomProjectionLoss.calls if c[0] == "setup"] == [("setup", "fake_projection")] * 2
    assert rows(os.path.join(interrupted, "test_embeds.csv")) == rows(os.path.join(uninterrupted, "test_embeds.csv"))
    assert rows(os.path.join(interrupted, "train.csv")) == rows(os.path.join(uninterrupted, "train.csv"))


# ---- 4: named optimisers and schedules ----

class SecondOptimizerLoss(MultiSimilarityLoss):
    """Multi-similarity after a learned per-dimension scale that has its own SGD optimiser, halving its
    learning rate every iteration."""

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(opt, num_classes, embed_dim, batchminer)
        self.scale = torch.nn.Parameter(torch.ones(embed_dim))

    def param_groups(self, base_lr):
        return [{"params": [self.scale], "lr": 0.5, "name": "fake_scale", "optimizer": "aux"}]

    @staticmethod
    def optimizer_specs(opt, steps_per_epoch):
        return {"aux": OptimizerSpec(kind="sgd", momentum=0.0,
                                     schedule=lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.5),
                                     step_per="iteration")}

    def forward(self, batch, labels, **context):
        return super().forward(batch * self.scale, labels)


def test_a_second_optimiser_steps_its_own_schedule_and_resumes(source, tmp_path, register):
    register(criteria.REGISTRY, "fake_aux", SecondOptimizerLoss)
    uninterrupted = run(source, tmp_path / "a", "--loss", "fake_aux", epochs=2)
    train = rows(os.path.join(uninterrupted, "train.csv"))
    steps = 4  # per epoch: 4 training classes x 16 images / bs 16
    lrs = [row["lr_fake_scale"] for row in train]
    assert lrs[0] == 0.5 and lrs[1] == pytest.approx(0.5 * 0.5 ** steps)  # halved at every iteration
    state = checkpoint.load(os.path.join(uninterrupted, checkpoint.LAST))
    assert set(state["optimizers"]) == set(state["schedulers"]) == {"main", "aux"}
    # Killed while committing epoch 2: the resumed run repeats epoch 2 from the aux scheduler's saved state.
    interrupted = run(source, tmp_path / "b", "--loss", "fake_aux", epochs=2, kill_at_epoch=2)
    resume(interrupted)
    assert rows(os.path.join(interrupted, "train.csv")) == train
    resumed = checkpoint.load(os.path.join(interrupted, checkpoint.LAST))
    assert torch.equal(resumed["criterion"]["base.scale"], state["criterion"]["base.scale"])
    assert not torch.equal(state["criterion"]["base.scale"], torch.ones(32))


def test_a_group_asking_for_an_undeclared_optimiser_is_refused(source, tmp_path, register):
    class Undeclared(SecondOptimizerLoss):
        @staticmethod
        def optimizer_specs(opt, steps_per_epoch):
            return {}

    register(criteria.REGISTRY, "fake_undeclared", Undeclared)
    with pytest.raises(ConfigError, match="optimiser\\(s\\) aux that no component declares"):
        run(source, tmp_path, "--loss", "fake_undeclared")
    assert not (tmp_path / "cub200").exists()


# ---- 5: a frozen teacher ----

class MimicTeacherLoss(Criterion):
    """Match the student's cosine similarities to the teacher's (any two embedding sizes): needs the teacher."""
    NEEDS = frozenset({"teacher_embeds"})
    seen = []

    def __init__(self, opt, num_classes, embed_dim, batchminer=None):
        super().__init__(batchminer)

    def forward(self, batch, labels, teacher_embeds):
        self.seen.append(teacher_embeds.requires_grad)
        student, teacher = F.normalize(batch, dim=1), F.normalize(teacher_embeds, dim=1)
        return (student @ student.T - teacher @ teacher.T).pow(2).mean()


def test_a_frozen_teacher_feeds_the_loss_and_stays_out_of_the_students_checkpoints(source, tmp_path, register):
    teacher_dir = run(source, tmp_path / "teacher", epochs=1)
    teacher_weights = checkpoint.load(os.path.join(teacher_dir, checkpoint.LAST))["model"]
    register(criteria.REGISTRY, "fake_mimic", MimicTeacherLoss)
    student = run(source, tmp_path / "student", "--loss", "fake_mimic", "--arch", "resnet18", "--embed_dim", "16",
                  epochs=2, teacher=str(teacher_dir))
    assert MimicTeacherLoss.seen and not any(MimicTeacherLoss.seen)
    for name in os.listdir(student):
        if name.endswith(".pth"):
            state = checkpoint.load(os.path.join(student, name))
            assert not [k for k in state["model"] if "teacher" in k]
            assert state["model"]["head.weight"].shape == (16, 512)  # the student's, not the 32-d teacher's
    losses = [row["loss"] for row in rows(os.path.join(student, "train.csv"))]
    assert losses[-1] < losses[0]
    # The teacher's files are untouched and its weights did not move.
    after = checkpoint.load(os.path.join(teacher_dir, checkpoint.LAST))["model"]
    assert all(torch.equal(after[k], teacher_weights[k]) for k in after)


def test_a_loss_needing_a_teacher_without_one_is_refused(source, tmp_path, register):
    register(criteria.REGISTRY, "fake_mimic", MimicTeacherLoss)
    with pytest.raises(ConfigError, match="--teacher"):
        run(source, tmp_path, "--loss", "fake_mimic")
    assert not (tmp_path / "cub200").exists()


# ---- 2 (NEEDS) and 6: views, sampler state ----

def test_a_misspelt_needs_key_is_refused(source, tmp_path, register):
    class Misspelt(MultiSimilarityLoss):
        NEEDS = frozenset({"teacher_embed"})

    register(criteria.REGISTRY, "fake_misspelt", Misspelt)
    with pytest.raises(ConfigError, match="'teacher_embed'.*valid keys: features"):
        run(source, tmp_path, "--loss", "fake_misspelt")
    assert not (tmp_path / "cub200").exists()


class TwoViewLoss(MultiSimilarityLoss):
    VIEWS = 2
    NEEDS = frozenset({"images", "indices", "views"})
    batches = []

    def forward(self, batch, labels, images, indices, views):
        self.batches.append((images.detach().clone(), indices.clone(), labels.clone(), views, len(batch)))
        return super().forward(batch, labels)


def test_a_two_view_loss_receives_two_augmentations_of_the_same_images(source, tmp_path, register):
    register(criteria.REGISTRY, "fake_two_views", TwoViewLoss)
    run(source, tmp_path, "--loss", "fake_two_views", epochs=1)
    assert TwoViewLoss.batches
    for images, indices, labels, views, n in TwoViewLoss.batches:
        half = n // 2
        assert views == 2 and n == 2 * 16 and len(images) == n
        assert torch.equal(indices[:half], indices[half:]) and torch.equal(labels[:half], labels[half:])
        # Random crops and flips of the same images: different pixels, same pictures.
        assert not torch.equal(images[:half], images[half:])


class ClusterSampler(ClassRandomSampler):
    """Asks for the training embeddings every other epoch and keeps cluster assignments handed over by a hook."""
    asked = []

    def needs_embeddings(self, epoch):
        self.asked.append(epoch)
        return epoch % 2 == 1

    def set_embeddings(self, embeddings):
        self.embedded_at = self.epoch


class ClusteringTerm(Regulariser):
    """At each epoch start, hand the sampler per-image 'clusters' derived from the epoch (a fake clustering)."""
    WEIGHT_OPTION = "fake_cluster_w"

    def __init__(self, opt, num_classes, embed_dim):
        super().__init__()

    def on_epoch_start(self, ctx):
        ctx.sampler.set_assignments([(i + ctx.epoch) % 3 for i in range(len(ctx.train_split))])

    def forward(self, batch, labels, **context):
        return batch.sum() * 0.0


def test_sampler_asks_per_epoch_and_its_assignments_are_checkpointed(source, tmp_path, register):
    register(datasampler.REGISTRY, "fake_clusters", ClusterSampler)
    register(regularisers.REGISTRY, "fake_cluster", ClusteringTerm)
    run_dir = run(source, tmp_path, "--data_sampler", "fake_clusters", epochs=2, fake_cluster_w=1.0)
    assert ClusterSampler.asked == [1, 2]
    state = checkpoint.load(os.path.join(run_dir, checkpoint.LAST))["sampler"]
    assert state["epoch"] == 2 and list(state["assignments"][:4]) == [2, 0, 1, 2]
    restored = ClusterSampler(parameters.parse_args(tiny_run_flags(source, tmp_path)), np.arange(64) % 4)
    restored.load_state_dict(state)
    assert list(restored.assignments[:4]) == [2, 0, 1, 2]
