"""--config: YAML recipes (plain and W&B export form) under the command line, checked like the flags."""
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import main
import parameters
from utilities import config
from utilities.errors import ConfigError
from utilities.logger import write_options
from utilities.recipe_sources import RecipeSource

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROTH_RECIPE = os.path.join(REPO_ROOT, "configs", "cub200_multisimilarity_roth.yaml")


def recipe(tmp_path, text, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def parse(*argv):
    """The options as main.py parses them before the dataset-dependent defaults are filled in."""
    argv = list(argv)
    return parameters.apply_config(parameters.build_parser().parse_args(argv), argv)


def refusal(*argv):
    with pytest.raises(ConfigError) as error:
        parse(*argv)
    return str(error.value)


def test_plain_recipe_sets_the_options(tmp_path):
    path = recipe(tmp_path, """
        loss: triplet
        bs: 48
        lr: 1e-5                              # YAML reads this as text: the flag's type converts it
        loss_triplet_margin: 0.3
        optim: sgd
        """)
    opt = parse("--config", path)
    assert (opt.loss, opt.bs, opt.lr, opt.loss_triplet_margin, opt.optim) == ("triplet", 48, 1e-5, 0.3, "sgd")
    assert opt.config == path
    assert opt.embed_dim == 128 and opt.n_epochs is None  # untouched options keep their defaults


def test_wandb_export_form_is_read_and_its_bookkeeping_ignored(tmp_path):
    path = recipe(tmp_path, """
        wandb_version: 1
        _wandb:
          desc: null
          value:
            cli_version: 0.17.0
            python_version: 3.11.7
        loss:
          desc: null
          value: multisimilarity
        loss_multisimilarity_pos_weight:
          desc: Weight of the positive term
          value: 3
        tau:
          desc: null
          value: [60, 80]
        no_train_metrics:
          desc: null
          value: true
        resume:
          desc: null
          value: null
        config:
          desc: null
          value: configs/the_recipe_that_run_came_from.yaml
        embed_dim: 64                         # plain entries may be mixed in
        """)
    opt = parse("--config", path)
    assert opt.loss == "multisimilarity" and opt.loss_multisimilarity_pos_weight == 3.0
    assert opt.tau == [60, 80] and opt.no_train_metrics and opt.embed_dim == 64
    assert opt.resume is None and opt.config == path  # the exported run's recipe path is a record, not followed


def test_a_mapping_that_is_not_the_wandb_form_is_refused(tmp_path):
    path = recipe(tmp_path, "bs: {size: 4}\n")
    assert "'bs' holds a mapping" in refusal("--config", path)


def test_unknown_key_is_refused_by_name_before_anything_is_written(tmp_path, caplog):
    path = recipe(tmp_path, "loss: multisimilarity\nembed_dims: 64\nlearning_rate: 0.1\n")
    save = tmp_path / "runs"
    with caplog.at_level(logging.ERROR):
        assert main.main(["--config", path, "--save_path", str(save)]) == 2
    assert "unknown option 'embed_dims' (did you mean 'embed_dim'?)" in caplog.text
    assert "unknown option 'learning_rate'" in caplog.text
    assert not save.exists()


def test_flag_spelling_as_a_key_suggests_the_option_name(tmp_path):
    path = recipe(tmp_path, "--no-train-metrics: true\n")
    assert "did you mean 'no_train_metrics'?" in refusal("--config", path)


def test_the_command_line_wins_over_the_recipe(tmp_path):
    path = recipe(tmp_path, """
        bs: 90
        tau: [60, 80]
        loss: triplet
        no_train_metrics: false
        evaluation_metrics: [e_recall@1, nmi]
        """)
    opt = parse("--config", path, "--bs", "60", "--tau", "30", "--no_train_metrics")
    assert (opt.bs, opt.tau, opt.no_train_metrics) == (60, [30], True)
    assert opt.loss == "triplet" and opt.evaluation_metrics == ["e_recall@1", "nmi"]
    # The order on the command line does not matter: the recipe only supplies defaults.
    assert parse("--bs", "60", "--config", path).bs == 60


@pytest.mark.parametrize("line, message", [
    ("lr: -1", "key 'lr': argument --lr: expected a number > 0, got '-1'"),
    ("lr: .nan", "argument --lr: expected a finite number, got 'nan'"),
    ("bs: 12.5", "argument --bs: expected an integer, got '12.5'"),
    ("optim: rmsprop", "argument --optim: invalid choice: 'rmsprop'"),
    ("tau: [60, -5]", "argument --tau: expected an integer > 0, got '-5'"),
    ("tau: []", "argument --tau: expected at least one argument"),
    ("loss_multisimilarity_pos_weight: 0", "argument --loss_multisimilarity_pos_weight: expected a number > 0"),
    ("lr: [0.1, 0.2]", "--lr takes one value, got the list"),
    ("no_train_metrics: 'yes'", "--no_train_metrics is an on/off flag; give true or false, got 'yes'"),
    ("no_train_metrics: 1", "--no_train_metrics is an on/off flag"),
    ("bs: null", "null is not a value of --bs"),
    ("evaluation_metrics: [[e_recall@1]]", "give plain values"),
])
def test_recipe_values_are_checked_like_the_flags(tmp_path, line, message):
    assert message in refusal("--config", recipe(tmp_path, line + "\n"))


def test_a_bad_recipe_value_fails_main_with_status_2(tmp_path, caplog):
    path = recipe(tmp_path, "lr: -1\n")
    with caplog.at_level(logging.ERROR):
        assert main.main(["--config", path, "--save_path", str(tmp_path / "runs")]) == 2
    assert f"--config {path}, key 'lr': argument --lr: expected a number > 0, got '-1'" in caplog.text
    assert not (tmp_path / "runs").exists()


def test_lists_and_on_off_flags(tmp_path):
    opt = parse("--config", recipe(tmp_path, """
        tau: [60, 80]
        gpu: 1                                # one value for a list flag
        evaluation_metrics: [e_recall@1, e_recall@2, nmi, mAP_R]
        storage_metrics: [e_recall@1]
        no_train_metrics: true
        amp: false
        lr: null                              # null: the option's own default (here: the dataset's)
        batch_mining: null
        """))
    assert opt.tau == [60, 80] and opt.gpu == [1]
    assert opt.evaluation_metrics == ["e_recall@1", "e_recall@2", "nmi", "mAP_R"]
    assert opt.storage_metrics == ["e_recall@1"]
    assert opt.no_train_metrics is True and opt.amp is None
    assert opt.lr is None and opt.batch_mining is None


def test_text_values_starting_with_a_dash_stay_values(tmp_path):
    assert parse("--config", recipe(tmp_path, "group: -ablation\nfc_lr: -1\n")).group == "-ablation"


@pytest.mark.parametrize("text, message", [
    ("loss: [multisimilarity\n", "is not valid YAML"),
    ("loss: triplet\n  bs: 4\n", "is not valid YAML"),
    ("- loss\n- triplet\n", "expected a mapping of option names to values"),
    ("bs: 4\nbs: 8\n", "found the key 'bs' twice"),
    ("12: 4\n", "option names are text"),
])
def test_malformed_recipes_are_refused_clearly(tmp_path, text, message):
    assert message in refusal("--config", recipe(tmp_path, text))


def test_a_yaml_error_names_the_line(tmp_path):
    assert "line 3" in refusal("--config", recipe(tmp_path, "loss: triplet\nbs: 4\ntau: [1, 2\n"))


def test_a_missing_recipe_is_refused_by_main(tmp_path, caplog):
    missing = tmp_path / "nope.yaml"
    with caplog.at_level(logging.ERROR):
        assert main.main(["--config", str(missing), "--save_path", str(tmp_path / "runs")]) == 2
    assert f"--config {missing}: no such file." in caplog.text
    assert "cannot be read" in refusal("--config", str(tmp_path))  # a folder


def test_an_empty_recipe_changes_nothing(tmp_path):
    opt = parse("--config", recipe(tmp_path, "# nothing yet\n"))
    assert vars(opt) == {**vars(parse()), "config": opt.config}


def test_a_recipe_cannot_resume_a_run(tmp_path):
    assert "a recipe cannot resume a run" in refusal("--config", recipe(tmp_path, "resume: runs/cub200/x_s0\n"))


def test_config_is_refused_with_resume(tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_options(run_dir, parse("--n_epochs", "2"))
    (run_dir / "checkpoint_last.pth").write_bytes(b"")  # refused before the checkpoint is read
    path = recipe(tmp_path, "n_epochs: 4\n")
    with caplog.at_level(logging.ERROR):
        assert main.main(["--resume", str(run_dir), "--config", path]) == 2
    assert "--config cannot change on resume" in caplog.text


def test_the_example_recipe_is_roths_published_command():
    published = ("--dataset cub200 --n_epochs 100 --tau 100 --gamma 1 --arch resnet50_frozen_normalize "
                 "--embed_dim 128 --loss multisimilarity --bs 90 --no_train_metrics").split()
    from_recipe = vars(parse("--config", ROTH_RECIPE))
    assert from_recipe.pop("config") == ROTH_RECIPE
    from_command = vars(parse(*published))
    assert from_command.pop("config") is None
    assert from_recipe == from_command


def test_a_runs_options_json_is_a_recipe_for_the_same_run(tmp_path):
    opt = parse("--config", ROTH_RECIPE, "--seed", "3", "--tau", "40", "60", "--lr", "2e-5")
    write_options(tmp_path, opt)
    again = parse("--config", str(tmp_path / "options.json"))
    assert {**vars(again), "config": opt.config} == vars(opt)


def test_the_run_folder_records_the_recipe(tmp_path):
    from tests.dataset_trees import make_cub200
    make_cub200(tmp_path / "data", n_classes=8, per_class=8, size=40)
    path = recipe(tmp_path, """
        dataset: cub200
        arch: resnet18_normalize
        not_pretrained: true
        embed_dim: 16
        crop_size: 32
        bs: 16
        samples_per_class: 4
        n_epochs: 0
        num_workers: 0
        no_train_metrics: true
        evaluation_metrics: [e_recall@1]
        storage_metrics: [e_recall@1]
        group: recipe
        """)
    assert main.main(["--config", path, "--source_path", str(tmp_path / "data"),
                      "--save_path", str(tmp_path / "runs"), "--embed_dim", "8"]) == 0
    options = json.loads((tmp_path / "runs" / "cub200" / "recipe_s0" / "options.json").read_text())
    assert options["config"] == path and options["embed_dim"] == 8 and options["bs"] == 16
    assert options["no_train_metrics"] is True and options["evaluation_metrics"] == ["e_recall@1"]


def test_a_source_table_renames_other_code_bases_keys_and_values(tmp_path, monkeypatch):
    source = RecipeSource(name="Other", markers=frozenset({"other_marker"}), aliases={"batch_size": "bs"},
                          values={"dataset": {"birds": "cub200"}}, defaults={"n_epochs": 7, "bs": 8},
                          fixed={"other_marker": (True, "always on here")}, ignored={"colour": "cosmetic"})
    monkeypatch.setattr(config, "SOURCES", (source,))
    opt = parse("--config", recipe(tmp_path, "other_marker: true\nbatch_size: 32\ndataset:\n  desc: null\n"
                                             "  value: birds\ncolour: red\n"))
    assert (opt.bs, opt.dataset, opt.n_epochs) == (32, "cub200", 7)  # the source's default fills n_epochs only
    assert "'batch_size' and 'bs' both set the option 'bs'" in refusal(
        "--config", recipe(tmp_path, "other_marker: true\nbs: 32\nbatch_size: 16\n", name="both.yaml"))
    assert "key 'batch_size': argument --bs: expected an integer > 0" in refusal(
        "--config", recipe(tmp_path, "other_marker: true\nbatch_size: 0\n", name="bad.yaml"))
    assert "key 'other_marker': only True is implemented here (always on here); got False" in refusal(
        "--config", recipe(tmp_path, "other_marker: false\n", name="off.yaml"))
    # without a marker the recipe is ours: no renaming, no defaults
    assert "unknown option 'batch_size'" in refusal("--config", recipe(tmp_path, "batch_size: 32\n", name="o.yaml"))


def test_reading_a_recipe_does_not_import_torch(tmp_path):
    bad = recipe(tmp_path, "los: triplet\n", name="bad.yaml")
    probe = textwrap.dedent(f"""
        import sys
        import main, parameters
        argv = ["--config", {ROTH_RECIPE!r}, "--bs", "60"]
        opt = parameters.apply_config(parameters.build_parser().parse_args(argv), argv)
        assert opt.bs == 60 and opt.arch == "resnet50_frozen_normalize", opt
        assert main.main(["--config", {bad!r}, "--save_path", {str(tmp_path / "runs")!r}]) == 2
        print("TORCH" if "torch" in sys.modules else "NO TORCH")
        """)
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip().endswith("NO TORCH"), result.stderr[-2000:]
    assert "unknown option 'los' (did you mean 'loss'?)" in result.stderr


def test_amp_takes_a_dtype_and_true_in_a_recipe_or_an_old_run_means_fp16(tmp_path):
    assert parse().amp is None and parse("--amp").amp == "fp16" and parse("--amp", "bf16").amp == "bf16"
    assert parse("--config", recipe(tmp_path, "amp: true\n")).amp == "fp16"
    assert parse("--config", recipe(tmp_path, "amp: false\n", name="off.yaml")).amp is None
    assert parse("--config", recipe(tmp_path, "amp: bf16\n", name="bf16.yaml")).amp == "bf16"
    assert "invalid choice: 'fp8'" in refusal("--config", recipe(tmp_path, "amp: fp8\n", name="bad.yaml"))
    assert [parameters.amp_dtype(v) for v in (True, False, None, "fp16", "bf16")] == [
        "fp16", None, None, "fp16", "bf16"]


@pytest.mark.parametrize("argv, recipe_text, expected", [
    ([], None, True),  # emoji switches channels_last on by default
    (["--no_channels_last"], None, False),
    (["--dataset", "cub200"], None, False),
    (["--dataset", "cub200", "--channels_last"], None, True),
    ([], "channels_last: false\n", False),  # an explicit false beats the dataset's default
    (["--dataset", "cub200"], "channels_last: true\n", True),
    (["--channels_last"], "channels_last: false\n", True),  # the command line wins
])
def test_a_switch_with_a_dataset_default_can_be_set_either_way(tmp_path, argv, recipe_text, expected):
    if recipe_text is not None:
        argv = [*argv, "--config", recipe(tmp_path, recipe_text)]
    assert parameters.parse_args(["--save_path", str(tmp_path), *argv]).channels_last is expected


def test_an_on_off_switch_in_a_recipe_takes_only_true_or_false(tmp_path):
    assert "--channels_last is an on/off flag" in refusal("--config", recipe(tmp_path, "channels_last: 1\n"))
