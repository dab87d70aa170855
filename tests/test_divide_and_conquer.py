"""Divide and conquer (regularisers/divide_and_conquer.py) and the cluster-aware class_random sampler."""
import csv
import itertools
import logging
import math
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import main
import parameters
import regularisers
from datasampler.class_random import ClassRandomSampler
from regularisers.divide_and_conquer import (DivideAndConquer, fixed_masks, leave_out_lone_images, mask_penalty,
                                             match_to_previous, split_in_two, valid_clustering)
from tests.helpers import options, script_commands
from tests.test_main import tiny_run_flags
from utilities import checkpoint
from utilities.errors import ConfigError
from utilities.optimizers import MAIN, NamedOptimizers, OptimizerSpec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- Hungarian re-matching ----

def test_a_permuted_clustering_gets_its_previous_ids_back():
    rng = np.random.default_rng(0)
    previous = rng.integers(0, 5, 300)
    previous[:20] = -1  # images left out last time belong to no cluster
    new = previous.copy()
    new[:20] = rng.integers(0, 5, 20)
    permutation = np.array([1, 2, 0, 4, 3])  # a 3-cycle and a swap: the reference's inverse relabelling fails here
    matched = match_to_previous(permutation[new], previous, 5)
    assert (matched[20:] == previous[20:]).all()
    assert (matched[:20] == new[:20]).all()


def test_the_matching_minimises_the_summed_symmetric_differences():
    rng = np.random.default_rng(1)
    previous, new = rng.integers(0, 4, 60), rng.integers(0, 4, 60)

    def cost(ids):
        return sum(np.sum((ids == k) != (previous == k)) for k in range(4))

    best = min(cost(np.array(p)[new]) for p in itertools.permutations(range(4)))
    matched = match_to_previous(new, previous, 4)
    assert cost(matched) == best
    # Same partition, only renamed.
    assert len({(a, b) for a, b in zip(new, matched)}) == 4


# ---- hand cases of the pieces ----

def test_mask_penalty_is_the_mean_pairwise_cosine_of_the_relud_masks():
    masks = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 2.0]], requires_grad=True)
    # relu: (1, 0), (1, 1), (0, 2); cosines 1/sqrt2, 0, 1/sqrt2, each pair counted twice over 3 x 2 ordered pairs.
    value = mask_penalty(masks)
    assert value.item() == pytest.approx(2 * (2 / math.sqrt(2)) / 6, rel=1e-6)
    value.backward()
    assert masks.grad[2, 0] == 0  # relu cut
    assert mask_penalty(torch.ones(1, 4)).item() == 0


def test_fixed_masks_are_disjoint_contiguous_slices():
    assert fixed_masks(4, 8).tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0],
                                          [0, 0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1]]
    # Halving slice c of K slices gives slices 2c and 2c + 1 of 2K: top_bot's fixed masks nest.
    assert (fixed_masks(2, 8)[1] == fixed_masks(4, 8)[2] + fixed_masks(4, 8)[3]).all()


def test_images_alone_of_their_class_in_their_cluster_are_left_out():
    ids = np.array([0, 0, 0, 1, 1, 1, 1])
    labels = np.array([5, 5, 6, 5, 6, 6, 7])
    assert leave_out_lone_images(ids, labels).tolist() == [0, 0, -1, -1, 1, 1, -1]


def test_a_valid_clustering_has_two_classes_of_two_images_in_every_cluster():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert valid_clustering(np.array([0, 0, 0, 0, 1, 1, 1, 1]), labels, 2)
    assert not valid_clustering(np.array([0, 0, 0, 1, 1, 1, 1, 1]), labels, 2)  # class 1 split: cluster 0 has one
    assert not valid_clustering(np.zeros(8, dtype=int), labels, 2)  # cluster 1 empty


# ---- the cluster-aware sampler ----

