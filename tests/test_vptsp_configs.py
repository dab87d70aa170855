"""The paper configs of Ren et al. (ICLR 2024) load as written (W&B form, the paper's key names and its code's
defaults), give the same options as our versions in configs/, and the command line still wins."""
import glob
import logging
import os
import textwrap

import pytest
import yaml

import parameters
from utilities.errors import ConfigError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The values of config/*.yaml in github.com/Noahsark/ParameterEfficient-DML, one dict per file.
PAPER_CONFIGS = {
    "cars_basic": {
        'batch_size': 64, 'data_sampler': 'random_class', 'dataset': 'cars196', 'decay': 0, 'embed_dim': 512,
        'eval_start': 40, 'feature_dropout': 0, 'force_add_positive': True, 'lr': 0.0005, 'lr_cosine_min': 1e-06,
        'lr_proxy': 0.01, 'mix_precision': True, 'n_epochs': 60, 'num_p_prompt': 50, 'num_prompt': 80, 'optim':
        'adamw', 'p_prompt_depth': 8, 'pretrained_model': 'vit_base_patch16_224_in21k', 'prompt_block_step': 2,
        'prompt_depth': 10, 'prompt_p_block_step': 2, 'proxy_bias_ratio': 0.1, 'proxy_data_range': 'both_all',
        'proxy_mix_bias': True, 'proxy_net_head': 'isolated', 'rnn_dropout': 0, 'same_p_scheduler': True,
        'samples_per_class': 2, 'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True,
        'vit_head': True, 'vit_prompt': True, 'vit_proxy_net': True, 'no_train_metrics': True},
    "cars_small": {
        'batch_size': 64, 'data_sampler': 'random_class', 'dataset': 'cars196', 'decay': 0, 'embed_dim': 384,
        'eval_start': 35, 'feature_dropout': 0, 'lr': 0.0005, 'lr_cosine_min': 1e-06, 'lr_proxy': 0.01,
        'mix_precision': True, 'n_epochs': 50, 'num_p_prompt': 50, 'num_prompt': 80, 'optim': 'adamw',
        'p_prompt_depth': 8, 'prompt_block_step': 2, 'prompt_depth': 11, 'prompt_p_block_step': 2,
        'proxy_bias_ratio': 0.7, 'proxy_data_range': 'both_all', 'proxy_mix_bias': True, 'proxy_net_head':
        'isolated', 'rnn_dropout': 0, 'same_p_scheduler': True, 'samples_per_class': 2, 'scheduler': 'cosine',
        'semantic_mix_type': 'gru_relu', 'vit_bitfit': True, 'vit_head': True, 'vit_prompt': True, 'vit_proxy_net':
        True, 'no_train_metrics': True},
    "cub200_basic": {
        'batch_size': 64, 'data_sampler': 'random_class', 'dataset': 'cub200', 'decay': 1e-06, 'embed_dim': 512,
        'eval_start': 30, 'feature_dropout': 0, 'lr': 0.001, 'lr_cosine_length': 100, 'lr_cosine_min': 1e-07,
        'lr_proxy': 0.01, 'mix_precision': True, 'n_epochs': 60, 'negative_push': 'partially', 'normal': True,
        'num_p_prompt': 5, 'num_prompt': 20, 'optim': 'sgd', 'p_prompt_depth': 4, 'pretrained_model':
        'vit_base_patch16_224_in21k', 'prompt_block_step': 0, 'prompt_depth': 12, 'prompt_p_block_step': 5,
        'proxy_bias_ratio': 0.4, 'proxy_data_range': 'both_all', 'proxy_mix_bias': True, 'proxy_net_head':
        'isolated', 'rnn_dropout': 0, 'same_p_scheduler': True, 'samples_per_class': 2, 'scheduler': 'cosine',
        'semantic_mix_type': 'gru_relu', 'vit_bitfit': True, 'vit_head': True, 'vit_prompt': True, 'vit_proxy_net':
        True, 'no_train_metrics': True},
    "cub200_small": {
        'batch_size': 64, 'data_sampler': 'random_class', 'dataset': 'cub200', 'decay': 1e-06, 'embed_dim': 384,
        'eval_start': 5, 'feature_dropout': 0, 'lr': 0.005, 'lr_cosine_length': 50, 'lr_cosine_min': 1e-08,
        'lr_proxy': 0.1, 'mix_precision': True, 'n_epochs': 15, 'negative_push': 'partially', 'num_p_prompt': 3,
        'num_prompt': 10, 'optim': 'sgd', 'p_prompt_depth': 12, 'pretrained_model': 'vit_small_patch16_224_in21k',
        'prompt_block_step': 0, 'prompt_depth': 12, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.5,
        'proxy_data_range': 'both_all', 'proxy_mix_bias': True, 'proxy_net_head': 'isolated', 'rnn_dropout': 0,
        'same_p_scheduler': True, 'samples_per_class': 2, 'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu',
        'vit_bitfit': True, 'vit_head': True, 'vit_prompt': True, 'vit_proxy_net': True, 'no_train_metrics': True},
    "inaturalist_basic": {
        'batch_size': 64, 'checkpoint': True, 'dataset': 'inaturalist', 'embed_dim': 512, 'eval_start': 5,
        'n_epochs': 40, 'lr': 0.0001, 'lr_cosine_min': 1e-06, 'lr_proxy': 0.05, 'mix_precision': True,
        'num_p_prompt': 10, 'num_prompt': 90, 'optim': 'adamw', 'p_prompt_depth': 12, 'pretrained_model':
        'vit_base_patch16_224_in21k', 'promot_mix': False, 'prompt_block_step': 5, 'prompt_depth': 12,
        'prompt_memory_bank': True, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.2, 'proxy_data_range':
        'both_all', 'proxy_mix_bias': True, 'proxy_net_head': 'isolated', 'samples_per_class': 1, 'scheduler':
        'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True, 'vit_head': True, 'vit_prompt': True,
        'vit_proxy_net': True},
    "inshop_basic": {
        'batch_size': 32, 'checkpoint': True, 'dataset': 'inshop', 'embed_dim': 512, 'eval_start': 20,
        'feature_dropout': 0, 'lr': 0.0001, 'lr_cosine_length': 100, 'lr_cosine_min': 1e-06, 'lr_proxy': 0.05,
        'mix_precision': True, 'n_epochs': 75, 'num_p_prompt': 60, 'num_prompt': 90, 'optim': 'adamw',
        'p_prompt_depth': 12, 'pretrained_model': 'vit_base_patch16_224_in21k', 'prompt_block_step': 0,
        'prompt_depth': 12, 'prompt_memory_bank': True, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.3,
        'proxy_data_range': 'both_all', 'proxy_mix_bias': True, 'proxy_net_head': 'isolated', 'same_p_scheduler':
        True, 'samples_per_class': 1, 'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True,
        'vit_head': True, 'vit_prompt': True, 'vit_proxy_net': True, 'no_train_metrics': True},
    "inshop_small": {
        'batch_size': 32, 'checkpoint': True, 'dataset': 'inshop', 'decay': 1e-07, 'embed_dim': 384,
        'feature_dropout': 0, 'lr': 0.0001, 'lr_cosine_length': 100, 'lr_cosine_min': 5e-06, 'lr_proxy': 0.05,
        'mix_precision': True, 'n_epochs': 80, 'negative_push': 'partially', 'num_p_prompt': 80, 'num_prompt': 90,
        'optim': 'adamw', 'p_prompt_depth': 12, 'prompt_block_step': 0, 'prompt_depth': 12, 'prompt_memory_bank':
        True, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.2, 'proxy_data_range': 'both_all', 'proxy_mix_bias':
        True, 'proxy_net_head': 'isolated', 'rnn_dropout': 0.1, 'same_p_scheduler': True, 'samples_per_class': 1,
        'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True, 'vit_head': True, 'vit_prompt':
        True, 'vit_proxy_net': True, 'no_train_metrics': True, 'eval_start': 40},
    "sop_basic": {
        'batch_size': 32, 'checkpoint': True, 'dataset': 'sop', 'decay': 0.0001, 'embed_dim': 512, 'eval_start': 30,
        'evaluation_metrics': ['e_recall@1', 'e_recall@10', 'e_recall@100', 'f1', 'mAP_R'], 'lr': 0.0001,
        'lr_cosine_length': 120, 'lr_cosine_min': 1e-07, 'lr_proxy': 0.05, 'mix_precision': True, 'n_epochs': 120,
        'num_p_prompt': 5, 'num_prompt': 90, 'optim': 'adamw', 'p_prompt_depth': 8, 'pretrained_model':
        'vit_base_patch16_224_in21k', 'promot_mix': False, 'prompt_block_step': 5, 'prompt_depth': 12,
        'prompt_memory_bank': True, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.2, 'proxy_data_range':
        'both_all', 'proxy_mix_bias': True, 'proxy_net_head': 'isolated', 'rnn_dropout': 0.5, 'same_p_scheduler':
        True, 'samples_per_class': 1, 'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True,
        'vit_head': True, 'vit_prompt': True, 'vit_proxy_net': True, 'no_train_metrics': True},
    "sop_small": {
        'batch_size': 32, 'checkpoint': True, 'dataset': 'sop', 'decay': 0.0001, 'embed_dim': 384, 'eval_start': 30,
        'evaluation_metrics': ['e_recall@1', 'e_recall@10', 'e_recall@100', 'f1', 'mAP_R'], 'lr': 0.0001,
        'lr_cosine_length': 120, 'lr_cosine_min': 5e-05, 'lr_proxy': 0.05, 'mix_precision': True, 'n_epochs': 120,
        'naming_attributes': ['rnn_dropout'], 'num_p_prompt': 5, 'num_prompt': 90, 'optim': 'adamw',
        'p_prompt_depth': 12, 'promot_mix': False, 'prompt_block_step': 0, 'prompt_depth': 12, 'prompt_memory_bank':
        True, 'prompt_p_block_step': 0, 'proxy_bias_ratio': 0.2, 'proxy_data_range': 'both_all', 'proxy_mix_bias':
        True, 'proxy_net_head': 'isolated', 'rnn_dropout': 0.1, 'same_p_scheduler': True, 'samples_per_class': 1,
        'scheduler': 'cosine', 'semantic_mix_type': 'gru_relu', 'vit_bitfit': True, 'vit_head': True, 'vit_prompt':
        True, 'vit_proxy_net': True, 'no_train_metrics': True},
}

# Ours, in configs/, for each of the paper's files.
OURS = {
    "cub200_small": "vptsp_cub200_vit_small.yaml", "cub200_basic": "vptsp_cub200_vit_base.yaml",
    "cars_small": "vptsp_cars196_vit_small.yaml", "cars_basic": "vptsp_cars196_vit_base.yaml",
    "sop_small": "vptsp_online_products_vit_small.yaml", "sop_basic": "vptsp_online_products_vit_base.yaml",
    "inshop_small": "vptsp_inshop_vit_small.yaml", "inshop_basic": "vptsp_inshop_vit_base.yaml",
    "inaturalist_basic": "vptsp_inaturalist_vit_base.yaml",
}


def wandb_form(tmp_path, values, name="paper.yaml"):
    """values written the way W&B exports a run's config (the paper's files have this form)."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"wandb_version": 1, **{key: {"desc": None, "value": value}
                                                           for key, value in values.items()}}, sort_keys=False))
    return str(path)


def options(*argv):
    argv = list(argv)
    opt = vars(parameters.apply_config(parameters.build_parser().parse_args(argv), argv))
    opt.pop("config")
    return opt


@pytest.mark.parametrize("paper_name", sorted(PAPER_CONFIGS))
def test_the_paper_config_and_ours_give_the_same_options(tmp_path, paper_name):
    paper = options("--config", wandb_form(tmp_path, PAPER_CONFIGS[paper_name]))
    ours = options("--config", os.path.join(REPO_ROOT, "configs", OURS[paper_name]))
    assert paper == ours
    assert paper["loss"] == "vptsp" and paper["arch"].endswith("_in21k_normalize")
    assert paper != options()  # the recipe changed something


def test_translation_of_the_papers_names_values_and_defaults(tmp_path):
    opt = options("--config", wandb_form(tmp_path, PAPER_CONFIGS["cars_small"]))
    # given by the file under the paper's names and values
    assert (opt["bs"], opt["amp"], opt["dataset"], opt["data_sampler"]) == (64, "fp16", "cars196", "class_random")
    assert (opt["num_prompt"], opt["prompt_depth"], opt["prompt_block_step"]) == (80, 11, 2)
    assert (opt["loss_vptsp_num_p_prompt"], opt["loss_vptsp_p_prompt_block_step"]) == (50, 2)
    assert (opt["loss_vptsp_lr_proxy"], opt["loss_vptsp_proxy_bias_ratio"]) == (0.01, 0.7)
    # left out by the file: the paper code's defaults, not ours
    assert opt["arch"] == "vit_small_patch16_224_in21k_normalize"
    assert opt["lr_cosine_length"] == 50 and opt["loss"] == "vptsp"
    sop = options("--config", wandb_form(tmp_path, PAPER_CONFIGS["sop_basic"], "sop.yaml"))
    assert (sop["dataset"], sop["vit_grad_checkpointing"], sop["decay"]) == ("online_products", True, 1e-4)
    assert sop["evaluation_metrics"] == ["e_recall@1", "e_recall@10", "e_recall@100", "f1", "mAP_R"]
    inat = options("--config", wandb_form(tmp_path, PAPER_CONFIGS["inaturalist_basic"], "inat.yaml"))
    assert inat["decay"] == 0.0 and inat["no_train_metrics"] is False  # that file sets neither


def test_the_command_line_wins_over_a_paper_config(tmp_path):
    path = wandb_form(tmp_path, PAPER_CONFIGS["cub200_small"])
    opt = options("--config", path, "--bs", "16", "--num_p_prompt", "2", "--arch", "vit_small_patch16_224_normalize",
                  "--decay", "0.5")
    assert (opt["bs"], opt["loss_vptsp_num_p_prompt"], opt["arch"], opt["decay"]) == (
        16, 2, "vit_small_patch16_224_normalize", 0.5)
    assert opt["lr"] == 0.005  # what the command line leaves alone still comes from the file


def test_ignored_keys_are_logged_with_their_reason(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="utilities.config"):
        options("--config", wandb_form(tmp_path, PAPER_CONFIGS["cub200_small"]))
    assert "read as a recipe of Ren et al. 2024" in caplog.text
    assert "eval_start (the paper's code skips evaluation before this epoch" in caplog.text
    assert "negative_push (not read by the paper's released code)" in caplog.text


@pytest.mark.parametrize("key, value, message", [
    ("proxy_data_range", "in_batch", "key 'proxy_data_range': only 'both_all' is implemented here"),
    ("vit_proxy_net", False, "key 'vit_proxy_net': only True is implemented here (the class-prompt proxy pass is "
                             "--loss vptsp); got False"),
    ("feature_dropout", 0.1, "key 'feature_dropout': only 0 is implemented here"),
    ("prompt_deep", 3, "unknown option 'prompt_deep' (did you mean 'prompt_depth' or"),
    ("batch_size", 0, "key 'batch_size': argument --bs: expected an integer > 0"),
])
def test_a_paper_config_is_checked_key_by_key(tmp_path, key, value, message):
    values = {**PAPER_CONFIGS["cub200_small"], key: value}
    with pytest.raises(ConfigError) as error:
        options("--config", wandb_form(tmp_path, values))
    assert message in str(error.value)


def test_a_paper_key_and_ours_for_the_same_option_are_refused(tmp_path):
    values = {**PAPER_CONFIGS["cub200_small"], "bs": 32}
    with pytest.raises(ConfigError, match="both set the option 'bs'"):
        options("--config", wandb_form(tmp_path, values))


def test_our_recipes_may_use_any_flag_of_an_option(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(textwrap.dedent("""
        loss: vptsp
        num_p_prompt: 4
        loss_vptsp_p_prompt_depth: 2
        """))
    opt = options("--config", str(path))
    assert (opt["loss_vptsp_num_p_prompt"], opt["loss_vptsp_p_prompt_depth"]) == (4, 2)
    assert opt["bs"] == 112  # not a paper recipe: our defaults stand
    path.write_text("num_p_prompt: 4\nloss_vptsp_num_p_prompt: 3\n")
    with pytest.raises(ConfigError, match="'loss_vptsp_num_p_prompt' and 'num_p_prompt' both set"):
        options("--config", str(path))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO_ROOT, "configs", "*.yaml"))),
                         ids=os.path.basename)
def test_every_shipped_config_parses_and_passes_the_checks(path):
    opt = parameters.resolve_dataset_defaults(
        parameters.apply_config(parameters.build_parser().parse_args(["--config", path]), ["--config", path]))
    parameters.check_options(opt)
