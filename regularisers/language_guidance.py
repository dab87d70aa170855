"""Language guidance (Roth, Vinyals and Akata, "Integrating Language Guidance into Vision-based Deep Metric
Learning", CVPR 2022): a KL term that pulls the batch's image similarities towards the similarities of the classes'
names in a pretrained language model. Added to any base loss with `--language_distill_w w` (0 = off).

Class names. Expert guidance embeds each training class's readable name (`Split.readable_names`: CUB folder names
without number and underscores, Cars folder names, the SOP super-class, the emoji short name) as
"a photo of a {name}": language embeddings of shape C x 1 x d. Pseudo-label guidance (`--language_pseudoclass`)
runs the pretrained backbone's own ImageNet-1k classifier over the training set with the evaluation transform,
averages the logits (not the softmax, as the paper's code does) per class and embeds "a photo of a {name}" for each
of the top-k ImageNet names of every class: C x k x d. The names are saved in the run folder
(language_class_names.json) and ten classes' are logged.

The term, for a batch with embeddings x, labels y and per-class language embeddings L (`language_kl`):
  S_lang[i, j]  = mean_r cos(L[y_i, r], L[y_j, r]) + shift   (the r-th name of one class against the r-th of the other)
  S_img[i, j]   = <x_i, x_j>
  both set to 1 + shift where y_i == y_j (the diagonal included), so same-class pairs carry no signal;
  P = softmax_rows(S_img / T), Q = softmax_rows(S_lang / T)
  backward (default): KL(P || Q) = sum_ij P_ij (log P_ij - log Q_ij);  forward: KL(Q || P)
  term = KL * T^2 / B, and Q carries no gradient.
"backward" and "forward" follow the paper's code, whose kl_div(A, B) computes KL(softmax B || softmax A).

Where we depart from the paper's code, and why:
  - pseudo-labels come from the run's own backbone classifier (the paper always uses a ResNet-50 from
    pretrainedmodels, which is the same network for its resnet50 runs) at the run's evaluation transform (the paper
    re-crops at 299 px), so no second network or image size is needed;
  - `--language_delay n` leaves exactly the first n optimiser steps without the term (the paper's counter starts it
    at step n, i.e. after n - 1 steps); the step count is the run's, so it is exact across --resume;
  - the ImageNet names are torchvision's (unique, e.g. "crane bird" vs "crane") rather than the first WordNet lemma;
  - the default language model is MiniLM (offline, see language_models.py); the paper's CLIP needs local weights.

Language embeddings are computed once, before training, cached in the run folder (language_embeddings.pt), reused
on --resume without loading any language model, and the language model is freed before training starts.
"""
import gc
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from regularisers import REGISTRY
from regularisers.base import Regulariser
from utilities.argtypes import finite_float, nonnegative_float, nonnegative_int, positive_float, positive_int
from utilities.errors import ConfigError

PROMPT = "a photo of a {}"
DIRECTIONS = ("backward", "forward")
LANGUAGE_MODEL_CHOICES = ("minilm", "clip", "bert")
IMAGENET_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")
CACHE_FILE = "language_embeddings.pt"
NAMES_FILE = "language_class_names.json"
CLASSES_LOGGED = 10


