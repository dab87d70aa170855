"""EL-nivMF (proxyvmf_panc) and its ablations (proxyvmf, proxyvmf_kl, proxynca_nivmf), issue 9."""
import logging
import math
import shlex
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import ive

import criteria
import parameters
from criteria import proxyvmf_panc
from criteria.proxyanchor import proxy_anchor
from criteria.proxyvmf import log_ppk
from criteria.proxyvmf_kl import kl_vmf
from criteria.proxyvmf_panc import el_nivmf_logits, nivmf_log_density
from tests.helpers import options, script_commands
from tests.tiny_training import train_and_evaluate
from utilities.errors import ConfigError
from utilities.vmf import sample_vmf

RAW = ("--arch", "resnet18_frozen")


def log_c(kappa, p):
    """log C_p(kappa) in float64 from scipy, the reference every formula below is written with."""
    kappa = np.asarray(kappa, dtype=np.float64)
    return (p / 2 - 1) * np.log(kappa) - p / 2 * np.log(2 * np.pi) - (np.log(ive(p / 2 - 1, kappa)) + kappa)


def build(name, *flags, num_classes=3, embed_dim=4):
    opt = options("--loss", name, *RAW, *flags)
    return criteria.select(name, opt, num_classes=num_classes, embed_dim=embed_dim)


# ---- the formulas on hand-made cases ----

def test_nivmf_log_density_equals_its_formula():
    directions = F.normalize(torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 1.0, 0.0]], dtype=torch.float64), dim=1)
    concentrations = torch.tensor([[2.0, 0.5, 3.0, 1.0], [4.0, 4.0, 0.2, 1.5]], dtype=torch.float64)
    z = F.normalize(torch.tensor([[0.3, -0.2, 0.9, 0.1]], dtype=torch.float64), dim=1)
    got = nivmf_log_density(z, directions, concentrations)[0]
    for c in range(2):
        nu = (concentrations[c] * directions[c]).numpy()
        norm = np.linalg.norm(nu)
        expected = log_c(norm, 4) + z[0].numpy() @ nu + np.log(concentrations[c].numpy()).sum() - np.log(norm)
        assert got[c].item() == pytest.approx(expected, rel=1e-10)


def test_sampled_expected_likelihood_matches_the_closed_form_kernel_for_isotropic_proxies():
    """With equal concentrations k per dimension the nivMF density is k^(D-1) times vMF(m, k), so at T = 1 the
    sampled kernel estimates log PPK_rho=1 + (D - 1) log k, which proxyvmf computes in closed form."""
    torch.manual_seed(0)
    dim, k = 5, torch.tensor([2.0, 6.0], dtype=torch.float64)
    embeddings = torch.tensor([[3.0, 1.0, 0.0, 0.5, 0.0], [-0.5, 0.2, 1.0, 0.0, 0.3]], dtype=torch.float64)
    directions = F.normalize(torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.0]],
                                          dtype=torch.float64), dim=1)
    sampled = el_nivmf_logits(embeddings, directions, k[:, None].expand(2, dim), torch.tensor(1.0), 40000)
    kappa = embeddings.norm(dim=1)
    cosine = F.normalize(embeddings, dim=1) @ directions.T
    closed = log_ppk(kappa, cosine, k, 1.0, dim) + (dim - 1) * k.log()
    assert torch.allclose(sampled, closed, atol=0.02)


def test_probability_product_kernel_equals_its_formula_for_both_orders():
    kappa, cosine, k = torch.tensor([3.0], dtype=torch.float64), torch.tensor([[0.4]], dtype=torch.float64), \
        torch.tensor([7.0], dtype=torch.float64)
    for rho in (1.0, 0.5):
        joint = math.sqrt(9 + 49 + 2 * 3 * 7 * 0.4)
        expected = rho * (log_c(3.0, 16) + log_c(7.0, 16)) - log_c(rho * joint, 16)
        assert log_ppk(kappa, cosine, k, rho, 16).item() == pytest.approx(expected, rel=1e-10)