def test_every_batch_holds_only_its_clusters_images_and_clusters_take_turns():
    labels = np.repeat(np.arange(40), 4)
    sampler = ClassRandomSampler(options("--bs", "16", "--samples_per_class", "4"), labels)
    assignments = (labels % 3).copy()
    assignments[::7] = -1  # left out
    sampler.set_assignments(assignments)
    sampler.set_epoch(1)
    batches = list(sampler)
    assert len(batches) == len(labels) // 16
    for b, batch in enumerate(batches):
        assert len(batch) == 16
        assert set(assignments[batch]) == {b % 3}
        assert np.bincount(labels[batch]).max() == 4  # class-balanced: 4 classes x 4 images


def test_a_cluster_with_too_few_classes_spreads_the_batch_over_the_classes_it_has():
    labels = np.repeat(np.arange(10), 6)
    sampler = ClassRandomSampler(options("--bs", "8", "--samples_per_class", "2"), labels)
    sampler.set_assignments(np.where(labels < 3, 0, 1))  # cluster 0: 3 classes, a batch wants 4
    batch = list(sampler)[0]
    assert len(batch) == 8 and set(labels[batch]) == {0, 1, 2}
    assert sorted(np.bincount(labels[batch])) == [2, 3, 3]


def test_without_assignments_or_with_one_cluster_the_batches_are_the_plain_ones():
    labels = np.repeat(np.arange(30), 3)
    sampler = ClassRandomSampler(options("--bs", "12", "--samples_per_class", "3"), labels)
    sampler.set_epoch(2)
    plain = list(sampler)
    sampler.set_assignments(np.zeros(len(labels), dtype=int))
    assert list(sampler) == plain


# ---- the term: schedule, clustering, masks ----

def blobs(n_leaves=8, classes_per_leaf=3, images_per_class=4, seed=0):
    """Features in a two-level hierarchy of tight blobs (pairs of leaves, pairs of pairs, ...), several classes
    per leaf: k-means with 2, 4, ... clusters recovers the levels."""
    rng = np.random.default_rng(seed)
    depth = int(math.log2(n_leaves))
    leaf_centres = np.stack([sum(((leaf >> (depth - 1 - level)) & 1) * 10.0 / 3 ** level * np.eye(16)[level]
                                 for level in range(depth)) for leaf in range(n_leaves)])
    leaf = np.repeat(np.arange(n_leaves), classes_per_leaf * images_per_class)
    labels = np.repeat(np.arange(n_leaves * classes_per_leaf), images_per_class)
    points = leaf_centres[leaf] + 0.05 * rng.standard_normal((len(leaf), 16)) + 5 * np.eye(16)[15]
    return points.astype(np.float32), labels, leaf


class FakeOptimizers:
    def __init__(self):
        self.frozen = []

    def freeze(self, names):
        self.frozen.append(tuple(names))


def term_and_context(*flags, n_leaves=8):
    points, labels, leaf = blobs(n_leaves)
    opt = options("--bs", "12", "--samples_per_class", "2", "--embed_dim", "16", *flags)
    term = DivideAndConquer(opt, num_classes=labels.max() + 1, embed_dim=16)
    term.registry_name = "dnc"
    ctx = SimpleNamespace(epoch=0, logger=logging.getLogger("test"), train_split=SimpleNamespace(labels=labels),
                          sampler=ClassRandomSampler(opt, labels), optimizers=FakeOptimizers(),
                          embed=lambda split, keys: ({keys[0]: points}, labels))
    return term, ctx, leaf