def language_kl(embeddings, labels, language_embeds, shift=1.0, temperature=1.0, direction="backward"):
    """The language-guidance term of one batch (see the module docstring).

    embeddings: B x D image embeddings; labels: B class ids indexing language_embeds (C x k x d);
    returns a scalar whose gradient reaches only the embeddings.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    names = F.normalize(language_embeds[labels].detach().to(embeddings.dtype), dim=-1)
    language_sims = torch.einsum("ikd,jkd->ij", names, names) / names.shape[1] + shift
    same_class = labels[:, None] == labels[None, :]
    same_value = 1.0 + shift
    log_q = F.log_softmax(language_sims.masked_fill(same_class, same_value) / temperature, dim=1)
    log_p = F.log_softmax((embeddings @ embeddings.T).masked_fill(same_class, same_value) / temperature, dim=1)
    if direction == "backward":
        kl = (log_p.exp() * (log_p - log_q)).sum()
    else:
        kl = (log_q.exp() * (log_q - log_p)).sum()
    return kl * temperature ** 2 / embeddings.shape[0]


def imagenet_class_names():
    lines = IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def class_topk(logits, labels, num_classes, topk):
    """C x topk indices of the largest class-mean logits, in decreasing order (ties: the lower index first)."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    counts = torch.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"classes {torch.nonzero(counts == 0).flatten().tolist()} have no images to pseudo-label")
    sums = torch.zeros(num_classes, logits.shape[1], dtype=torch.float64).index_add_(0, labels, logits)
    means = sums / counts[:, None]
    # A stable sort of the negated means keeps equal means in index order.
    return torch.sort(-means, dim=1, stable=True).indices[:, :topk]


def pseudo_class_names(logits, labels, num_classes, topk, names):
    """Per class, the names of its top-k ImageNet classes by mean logit: C lists of k strings."""
    return [[names[int(i)] for i in row] for row in class_topk(logits, labels, num_classes, topk)]


