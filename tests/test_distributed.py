"""Training under torchrun (utilities/distributed.py), on the CPU with gloo: the gathered loss of 2 processes is the
single-process loss of the same global batch (values and gradients), the sampler's shards form that batch, a
2-process run ends where a 1-process run with the same global batch ends, and its checkpoint resumes in 1 process.
The tests that start processes (gloo workers, torchrun) are marked slow; the sampler's are not.
"""
import csv
import os
import shutil
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import criteria
import datasampler
import main
from datasets.base import collate_skipping
from tests.helpers import options
from tests.test_main import tiny_run_flags
from tests.tiny_training import FeatureItems, TinyModel, synthetic_features
from utilities import checkpoint, distributed
from utilities.errors import ConfigError
from utilities.optimizers import MAIN, NamedOptimizers, OptimizerSpec
from utilities.training import SeededItems, TrainingSteps, resolve_batchminer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_LOSSES = ("multisimilarity", "proxyanchor")  # a pair loss, and a proxy loss with its own parameters


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- one step: the gathered loss against the single-process loss ----
def one_step(loss_name, group=None):
    """One training step of TinyModel on the first global batch (16 images, 4 classes) of epoch 1: the loss value,
    the gradients of the model's and the loss's parameters, and both after the (SGD) step."""
    opt = options("--loss", loss_name, "--bs", "16", "--samples_per_class", "4", "--seed", "3")
    features, labels = synthetic_features(8, 6, seed=0)
    torch.manual_seed(0)
    model = TinyModel()
    torch.manual_seed(1)
    objective = criteria.build_objective(opt, num_classes=8, embed_dim=16, batchminer=resolve_batchminer(opt))
    groups = [{"params": list(model.parameters()), "lr": 0.5, "name": "model"}, *objective.param_groups(0.5)]
    optimizers = NamedOptimizers(groups, {MAIN: OptimizerSpec(kind="sgd", momentum=0.0)})
    sampler = datasampler.select("class_random", opt, labels.numpy())
    sampler.set_epoch(1)
    dataset, batches, trained = FeatureItems(features, labels), sampler, model
    if group is not None:
        dataset, batches = SeededItems(dataset), datasampler.RankShard(sampler, group.rank, group.world_size)
        trained = group.wrap_model(model)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate_skipping)
    steps = TrainingSteps(trained, objective, optimizers, torch.amp.GradScaler("cuda", enabled=False),
                          torch.device("cpu"), group=group)
    first = next(iter(loader))
    values, _ = steps.run([first], SimpleNamespace(step=0, epoch=1))

    def grads(module):
        return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}

    def weights(module):
        return {name: p.detach().clone() for name, p in module.named_parameters()}
    return {"loss": values["loss"], "indices": first[2].tolist(), "model_grads": grads(model),
            "loss_grads": grads(objective), "model_after": weights(model), "loss_after": weights(objective)}


def gathered_rows(group):
    """Group.gather of uneven shards (rank r: 3 - r images) with 2 views; the gradient of a weighted sum."""
    views, images = 2, 3 - group.rank
    rows = torch.tensor([[100.0 * group.rank + 10 * v + i] for v in range(views) for i in range(images)],
                        requires_grad=True)
    sizes = group.batch_sizes(images)
    gathered = group.gather(rows, sizes, views)
    (gathered[:, 0] * torch.arange(1.0, len(gathered) + 1)).sum().backward()
    return {"sizes": sizes, "gathered": gathered.detach()[:, 0].tolist(), "grad": rows.grad[:, 0].tolist()}


def rank_zero_guards():
    """distributed.on_main: rank 0's result on every rank, its error re-raised on every rank, and every rank's
    random generators still in step although only rank 0 drew inside."""
    torch.manual_seed(7)
    np.random.seed(7)
    value = distributed.on_main(lambda: float(torch.rand(1)) + float(np.random.rand()))
    after = torch.rand(2).tolist() + [float(np.random.rand())]

    def fails():
        raise ConfigError("the disk is full")
    try:
        distributed.on_main(fails)
        error = None
    except ConfigError as raised:
        error = str(raised)
    return {"value": value, "after": after, "error": error}


def gloo_worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    group = distributed.init_from_env()
    try:
        results = {"gather": gathered_rows(group), "guards": rank_zero_guards()}
        for loss_name in STEP_LOSSES:
            results[loss_name] = one_step(loss_name, group)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def gloo_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("gloo")
    torch.multiprocessing.spawn(gloo_worker, args=(2, free_port(), str(out)), nprocs=2)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