def test_top_bot_doubles_the_clusters_at_each_reclustering_and_copies_the_parents_masks():
    term, ctx, _ = term_and_context("--dnc_nb_clusters", "8", "--dnc_mod_epoch", "1")
    counts = []
    for epoch in range(1, 6):
        ctx.epoch = epoch
        if epoch == 3:
            with torch.no_grad():  # give the two masks distinct values: the split must copy them to the children
                term.masks[:2] = torch.tensor([[1.0], [2.0]])
        term.on_epoch_start(ctx)
        ids = ctx.sampler.assignments
        counts.append(term.current_clusters)
        assert (ids is None) == (epoch == 1)
        if ids is not None:
            assert set(ids[ids >= 0]) == set(range(term.current_clusters))
        if epoch == 3:
            assert term.masks[:4, 0].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert counts == [1, 2, 4, 8, 8]


def test_a_split_puts_the_children_of_cluster_c_at_2c_and_2c_plus_1():
    points, labels, leaf = blobs(8)
    parents = leaf // 2  # 4 clusters of two leaves each
    children, failed = split_in_two(points, labels, parents, 4, seed=0)
    assert failed == [] and (children // 2 == parents).all()
    assert len(set(zip(children, leaf))) == 8  # each half is one leaf: 2-means within a cluster finds them


def test_flat_clustering_keeps_its_ids_from_one_reclustering_to_the_next():
    term, ctx, leaf = term_and_context("--dnc_nb_clusters", "4", "--dnc_hierarchy", "flat", "--dnc_mod_epoch", "2",
                                       n_leaves=4)
    ctx.epoch = 1
    term.on_epoch_start(ctx)
    first = ctx.sampler.assignments.copy()
    assert term.current_clusters == 4 and len(set(zip(first, leaf))) == 4
    term.seed += 17  # another k-means seed names the same clusters differently; the matching undoes that
    ctx.epoch = 3
    term.on_epoch_start(ctx)
    assert (ctx.sampler.assignments == first).all()


def test_the_schedule_freezes_the_backbone_then_switches_to_the_full_embedding():
    term, ctx, _ = term_and_context("--dnc_nb_clusters", "2", "--dnc_hierarchy", "flat", "--dnc_mod_epoch", "2",
                                    "--dnc_mod_epoch_freeze", "1", "--dnc_force_full_embedding_epoch", "4")
    embeddings = F.normalize(torch.randn(4, 16), dim=1)
    states = []
    for epoch in range(1, 7):
        ctx.epoch, ctx.optimizers.frozen = epoch, []
        term.on_epoch_start(ctx)
        states.append((ctx.optimizers.frozen, ctx.sampler.assignments is not None, term.masking))
    backbone, masks = [("backbone",)], [("loss_dnc",)]
    assert states == [(backbone, True, True), ([], True, True), (backbone, True, True), ([], True, True),
                      (masks, False, False), (masks, False, False)]
    indices = torch.arange(4)
    assert term.embeddings_for_base_loss(embeddings, None, indices) is embeddings
    assert term(embeddings, None, indices).item() == 0


def test_each_batch_trains_its_clusters_masked_embedding():
    term, ctx, _ = term_and_context("--dnc_nb_clusters", "2", "--dnc_hierarchy", "flat")
    ctx.epoch = 1
    term.on_epoch_start(ctx)
    ids = ctx.sampler.assignments
    with torch.no_grad():
        term.masks.copy_(torch.randn(2, 16))
    embeddings = F.normalize(torch.randn(3, 16), dim=1)
    in_cluster_1 = torch.as_tensor(np.flatnonzero(ids == 1)[:3])
    expected = F.normalize(embeddings * F.relu(term.masks[1]), dim=1)
    assert torch.allclose(term.embeddings_for_base_loss(embeddings, None, in_cluster_1), expected)
    assert term(embeddings, None, in_cluster_1).item() == pytest.approx(mask_penalty(term.masks).item())
    mixed = torch.as_tensor([np.flatnonzero(ids == 0)[0], np.flatnonzero(ids == 1)[0], 0])
    with pytest.raises(RuntimeError, match="one cluster"):
        term.embeddings_for_base_loss(embeddings, None, mixed)


def test_fixed_masks_follow_the_current_number_of_clusters():
    term, ctx, _ = term_and_context("--dnc_nb_clusters", "4", "--dnc_fixed_mask", "--dnc_mod_epoch", "1")
    assert not list(term.parameters())
    embeddings = F.normalize(torch.randn(2, 16), dim=1)
    for epoch, clusters in [(1, 1), (2, 2), (3, 4)]:
        ctx.epoch = epoch
        term.on_epoch_start(ctx)
        ids = ctx.sampler.assignments
        indices = torch.zeros(2, dtype=torch.long) if ids is None else torch.as_tensor(
            np.flatnonzero(ids == clusters - 1)[:2])
        masked = term.embeddings_for_base_loss(embeddings, None, indices)
        expected = F.normalize(embeddings * fixed_masks(clusters, 16)[clusters - 1], dim=1)
        assert torch.allclose(masked, expected)


def test_named_groups_freeze_for_one_epoch():
    backbone, head = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizers = NamedOptimizers([{"params": [backbone], "lr": 0.1, "name": "backbone", "warmup_frozen": True},
                                  {"params": [head], "lr": 0.1, "name": "head"}], {MAIN: OptimizerSpec()})
    optimizers.set_warmup(frozen=False)
    optimizers.freeze(["backbone"])
    assert (backbone.requires_grad, head.requires_grad) == (False, True)
    optimizers.set_warmup(frozen=False)  # the next epoch
    assert (backbone.requires_grad, head.requires_grad) == (True, True)
    with pytest.raises(ValueError, match="masks"):
        optimizers.freeze(["masks"])


@pytest.mark.parametrize("flags, message", [
    (["--arch", "resnet18"], "_normalize"),
    (["--data_sampler", "random"], "Use one of: class_random"),
    (["--dnc_nb_clusters", "6"], "power of two"),
    (["--dnc_mod_epoch", "2", "--dnc_mod_epoch_freeze", "2"], "less than --dnc_mod_epoch"),
    (["--dnc_fixed_mask", "--embed_dim", "30"], "multiple of --dnc_nb_clusters"),
    (["--dnc_fixed_mask", "--dnc_no_mask"], "exclude each other"),
])
def test_impossible_settings_are_refused_before_training(flags, message):
    opt = options("--dnc_nb_clusters", "4", *flags)
    with pytest.raises(ConfigError, match=message):
        regularisers.active(opt, 10, opt.embed_dim)


def test_a_negative_full_embedding_epoch_other_than_minus_one_is_refused_while_parsing(capsys):
    with pytest.raises(SystemExit) as exit_:
        options("--dnc_force_full_embedding_epoch", "-3")
    assert exit_.value.code == 2 and "an integer > 0, or -1" in capsys.readouterr().err


def test_a_refused_setting_exits_non_zero_and_leaves_no_run_folder(tmp_path):
    code = main.main(["--dnc_nb_clusters", "4", "--data_sampler", "random", "--save_path", str(tmp_path)])
    assert code != 0 and not any(tmp_path.rglob("options.json"))


def test_off_by_default():
    assert "dnc" not in regularisers.active(options(), 10, 128)


# ---- whole runs ----

def read_rows(path):
    with open(path) as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.slow
def test_one_cluster_without_masks_trains_bit_identically_to_plain_training(source, tmp_path):
    plain, dnc = tmp_path / "plain", tmp_path / "dnc"
    assert main.main(tiny_run_flags(source, plain, "--no_train_metrics", epochs=2)) == 0
    assert main.main(tiny_run_flags(source, dnc, "--no_train_metrics", "--dnc_nb_clusters", "1", "--dnc_no_mask",
                                    epochs=2)) == 0
    run_plain, run_dnc = plain / "cub200" / "tiny_s0", dnc / "cub200" / "tiny_s0"
    assert read_rows(run_plain / "test_embeds.csv") == read_rows(run_dnc / "test_embeds.csv")
    weights = checkpoint.load(run_plain / checkpoint.LAST)["model"]
    weights_dnc = checkpoint.load(run_dnc / checkpoint.LAST)["model"]
    assert all(torch.equal(weights[name], weights_dnc[name]) for name in weights)
    assert [row["loss_multisimilarity"] for row in read_rows(run_dnc / "train.csv")] == \
        [row["loss"] for row in read_rows(run_plain / "train.csv")]


KILLING_MAIN = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import main
from utilities import checkpoint
commit = checkpoint.commit_epoch
def commit_or_die(run_dir, epoch, *args, **kwargs):
    if epoch == {kill_epoch}:
        os.kill(os.getpid(), signal.SIGKILL)  # after training and evaluating the epoch, before its checkpoint
    return commit(run_dir, epoch, *args, **kwargs)
checkpoint.commit_epoch = commit_or_die
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_period_then_resume_ends_like_the_uninterrupted_run(source, tmp_path):
    # Re-clustering at epochs 1 and 3: killed in epoch 2, the resumed run must train epoch 2 on the saved
    # clusters (the whole set would give other batches), then re-cluster at 3 as the uninterrupted run did. Two
    # loader workers prefetch batches: each batch's learner comes from its own indices, so it cannot slip.
    flags = ["--no_train_metrics", "--num_workers", "2", "--dnc_nb_clusters", "2", "--dnc_hierarchy", "flat",
             "--dnc_mod_epoch", "2",
             "--dnc_masking_lambda", "0.1", "--dnc_mask_lr_mult", "10"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def python(save, *extra, kill_epoch=-1):
        code = KILLING_MAIN.format(repo=REPO, kill_epoch=kill_epoch)
        argv = [*tiny_run_flags(source, save, *flags, epochs=4), *extra]
        return subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600)

    reference = python(tmp_path / "a")
    assert reference.returncode == 0, reference.stderr[-2000:]
    killed = python(tmp_path / "b", kill_epoch=2)
    assert killed.returncode == -signal.SIGKILL
    run_dir = tmp_path / "b" / "cub200" / "tiny_s0"
    saved = checkpoint.load(run_dir / checkpoint.LAST)
    assert saved["epoch"] == 1 and saved["sampler"]["assignments"] is not None
    resumed = subprocess.run([sys.executable, "main.py", "--resume", str(run_dir)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "D&C epoch 3: 2 clusters" in resumed.stderr and "D&C epoch 2" not in resumed.stderr
    uninterrupted = tmp_path / "a" / "cub200" / "tiny_s0"
    for table in ("test_embeds.csv", "train.csv"):
        assert read_rows(run_dir / table) == read_rows(uninterrupted / table)


# ---- recipes ----

@pytest.mark.parametrize("script, count", [("dnc_benchmarks.sh", 5), ("dnc_emoji.sh", 2)])
def test_the_divide_and_conquer_scripts_parse_and_pass_the_option_checks(script, count):
    commands = script_commands(script)
    assert len(commands) == count
    for argv in commands:
        opt = parameters.parse_args(argv)
        parameters.check_options(opt)
        if opt.dnc_nb_clusters:
            DivideAndConquer.check(opt, opt.embed_dim)


def test_the_issues_example_command_parses():
    opt = parameters.parse_args(
        "--dataset online_products --loss margin --batch_mining distance --embed_dim 512 --bs 80 --samples_per_class 2 "
        "--dnc_nb_clusters 32 --dnc_mod_epoch 2 --dnc_mod_epoch_freeze 1 --dnc_force_full_embedding_epoch 80 "
        "--dnc_mask_lr_mult 100 --dnc_masking_lambda 0.01 --gamma 0.3 --decay 1e-4".split())
    parameters.check_options(opt)
    DivideAndConquer.check(opt, opt.embed_dim)
    assert (opt.dnc_hierarchy, opt.dnc_cluster_features) == ("top_bot", "features")
