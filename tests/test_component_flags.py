"""The flags that losses, batchminers, samplers and datasets declare in their own `add_arguments(group)`.

Every numeric flag must be range-checked while the command line is parsed: its type is one of utilities.argtypes
(never plain float/int), or, for the few ranges those types cannot express, a checked type built on them inside
add_arguments (listed in BESPOKE_TYPES with values each must accept and refuse). Every add_arguments must also give
the same flags when read from source by utilities/registry.py, since the parser is built without importing the
component modules.
"""
import argparse

import pytest

import batchminer
import criteria
import datasampler
import datasets
import parameters
from utilities import argtypes
from utilities.registry import static_index

REGISTRIES = {"loss": criteria.REGISTRY, "miner": batchminer.REGISTRY, "sampler": datasampler.REGISTRY,
              "dataset": datasets.REGISTRY}
CHECKED_TYPES = {getattr(argtypes, name) for name in argtypes.__all__}

# Flags whose range no argtypes type expresses: (values accepted, values refused).
_PROJECTION = (["-1", "1", "64"], ["0", "-2", "1.5", "nan", "x"])
BESPOKE_TYPES = {
    "loss_angular_alpha": (["45", "0.5", "89.9"], ["0", "90", "120", "-10", "nan", "inf", "x"]),
    "loss_histogram_nbins": (["2", "65"], ["1", "0", "-3", "2.5", "x"]),
    "sampler_greedy_coreset_lowproj_dim": _PROJECTION,
    "sampler_d2_coreset_lowproj_dim": _PROJECTION,
    "sampler_disthist_batchmatch_lowproj_dim": _PROJECTION,
}


def declared_flags(prefix, name, component):
    """(parser, actions) of the component's add_arguments run on a group of its own."""
    parser = argparse.ArgumentParser()
    group = parser.add_argument_group(f"{prefix}: {name}")
    component.add_arguments(group)
    return parser, group._group_actions


def components_with_flags():
    return [(prefix, name, component) for prefix, registry in REGISTRIES.items()
            for name, component in registry.items() if getattr(component, "add_arguments", None) is not None]


def is_numeric(action):
    if action.type in (int, float) or action.type in CHECKED_TYPES or action.dest in BESPOKE_TYPES:
        return True
    default_is_number = isinstance(action.default, (int, float)) and not isinstance(action.default, bool)
    return default_is_number and action.nargs != 0  # store_true/store_const take no value


def test_every_registry_has_components_with_flags():
    prefixes = {prefix for prefix, _, _ in components_with_flags()}
    assert prefixes == set(REGISTRIES)


@pytest.mark.parametrize("prefix, name, component", components_with_flags(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_numeric_flags_have_checked_types_and_valid_defaults(prefix, name, component):
    _, actions = declared_flags(prefix, name, component)
    assert actions, f"{name}: add_arguments declares nothing"
    for action in actions:
        assert action.dest.startswith(f"{prefix}_{name}_"), f"--{action.dest} is not namespaced as --{prefix}_{name}_*"
        if not is_numeric(action):
            continue
        assert action.type not in (int, float), f"--{action.dest}: plain {action.type.__name__}, not a checked type"
        assert action.type in CHECKED_TYPES or action.dest in BESPOKE_TYPES, \
            f"--{action.dest}: type {action.type!r} is neither from utilities.argtypes nor a listed bespoke type"
        if action.default is not None:
            # The default itself passes the check (and keeps its value).
            assert action.type(str(action.default)) == action.default, f"--{action.dest} default {action.default}"


@pytest.mark.parametrize("flag", sorted(BESPOKE_TYPES))
def test_bespoke_types_accept_and_refuse_what_they_promise(flag):
    accepted, refused = BESPOKE_TYPES[flag]
    for value in accepted:
        parameters.parse_args([f"--{flag}", value])
    for value in refused:
        with pytest.raises(SystemExit) as exit_info:
            parameters.parse_args([f"--{flag}", value])
        assert exit_info.value.code == 2, (flag, value)


@pytest.mark.parametrize("prefix, name, component", components_with_flags(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_add_arguments_is_self_contained(prefix, name, component):
    # The project's own source reader, as the parser uses it (utilities/registry.py).
    parser = argparse.ArgumentParser()
    static_index(REGISTRIES[prefix].package_name)[name].flags(parser.add_argument_group(name))
    _, imported = declared_flags(prefix, name, component)
    from_source = {a.dest: (a.default, a.type.__name__ if a.type else None, a.choices) for a in parser._actions}
    from_source.pop("help")
    assert from_source == {a.dest: (a.default, a.type.__name__ if a.type else None, a.choices) for a in imported}


@pytest.mark.parametrize("argv", [
    ["--loss_margin_margin", "-1"],
    ["--loss_multisimilarity_pos_weight", "nan"],
    ["--loss_triplet_margin", "inf"],
    ["--loss_triplet_distance", "cosine"],
    ["--loss_supcon_temperature", "0"],
    ["--loss_softtriplet_n_centroids", "0"],
    ["--loss_proxyanchor_lrmulti", "-100"],
    ["--miner_rho_distance_cp", "1.5"],
    ["--miner_distance_lower_cutoff", "0"],
    ["--sampler_disthist_batchmatch_ncomps", "-3"],
    ["--sampler_greedy_coreset_bigbs", "0"],
    ["--sampler_d2_coreset_lambda", "-1"],
    ["--dataset_vehicle_id_gallery_seed", "-1"],
    ["--loss_contrastive_neg_margin", "one"],
])
def test_out_of_range_values_are_refused_at_parse_time(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parameters.parse_args(argv)
    assert exit_info.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


def test_legitimate_edge_values_are_accepted():
    opt = parameters.parse_args(["--loss_multisimilarity_thresh", "-0.2", "--loss_contrastive_pos_margin", "0",
                                 "--loss_margin_nu", "0", "--miner_rho_distance_cp", "1",
                                 "--sampler_greedy_coreset_lowproj_dim", "-1", "--dataset_vehicle_id_gallery_seed", "7",
                                 "--loss_triplet_distance", "euclidean"])
    assert (opt.loss_multisimilarity_thresh, opt.loss_contrastive_pos_margin, opt.miner_rho_distance_cp) == (-0.2, 0, 1)
    assert (opt.sampler_greedy_coreset_lowproj_dim, opt.dataset_vehicle_id_gallery_seed) == (-1, 7)
    assert opt.loss_triplet_distance == "euclidean"