@pytest.mark.slow
def test_gather_keeps_rank_order_views_and_only_the_local_graph(gloo_results):
    # Rank 0 has 3 images, rank 1 two, each with 2 views: the result is view-major over the 5 images.
    expected = [100.0 * r + 10 * v + i for v in range(2) for r in range(2) for i in range(3 - r)]
    for rank, result in enumerate(gloo_results):
        assert result["gather"]["sizes"] == [3, 2]
        assert result["gather"]["gathered"] == expected
        # d/d(row) of sum(position weight * row): each local row gets its own position's weight, nothing else.
        positions = [expected.index(100.0 * rank + 10 * v + i) for v in range(2) for i in range(3 - rank)]
        assert result["gather"]["grad"] == [float(p + 1) for p in positions]


@pytest.mark.slow
def test_rank_zero_work_reaches_every_rank_and_leaves_the_random_streams_in_step(gloo_results):
    first, second = (result["guards"] for result in gloo_results)
    assert first == second
    assert first["error"] == "the disk is full"
    torch.manual_seed(7)
    np.random.seed(7)
    assert first["after"] == torch.rand(2).tolist() + [float(np.random.rand())]  # as if nothing had been drawn


@pytest.mark.slow
@pytest.mark.parametrize("loss_name", STEP_LOSSES)
def test_one_gathered_step_on_two_processes_is_the_single_process_step(gloo_results, loss_name):
    single = one_step(loss_name)
    ranks = [result[loss_name] for result in gloo_results]
    # The shards are the global batch's two halves, in order.
    assert ranks[0]["indices"] + ranks[1]["indices"] == single["indices"]
    assert not set(ranks[0]["indices"]) & set(ranks[1]["indices"])
    for rank in ranks:
        assert rank["loss"] == pytest.approx(single["loss"], rel=1e-6)
        for kind in ("model_grads", "loss_grads", "model_after", "loss_after"):
            assert set(rank[kind]) == set(single[kind]), kind
            for name, value in single[kind].items():
                torch.testing.assert_close(rank[kind][name], value, rtol=1e-5, atol=1e-7, msg=f"{kind} {name}")
    if loss_name == "proxyanchor":
        assert set(single["loss_grads"]) == {"base.proxies"} and single["loss_grads"]["base.proxies"].abs().sum() > 0
    # Loss parameters (proxies) identical on both ranks after the step, to the bit.
    for name, value in ranks[0]["loss_after"].items():
        assert torch.equal(value, ranks[1]["loss_after"][name]), name
    for name, value in ranks[0]["model_after"].items():
        assert torch.equal(value, ranks[1]["model_after"][name]), name


# ---- the sampler's shards ----
def test_sampler_shards_are_disjoint_whole_classes_that_form_the_single_process_batch():
    labels = np.repeat(np.arange(12), 10)
    opt = options("--bs", "16", "--samples_per_class", "4", "--seed", "5")
    sampler = datasampler.select("class_random", opt, labels)
    shards = [datasampler.RankShard(sampler, rank, 2) for rank in range(2)]
    whole = datasampler.RankShard(sampler, 0, 1)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        single = list(sampler)
        parts = [list(shard) for shard in shards]
        assert len(parts[0]) == len(parts[1]) == len(single) == len(labels) // 16
        for b, batch in enumerate(single):
            first, second = ([index for index, _ in part[b]] for part in parts)
            assert len(first) == len(second) == 8
            assert not set(first) & set(second)
            assert first + second == batch
            # Whole classes: each rank holds 2 classes x 4 images, and no class is on both.
            for shard in (first, second):
                assert sorted(np.unique(labels[shard], return_counts=True)[1]) == [4, 4]
            assert not set(labels[first]) & set(labels[second])
            # An image's augmentation seed is its position's in the global batch, whatever the world size.
            seeds = [seed for _, seed in parts[0][b]] + [seed for _, seed in parts[1][b]]
            assert seeds == [seed for _, seed in list(whole)[b]]
        assert len({seed for part in parts for batch in part for _, seed in batch}) == len(single) * 16