@REGISTRY.register("language")
class LanguageGuidance(Regulariser):
    WEIGHT_OPTION = "language_distill_w"

    @staticmethod
    def add_arguments(group):
        group.add_argument("--language_distill_w", default=0.0, type=nonnegative_float,
                           help="Weight of language guidance (0 = off). The paper uses 7.5 (CUB, 128-d).")
        group.add_argument("--language_model", default="minilm", choices=LANGUAGE_MODEL_CHOICES,
                           help="Text encoder: minilm (ships with the requirements), clip (the paper's ViT-B/32) or "
                                "bert; clip and bert need their weights on disk (see --language_model_path).")
        group.add_argument("--language_model_path", default="",
                           help="Folder with the clip or bert weights in Hugging Face format; default: the Hugging "
                                "Face hub cache.")
        group.add_argument("--language_delay", default=0, type=nonnegative_int,
                           help="Optimiser steps trained without the term before it starts.")
        group.add_argument("--language_pseudoclass", action="store_true",
                           help="Pseudo-label guidance: the top-k ImageNet class names of each class, from the "
                                "backbone's own ImageNet classifier, instead of the class names.")
        group.add_argument("--language_pseudoclass_topk", default=5, type=positive_int,
                           help="ImageNet names per class for pseudo-label guidance.")
        group.add_argument("--language_shift", default=1.0, type=finite_float,
                           help="Added to the language similarities; same-class pairs are set to 1 + shift.")
        group.add_argument("--language_distill_dir", default="backward", choices=DIRECTIONS,
                           help="backward: KL(image || language); forward: KL(language || image).")
        group.add_argument("--language_temp", default=1.0, type=positive_float,
                           help="Temperature of both softmaxes; the term is scaled by its square.")

    def __init__(self, opt, num_classes, embed_dim):
        super().__init__()
        if opt.language_pseudoclass and opt.not_pretrained:
            raise ConfigError("--language_pseudoclass reads pseudo-labels from the backbone's pretrained ImageNet "
                              "classifier, which --not_pretrained leaves random: drop --not_pretrained, or drop "
                              "--language_pseudoclass for guidance by the class names.")
        self.num_classes = num_classes
        self.language_model = opt.language_model
        self.language_model_path = opt.language_model_path
        self.pseudoclass = opt.language_pseudoclass
        self.topk = opt.language_pseudoclass_topk if opt.language_pseudoclass else 1
        self.delay = opt.language_delay
        self.shift = opt.language_shift
        self.direction = opt.language_distill_dir
        self.temperature = opt.language_temp
        self.steps_done = 0
        self.register_buffer("language_embeds", torch.empty(0), persistent=False)

    def cache_key(self):
        """What the cached embeddings depend on; a cache made with other settings is refused."""
        return {"language_model": self.language_model, "pseudoclass": self.pseudoclass, "topk": self.topk,
                "num_classes": self.num_classes}

    # ---- hooks ----
    def setup(self, ctx):
        cache = os.path.join(ctx.run_dir, CACHE_FILE)
        if os.path.isfile(cache):
            saved = torch.load(cache, map_location="cpu")
            if saved["key"] != self.cache_key():
                raise ConfigError(f"{cache} was made with {saved['key']}, but this run asks for {self.cache_key()}; "
                                  f"delete the file to recompute the language embeddings.")
            ctx.logger.info("Language guidance: reusing the language embeddings in %s.", cache)
            embeds = saved["embeddings"]
        else:
            embeds = self.compute(ctx, cache)
        self.language_embeds = embeds.to(ctx.device)

    def compute(self, ctx, cache):
        from regularisers.language_models import load_text_encoder, locate
        from utilities.checkpoint import serialise, write_atomic
        locate(self.language_model, self.language_model_path)  # fail before the slow pseudo-labelling
        class_names = self.pseudo_class_names(ctx) if self.pseudoclass else self.expert_names(ctx)
        self.save_names(ctx, class_names)
        encoder = load_text_encoder(self.language_model, ctx.device, self.language_model_path)
        unique = sorted({name for names in class_names for name in names})
        vectors = dict(zip(unique, encoder.encode([PROMPT.format(name) for name in unique])))
        del encoder
        gc.collect()
        embeds = torch.stack([torch.stack([vectors[name] for name in names]) for names in class_names])
        write_atomic(cache, serialise({"key": self.cache_key(), "class_names": class_names, "embeddings": embeds}))
        ctx.logger.info("Language guidance: %d %s-d language embeddings of %d distinct names (%s), cached in %s.",
                        embeds.shape[0] * embeds.shape[1], embeds.shape[2], len(unique), self.language_model, cache)
        return embeds

    def expert_names(self, ctx):
        names = ctx.train_split.readable_names
        if names is None:
            raise ConfigError(f"Expert language guidance needs readable class names, and the {ctx.options.dataset} "
                              f"classes have none (they are item ids). Use --language_pseudoclass.")
        return [[name] for name in names]

    def pseudo_class_names(self, ctx):
        if not getattr(ctx.model, "imagenet_logits", False):
            raise ConfigError(f"--language_pseudoclass needs a backbone with a trained ImageNet-1k classifier; "
                              f"{ctx.options.arch} (pretrained: {not ctx.options.not_pretrained}) has none.")
        outputs, labels = ctx.embed(ctx.train_split, keys=("logits",))
        ctx.logger.info("Language guidance: pseudo-labelled %d training images with the ImageNet classifier.",
                        len(labels))
        return pseudo_class_names(outputs["logits"], labels, self.num_classes, self.topk, imagenet_class_names())

    def save_names(self, ctx, class_names):
        readable = ctx.train_split.readable_names or ctx.train_split.class_names
        table = [{"class": str(readable[c]), "names": names} for c, names in enumerate(class_names)]
        with open(os.path.join(ctx.run_dir, NAMES_FILE), "w", encoding="utf-8") as f:
            json.dump({"prompt": PROMPT, "pseudoclass": self.pseudoclass, "classes": table}, f, indent=1)
        # Classes spread over the label range: neighbouring labels are often alike (e.g. ten smiley emoji).
        shown = sorted({round(i * (len(table) - 1) / max(CLASSES_LOGGED - 1, 1)) for i in range(CLASSES_LOGGED)})
        for c in shown:
            ctx.logger.info("Language guidance: %s -> %s", table[c]["class"], ", ".join(table[c]["names"]))

    def on_epoch_start(self, ctx):
        self.steps_done = ctx.step

    def on_step_end(self, ctx):
        self.steps_done = ctx.step

    def forward(self, embeddings, labels):
        if self.steps_done < self.delay:
            return embeddings.new_zeros(())
        return language_kl(embeddings, labels, self.language_embeds, self.shift, self.temperature, self.direction)
