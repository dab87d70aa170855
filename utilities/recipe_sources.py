"""Other code bases' recipes that `--config` reads as written: how their keys and values become our options.

A recipe is read as a source's when it holds one of the source's marker keys (keys no recipe of ours has). Then:
  - `aliases` rename its keys to our option names (keys that already are the name or a flag of one of our options,
    such as `num_p_prompt`, need no entry);
  - `values` translate values spelled the source's way, per key as written;
  - `defaults` are the source code's own defaults, in our names, for the options its recipe leaves out: its
    recipes are exports of what differed from those defaults, so ours must not fill the gaps;
  - `fixed` keys switch on what this framework always does: accepted with that value, refused with another;
  - `ignored` keys change nothing here, each for the reason given; they are logged when read.
Standard library only: recipes are read before torch is imported.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecipeSource:
    name: str
    markers: frozenset
    aliases: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    fixed: dict = field(default_factory=dict)
    ignored: dict = field(default_factory=dict)


_VIT_ARCHS = ("vit_small_patch16_224", "vit_base_patch16_224", "vit_small_patch16_224_in21k",
              "vit_base_patch16_224_in21k")

# Ren et al., ICLR 2024 (github.com/Noahsark/ParameterEfficient-DML): config/*.yaml are W&B exports read over the
# defaults of its params.py.
REN_2024 = RecipeSource(
    name="Ren et al. 2024 (ParameterEfficient-DML)",
    markers=frozenset({"vit_prompt", "vit_proxy_net", "proxy_data_range", "proxy_mix_bias", "pretrained_model"}),
    aliases={
        "batch_size": "bs",
        "pretrained_model": "arch",
        "mix_precision": "amp",
        "checkpoint": "vit_grad_checkpointing",
    },
    values={
        # The paper's model always L2-normalises its embedding: here that is the _normalize tag of the arch.
        "pretrained_model": {name: f"{name}_normalize" for name in _VIT_ARCHS},
        "dataset": {"sop": "online_products"},
        "data_sampler": {"random_class": "class_random"},
        "mix_precision": {True: "fp16", False: None},  # the paper's code scales the loss: fp16
    },
    defaults={
        "loss": "vptsp",
        "arch": "vit_small_patch16_224_in21k_normalize",
        "bs": 64,
        "n_epochs": 30,
        "lr": 0.001,
        "decay": 0.0,
        "optim": "sgd",
        "scheduler": "cosine",
        "lr_cosine_length": 50,
        "lr_cosine_min": 1e-6,
        "embed_dim": 384,
        "samples_per_class": 2,
        "num_prompt": 10,
        "prompt_depth": 12,
        "prompt_block_step": 0,
        "loss_vptsp_num_p_prompt": 5,
        "loss_vptsp_p_prompt_depth": 3,
        "loss_vptsp_p_prompt_block_step": 0,
        "loss_vptsp_proxy_bias_ratio": 0.5,
        "loss_vptsp_lr_proxy": 0.5,
        "loss_vptsp_semantic_mix_type": "gru_relu",
        "loss_vptsp_rnn_dropout": 0.0,
    },
    fixed={
        "vit_prompt": (True, "prompts are on whenever --num_prompt > 0"),
        "vit_proxy_net": (True, "the class-prompt proxy pass is --loss vptsp"),
        "proxy_mix_bias": (True, "vptsp always mixes the learnable bias in, by --proxy_bias_ratio"),
        "proxy_data_range": ("both_all", "vptsp's Proxy-Anchor runs over all classes' proxies"),
        "proxy_net_head": ("isolated", "vptsp's semantic head is its own, not the model's"),
        "same_p_scheduler": (True, "the proxy optimiser has the same cosine schedule as the model's"),
        "feature_dropout": (0, "no feature dropout is implemented"),
    },
    ignored={
        "prompt_memory_bank": "a memory saving of the paper's code (class prompts kept on the CPU); results do not "
                              "depend on it, and the class prompts stay on the training device here",
        "normal": "test embeddings are L2-normalised by the arch's _normalize tag",
        "eval_start": "the paper's code skips evaluation before this epoch; every epoch is evaluated here",
        "negative_push": "not read by the paper's released code",
        "promot_mix": "not read by the paper's released code",
        "force_add_positive": "not read by the paper's released code",
        "naming_attributes": "names the paper's W&B runs",
    },
)

SOURCES = (REN_2024,)