def test_kl_equals_a_monte_carlo_estimate_of_its_definition():
    torch.manual_seed(1)
    dim, kappa1, kappa2 = 6, 4.0, 9.0
    mu1 = F.normalize(torch.tensor([1.0, 0.5, 0.0, 0.0, 0.0, 0.2], dtype=torch.float64), dim=0)
    mu2 = F.normalize(torch.tensor([0.2, 1.0, 0.3, 0.0, 0.0, 0.0], dtype=torch.float64), dim=0)
    x = sample_vmf(mu1[None], torch.tensor([kappa1], dtype=torch.float64), 200000)[:, 0]
    log_f1 = log_c(kappa1, dim) + kappa1 * (x @ mu1).numpy()
    log_f2 = log_c(kappa2, dim) + kappa2 * (x @ mu2).numpy()
    estimate, error = (log_f1 - log_f2).mean(), 3 * (log_f1 - log_f2).std() / math.sqrt(len(x))
    exact = kl_vmf(torch.tensor([kappa1], dtype=torch.float64), (mu1 @ mu2).reshape(1, 1),
                   torch.tensor([kappa2], dtype=torch.float64), dim).item()
    assert abs(exact - estimate) < error


# ---- the vectorised loss against a direct translation of the paper's per-image loop ----

def per_image_loop_logits(embeddings, directions, concentrations, temperature, samples):
    """The paper code's computation, one image and one class at a time, with given samples (S x B x D)."""
    rows = []
    for i in range(len(embeddings)):
        row = []
        for c in range(len(directions)):
            nu = concentrations[c] * directions[c]
            norm = nu.norm().item()
            values = []
            for s in range(samples.shape[0]):
                z = samples[s, i]
                log_l = log_c(norm, embeddings.shape[1]) + norm * F.cosine_similarity(z, nu, dim=0).item() \
                    + concentrations[c].log().sum().item() - math.log(norm)
                values.append(log_l / temperature)
            row.append(np.logaddexp.reduce(values) - math.log(len(values)))
        rows.append(row)
    return torch.tensor(rows)


def test_vectorised_logits_equal_the_per_image_loop(monkeypatch):
    generator = torch.Generator().manual_seed(3)
    embeddings = torch.randn(5, 6, generator=generator, dtype=torch.float64) * 4
    directions = F.normalize(torch.randn(3, 6, generator=generator, dtype=torch.float64), dim=1)
    concentrations = torch.rand(3, 6, generator=generator, dtype=torch.float64) * 5 + 0.1
    samples = sample_vmf(F.normalize(embeddings, dim=1), embeddings.norm(dim=1), 4, generator=generator)
    monkeypatch.setattr(proxyvmf_panc, "sample_vmf", lambda mu, kappa, n: samples)
    got = el_nivmf_logits(embeddings, directions, concentrations, torch.tensor(0.05, dtype=torch.float64), 4)
    expected = per_image_loop_logits(embeddings, directions, concentrations, 0.05, samples)
    assert torch.allclose(got, expected.to(got), rtol=1e-9, atol=1e-6)


def test_loss_is_cross_entropy_plus_weighted_proxy_anchor_guidance():
    loss = build("proxyvmf_panc", "--loss_proxyvmf_guidance_w", "0.3", "--loss_proxyvmf_n_samples", "3")
    batch, labels = torch.randn(6, 4) * 5, torch.tensor([0, 0, 1, 1, 2, 2])
    torch.manual_seed(5)
    value = loss(batch, labels)
    torch.manual_seed(5)
    logits = loss.logits(batch)
    expected = F.cross_entropy(logits, labels) + 0.3 * proxy_anchor(batch, labels, loss.directions, 32.0, 0.1)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_gradients_reach_embeddings_directions_concentrations_and_temperature():
    loss = build("proxyvmf_panc", "--loss_proxyvmf_n_samples", "4", "--loss_proxyvmf_guidance_w", "1")
    with torch.no_grad():
        loss.concentrations[0, 0] = 0.05  # below the floor: no gradient there
    batch = (torch.randn(6, 4) * 5).requires_grad_(True)
    loss(batch, torch.tensor([0, 0, 1, 1, 2, 2])).backward()
    for name, grad in [("batch", batch.grad), ("directions", loss.directions.grad),
                       ("concentrations", loss.concentrations.grad), ("temperature", loss.temperature.grad)]:
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert loss.concentrations.grad[0, 0] == 0
    # The image norm (its concentration) gets gradient through the sampler, not only its direction.
    radial = (batch.grad * F.normalize(batch.detach(), dim=1)).sum(1)
    assert radial.abs().max() > 0