def test_world_sizes_the_global_batch_cannot_be_split_over_are_refused():
    labels = np.repeat(np.arange(12), 10)
    sampler = datasampler.select("class_random", options("--bs", "24", "--samples_per_class", "4"), labels)
    datasampler.RankShard(sampler, 0, 3)  # 6 classes: 2 per rank
    with pytest.raises(ConfigError, match="multiple of --samples_per_class x processes = 16"):
        datasampler.RankShard(sampler, 0, 4)
    plain = datasampler.select("random", options("--bs", "10"), labels)
    with pytest.raises(ConfigError, match="must be a multiple of 4"):
        datasampler.RankShard(plain, 0, 4)
    assert [len(b) for b in datasampler.RankShard(plain, 1, 2)] == [5] * (len(labels) // 10)


# ---- end to end: torchrun main.py ----
def run_flags(source, save, *extra, epochs=2):
    """The tiny run with a proxy loss, its backbone frozen (--warmup 3) under a trained embedding head and proxies.

    The 2-process and the 1-process run differ by float rounding (sums over 8 + 8 images instead of 16), so the
    run must not amplify it: a randomly initialised ResNet under training amplifies rounding tenfold per step
    (ReLU and max-pool kinks), while the head and proxies on fixed features are a smooth problem; frozen BatchNorm
    has no per-rank batch statistics; SGD, unlike Adam, does not take the sign of near-zero gradients. The backbone
    frozen for --warmup also checks that DDP leaves parameters without gradients alone."""
    return tiny_run_flags(source, save, "--arch", "resnet18_frozen_normalize", "--loss", "proxyanchor",
                          "--loss_proxyanchor_lrmulti", "10", "--optim", "sgd", "--lr", "3e-2", "--warmup", "3",
                          "--no_train_metrics", *extra, epochs=epochs)


def torchrun(nproc, args, cwd):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WANDB") and k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                        "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
               "127.0.0.1", "--master_port", str(free_port()), os.path.join(REPO_ROOT, "main.py"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def main_in_torchrun_of_one(args):
    """main.main in this process as torchrun --nproc_per_node 1 would start it (gloo, one thread)."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                                MASTER_PORT=str(free_port())).items():
            patch.setenv(name, value)
        torch.set_num_threads(1)
        try:
            return main.main(args)
        finally:
            torch.set_num_threads(threads)


def read_csv(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def assert_rows_close(rows, reference, tolerance):
    assert [row["epoch"] for row in rows] == [row["epoch"] for row in reference]
    for row, expected in zip(rows, reference):
        for key, value in expected.items():
            if key != "seconds":
                assert row[key] == pytest.approx(value, abs=tolerance), (row["epoch"], key)


@pytest.fixture(scope="module")
def runs(source, tmp_path_factory):
    """A 2-process torchrun run (2 epochs) and a 1-process one of 3 epochs with the same global batch."""
    base = tmp_path_factory.mktemp("torchrun")
    two = base / "two"
    result = torchrun(2, run_flags(source, two), cwd=base)
    assert result.returncode == 0, result.stderr[-4000:]
    assert main_in_torchrun_of_one(run_flags(source, base / "one", epochs=3)) == 0
    return SimpleNamespace(base=base, two=two / "cub200" / "tiny_s0", one=base / "one" / "cub200" / "tiny_s0",
                           log=result.stderr)


@pytest.mark.slow
def test_a_two_process_run_ends_where_a_one_process_run_ends(runs):
    one = read_csv(runs.one / "test_embeds.csv")
    two = read_csv(runs.two / "test_embeds.csv")
    assert_rows_close(two, one[:3], 1e-4)
    assert two[-1]["mAP_R"] > two[0]["mAP_R"]  # it learned
    assert_rows_close(read_csv(runs.two / "train.csv"), read_csv(runs.one / "train.csv")[:2], 1e-5)
    # Rank 0 alone wrote: one run folder, nothing elsewhere, and the info lines once.
    assert os.listdir(runs.two.parent) == ["tiny_s0"] and sorted(os.listdir(runs.base)) == ["one", "two"]
    assert runs.log.count("Run folder:") == 1 and runs.log.count("epoch 2 test/embeds") == 1
    state = checkpoint.load(runs.two / checkpoint.LAST)
    reference = checkpoint.load(runs.one / checkpoint.LAST)
    assert state["epoch"] == 2 and state["sampler"] == {"epoch": 2, "assignments": None}
    assert set(state["model"]) == set(reference["model"])  # the un-wrapped model: no DDP "module." prefix


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_in_one_process(runs, tmp_path):
    # As torchrun --nproc_per_node 1: epoch 3 is the 1-process run's epoch 3.
    resumed = tmp_path / "torchrun_of_one"
    shutil.copytree(runs.two, resumed)
    assert main_in_torchrun_of_one(["--resume", str(resumed), "--n_epochs", "3"]) == 0
    assert_rows_close(read_csv(resumed / "test_embeds.csv"), read_csv(runs.one / "test_embeds.csv"), 1e-4)
    assert checkpoint.load(resumed / checkpoint.LAST)["epoch"] == 3
    # As a plain `python main.py --resume`: it continues (its augmentations come from the global random stream).
    plain = tmp_path / "plain"
    shutil.copytree(runs.two, plain)
    assert main.main(["--resume", str(plain), "--n_epochs", "3"]) == 0
    rows = read_csv(plain / "test_embeds.csv")
    assert rows[:3] == read_csv(runs.two / "test_embeds.csv") and rows[-1]["epoch"] == 3
    assert np.isfinite(read_csv(plain / "train.csv")[-1]["loss"])
    assert checkpoint.load(plain / checkpoint.LAST)["epoch"] == 3