@pytest.mark.parametrize("name", ["proxyvmf", "proxyvmf_kl", "proxynca_nivmf"])
def test_ablations_are_cross_entropy_over_their_kernels_and_learn(name):
    loss = build(name, "--loss_proxyvmf_rho", "0.5", "--loss_proxyvmf_temp", "0.5")
    batch = (torch.randn(6, 4, dtype=torch.float64) * 3).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss.double()
    logits = loss.logits(batch)
    kappa = batch.norm(dim=1)
    cosine = F.normalize(batch, dim=1) @ F.normalize(loss.directions, dim=1).T
    conc = loss.concentrations.clamp_min(0.1)
    if name == "proxyvmf":
        expected = log_ppk(kappa, cosine, conc[:, 0], 0.5, 4) / 0.5
    elif name == "proxyvmf_kl":
        expected = -kl_vmf(kappa, cosine, conc[:, 0], 4) / 0.5
    else:
        expected = nivmf_log_density(F.normalize(batch, dim=1), F.normalize(loss.directions, dim=1), conc) / 0.5
    assert torch.allclose(logits, expected)
    loss(batch, labels).backward()
    assert torch.isfinite(batch.grad).all() and loss.directions.grad.abs().sum() > 0


def test_isotropic_ablations_have_one_concentration_per_class():
    assert build("proxyvmf").concentrations.shape == (3, 1)
    assert build("proxyvmf_kl").concentrations.shape == (3, 1)
    assert build("proxynca_nivmf").concentrations.shape == (3, 4)
    assert build("proxyvmf_panc").concentrations.shape == (3, 4)


# ---- options, parameters, set-up ----

def test_normalising_architectures_are_refused_and_the_default_architecture_keeps_the_norm():
    for name in ["proxyvmf_panc", "proxyvmf", "proxyvmf_kl", "proxynca_nivmf"]:
        with pytest.raises(ConfigError, match="without the _normalize tag"):
            parameters.check_options(options("--loss", name, "--arch", "resnet50_frozen_normalize"))
    assert options("--loss", "proxyvmf_panc").arch == "efficientnet_lite0_frozen"
    assert options("--loss", "multisimilarity").arch == "efficientnet_lite0_frozen_normalize"


def test_default_metrics_add_cosine_recall_and_the_uncertainty_metrics():
    metrics = options("--loss", "proxyvmf_panc").evaluation_metrics
    for name in ["c_recall@1", "c_recall@8", "norm_auroc", "c_norm_auroc", "c_norm_recall_spearman", "e_recall@1"]:
        assert name in metrics
    assert "c_recall@1" not in options("--loss", "multisimilarity").evaluation_metrics


def test_optimiser_groups_use_the_multipliers_without_weight_decay():
    loss = build("proxyvmf_panc", "--loss_proxyvmf_proxylrmulti", "7500", "--loss_proxyvmf_conclrmulti", "200",
                 "--loss_proxyvmf_templrmulti", "30")
    groups = {g["name"]: g for g in loss.param_groups(1e-5)}
    assert {name: g["lr"] for name, g in groups.items()} == pytest.approx(
        {"loss_proxyvmf_directions": 0.075, "loss_proxyvmf_concentrations": 0.002, "loss_proxyvmf_temperature": 3e-4})
    assert all(g["weight_decay"] == 0.0 for g in groups.values())
    fixed = build("proxyvmf_panc", "--loss_proxyvmf_fixed_temp")
    assert "loss_proxyvmf_temperature" not in {g["name"] for g in fixed.param_groups(1e-5)}


class HeadModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(2, 4)


def setup_context(model, embeds, labels, resuming=False):
    return SimpleNamespace(model=model, train_split="train", resuming=resuming, logger=logging.getLogger(),
                           embed=lambda split, keys=None: ({"embeds": embeds}, labels))


def test_setup_scales_the_head_and_warm_starts_the_proxies_at_the_class_means():
    loss = build("proxyvmf_panc", "--loss_proxyvmf_init_norm_multiplier", "12", "--loss_proxyvmf_warmstart")
    model = HeadModel()
    weight, bias = model.head.weight.detach().clone(), model.head.bias.detach().clone()
    embeds = np.array([[1, 0, 0, 0], [3, 0, 2, 0], [0, 5, 0, 0], [0, 1, 0, 1], [0, 0, 0, -2]], dtype=np.float32)
    loss.setup(setup_context(model, embeds, np.array([0, 0, 1, 1, 2])))
    assert torch.equal(model.head.weight, weight * 12) and torch.equal(model.head.bias, bias)
    expected = F.normalize(torch.tensor([[2.0, 0, 1, 0], [0, 3, 0, 0.5], [0, 0, 0, -2]]), dim=1)
    assert torch.allclose(loss.directions, expected)


def test_setup_on_resume_leaves_everything_to_the_checkpoint():
    loss = build("proxyvmf_panc", "--loss_proxyvmf_warmstart")
    model, directions = HeadModel(), loss.directions.detach().clone()
    weight = model.head.weight.detach().clone()
    loss.setup(setup_context(model, None, None, resuming=True))
    assert torch.equal(model.head.weight, weight) and torch.equal(loss.directions, directions)


def test_the_papers_readme_command_runs_as_written():
    argv = shlex.split("--loss proxyvmf_panc --seed 0 --dataset cars196 --n_epochs 300 --tau 60 80 --gamma 0.1 "
                       "--no_train_metrics --embed_dim 128 --loss_proxyvmf_proxylrmulti 7500 "
                       "--loss_proxyvmf_conclrmulti 7500 --loss_proxyvmf_concentration 9 --loss_proxyvmf_temp 0.003 "
                       "--loss_proxyvmf_templrmulti 200 --loss_proxyvmf_warmstart --loss_proxyvmf_n_samples 5 "
                       "--loss_proxyvmf_guidance_w 0.3 --source_path /data --gpu 0 --log_online")
    opt = parameters.parse_args(argv)
    parameters.check_options(opt)
    assert (opt.loss_proxyvmf_init_norm_multiplier, opt.loss_proxyvmf_rho, opt.loss_proxyvmf_learnable_temp) == \
        (100.0, 1.0, True)
    loss = criteria.select("proxyvmf_panc", opt, num_classes=98, embed_dim=128)
    assert loss.n_samples == 5 and loss.temperature.item() == pytest.approx(0.003)


@pytest.mark.parametrize("script, count, arch", [("proxyvmf_benchmarks.sh", 11, "resnet50_frozen"),
                                                 ("proxyvmf_emoji.sh", 2, "efficientnet_lite0_frozen")])
def test_the_scripts_parse_and_pass_the_option_checks(script, count, arch):
    commands = script_commands(script)
    assert len(commands) == count
    for argv in commands:
        opt = parameters.parse_args(argv)
        parameters.check_options(opt)
        assert opt.arch == arch and opt.loss in ("proxyvmf_panc", "proxyvmf", "proxyvmf_kl", "proxynca_nivmf")


# ---- learning ----

@pytest.mark.parametrize("name", ["proxyvmf_panc", "proxyvmf"])
def test_trains_on_synthetic_features(name):
    """Recall on the normalised embeddings, as the paper selects by: the norm carries certainty, not identity."""
    first, last, before, after = train_and_evaluate(
        name, *RAW, "--loss_proxyvmf_n_samples", "5", "--loss_proxyvmf_temp", "1", "--loss_proxyvmf_concentration",
        "2", "--loss_proxyvmf_proxylrmulti", "10", "--loss_proxyvmf_conclrmulti", "10", "--loss_proxyvmf_templrmulti",
        "1", normalize=False, lr=1e-2, steps=120, metric="c_recall@1")
    assert last < first and after > before + 0.3, (first, last, before, after)


@pytest.mark.slow
def test_warm_started_run_killed_and_resumed_equals_the_uninterrupted_one(source, tmp_path):
    """Through the real Run on the tiny CUB tree: setup scales the head and warm-starts the proxies on a fresh start
    only; a run killed while committing epoch 2 resumes (sampler noise from the checkpointed RNG) to the same CSVs."""
    import contextlib
    import csv
    import os

    import main
    from tests.helpers import Killed, killed_at_commit
    from tests.test_main import tiny_run_flags
    from utilities.training import Run

    flags = ["--no_train_metrics", "--arch", "resnet18", "--loss", "proxyvmf_panc", "--loss_proxyvmf_warmstart",
             "--loss_proxyvmf_n_samples", "3", "--loss_proxyvmf_init_norm_multiplier", "5",
             "--loss_proxyvmf_proxylrmulti", "10", "--loss_proxyvmf_conclrmulti", "10", "--loss_proxyvmf_temp", "0.1"]
    assert main.main(tiny_run_flags(source, tmp_path / "a", *flags, epochs=2)) == 0
    opt = parameters.parse_args(tiny_run_flags(source, tmp_path / "b", *flags, epochs=2))
    opt.group = "tiny"
    run = Run(opt)
    with killed_at_commit(2), contextlib.suppress(Killed):
        run.start()
        run.run()
    run.close()
    assert main.main(["--resume", run.run_dir]) == 0

    def rows(folder, table):
        with open(os.path.join(folder, table)) as f:
            return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]

    uninterrupted = tmp_path / "a" / "cub200" / "tiny_s0"
    for table in ["test_embeds.csv", "train.csv"]:
        assert rows(uninterrupted, table) == rows(run.run_dir, table), table
