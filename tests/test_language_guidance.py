"""Language guidance (issue 8): the KL term, pseudo-labels, the text encoders, and the term inside training."""
import contextlib
import csv
import json
import logging
import math
import os
import shlex
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import criteria
import evaluation
import main
import parameters
from architectures.base import Backbone, EmbeddingModel
from datasampler import select as select_sampler
from datasets.base import Split, build_transform, collate_skipping, evaluation_loader
from regularisers import language_models
from regularisers.language_guidance import (CACHE_FILE, NAMES_FILE, PROMPT, LanguageGuidance, class_topk,
                                            imagenet_class_names, language_kl)
from tests.helpers import Killed, killed_at_commit, options, script_commands
from tests.test_main import tiny_run_flags
from tests.tiny_training import FeatureItems, TinyModel, synthetic_features
from utilities.errors import ConfigError
from utilities.hooks import HookContext, ReadOnlyOptions
from utilities.optimizers import MAIN, NamedOptimizers, OptimizerSpec
from utilities.training import Run, TrainingSteps, resolve_batchminer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- the term ----

def softmax_row(values, temperature):
    exps = [math.exp(v / temperature) for v in values]
    return [e / sum(exps) for e in exps]


def kl_by_hand(embeddings, labels, language, shift, temperature, direction):
    """The term written out entry by entry, with Python floats."""
    n = len(labels)
    total = 0.0
    for i in range(n):
        image_row, language_row = [], []
        for j in range(n):
            if labels[i] == labels[j]:
                image_row.append(1 + shift)
                language_row.append(1 + shift)
                continue
            image_row.append(sum(a * b for a, b in zip(embeddings[i], embeddings[j])))
            cosines = []
            for a, b in zip(language[labels[i]], language[labels[j]]):
                cosines.append(sum(x * y for x, y in zip(a, b)) / math.hypot(*a) / math.hypot(*b))
            language_row.append(sum(cosines) / len(cosines) + shift)
        p, q = softmax_row(image_row, temperature), softmax_row(language_row, temperature)
        if direction == "forward":
            p, q = q, p
        total += sum(pj * math.log(pj / qj) for pj, qj in zip(p, q))
    return total * temperature ** 2 / n


EMBEDDINGS = [[0.6, 0.8], [1.0, 0.0], [0.0, -1.0], [-0.8, 0.6]]
LABELS = [0, 0, 1, 2]
LANGUAGE = [[[1.0, 0.0], [0.0, 2.0]],     # class 0: two names (k = 2), 2-d
            [[1.0, 1.0], [3.0, 1.0]],     # class 1
            [[-1.0, 0.5], [0.5, 0.5]]]    # class 2


@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_language_kl_equals_the_hand_computation(direction):
    value = language_kl(torch.tensor(EMBEDDINGS, dtype=torch.float64), torch.tensor(LABELS),
                        torch.tensor(LANGUAGE, dtype=torch.float64), shift=1.0, temperature=0.5, direction=direction)
    expected = kl_by_hand(EMBEDDINGS, LABELS, LANGUAGE, 1.0, 0.5, direction)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    assert expected > 0.01


def test_directions_follow_the_papers_kl_div_argument_order():
    """The paper's kl_div(A, B) is F.kl_div(log_softmax(A), softmax(B)) = KL(B || A): backward passes
    (language, image), forward (image, language)."""
    x, y, lang = torch.tensor(EMBEDDINGS, dtype=torch.float64), torch.tensor(LABELS), torch.tensor(LANGUAGE).double()
    same = y[:, None] == y[None, :]
    names = F.normalize(lang[y], dim=-1)
    language_sims = torch.einsum("ikd,jkd->ijk", names, names).mean(-1) + 1.0
    image_sims = x @ x.T

    def papers_kl(a, b):
        return F.kl_div(F.log_softmax(a.masked_fill(same, 2.0), 1), F.softmax(b.masked_fill(same, 2.0), 1),
                        reduction="sum") / len(y)

    assert language_kl(x, y, lang, direction="backward").item() == pytest.approx(
        papers_kl(language_sims, image_sims).item(), rel=1e-12)
    assert language_kl(x, y, lang, direction="forward").item() == pytest.approx(
        papers_kl(image_sims, language_sims).item(), rel=1e-12)


def test_gradient_reaches_the_embeddings_only_and_matches_finite_differences():
    x = torch.tensor(EMBEDDINGS, dtype=torch.float64, requires_grad=True)
    lang = torch.tensor(LANGUAGE, dtype=torch.float64, requires_grad=True)
    language_kl(x, torch.tensor(LABELS), lang).backward()
    assert lang.grad is None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda e: language_kl(e, torch.tensor(LABELS), lang.detach(), 1.0, 0.7),
                                    (x.detach().clone().requires_grad_(True),))


def test_is_zero_when_image_and_language_similarities_agree():
    generator = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(6, 5, generator=generator, dtype=torch.float64), dim=1)
    labels = torch.arange(6)
    # One name per class whose embedding is the image embedding: cosine == dot product, and shift 0.
    assert language_kl(x, labels, x[:, None, :], shift=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert language_kl(x, labels, x.flip(0)[:, None, :], shift=0.0).item() > 1e-3


def test_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="backward, forward"):
        language_kl(torch.zeros(2, 2), torch.tensor([0, 1]), torch.zeros(2, 1, 2), direction="sideways")


# ---- pseudo-labels ----

def test_class_topk_ranks_mean_logits_not_mean_softmax_and_breaks_ties_by_index():
    # Class 0: logits average to [2, 1.5, 0, 0]; averaging softmaxes would rank entry 1 first (one confident image).
    logits = torch.tensor([[4.0, -10.0, 0.0, 0.0], [0.0, 13.0, 0.0, 0.0],
                           [1.0, 1.0, 3.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    assert class_topk(logits, labels, 2, 3).tolist() == [[0, 1, 2], [2, 0, 1]]
    assert F.softmax(logits[:2], 1).mean(0).argmax().item() == 1
    with pytest.raises(ValueError, match=r"classes \[2\] have no images"):
        class_topk(logits, labels, 3, 1)


def test_the_shipped_imagenet_names_are_the_1000_classes_in_index_order():
    names = imagenet_class_names()
    assert len(names) == len(set(names)) == 1000
    assert (names[0], names[1], names[207], names[999]) == ("tench", "goldfish", "golden retriever", "toilet tissue")


class ColourBackbone(Backbone):
    """A 'pretrained classifier' whose answer is known: the mean colour of an image scores ImageNet classes."""
    MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)

    def __init__(self, scores):
        super().__init__()
        self.feature_dim = 3
        self.classifier = torch.nn.Linear(3, 1000, bias=False)
        with torch.no_grad():
            self.classifier.weight.zero_()
            for index, rgb_weights in scores.items():
                self.classifier.weight[index] = torch.tensor(rgb_weights)

    def forward(self, x):
        return [x]


def colour_split(root, colours, per_class=3):
    paths, labels = [], []
    for label, colour in enumerate(colours):
        for k in range(per_class):
            path = root / f"{label}_{k}.jpg"
            Image.new("RGB", (16, 16), colour).save(path)
            paths.append(path)
            labels.append(label)
    return Split("train", paths, labels, [f"c{i}" for i in range(len(colours))], [f"colour {i}" for i in
                                                                                  range(len(colours))])


def hook_context(model, split, run_dir, *flags):
    opt = options(*flags)
    loader_options = SimpleNamespace(bs=8, num_workers=0, skip_unreadable_images=False)

    def embed(data, keys=None):
        loader = evaluation_loader(data, build_transform(False, 16), loader_options, torch.device("cpu"))
        return evaluation.embed(model, loader, "cpu", keys=keys or ("embeds",))

    context = HookContext(options=ReadOnlyOptions(opt), model=model, sampler=None, train_split=split,
                          device=torch.device("cpu"), run_dir=str(run_dir), logger=logging.getLogger(),
                          embed=embed)
    return opt, context


class RecordingEncoder:
    """Stands for a text encoder: a fixed vector per text, and a record of what it was asked."""
    texts = []

    def encode(self, texts):
        RecordingEncoder.texts.extend(texts)
        return torch.stack([torch.tensor([float(len(t)), float(sum(map(ord, t)) % 7), 1.0]) for t in texts])


@pytest.fixture
def recording_encoder(monkeypatch):
    RecordingEncoder.texts = []
    monkeypatch.setattr(language_models, "load_text_encoder", lambda name, device, path=None: RecordingEncoder())
    return RecordingEncoder


def test_pseudo_labels_of_a_tiny_dataset_come_from_the_classifiers_known_answer(tmp_path, recording_encoder):
    # Red images score goldfish (1) > tench (0) > jellyfish (107); blue ones jellyfish > tench > goldfish.
    scores = {1: [3.0, 0.0, 0.0], 0: [2.0, 0.0, 1.0], 107: [1.0, 0.0, 3.0]}
    model = EmbeddingModel(ColourBackbone(scores), 4, True, False, "colour", pretrained=True)
    split = colour_split(tmp_path, [(255, 0, 0), (0, 0, 255)])
    opt, ctx = hook_context(model, split, tmp_path, "--language_distill_w", "1", "--language_pseudoclass",
                            "--language_pseudoclass_topk", "3")
    term = LanguageGuidance(opt, num_classes=2, embed_dim=4)
    term.setup(ctx)
    cached = torch.load(tmp_path / CACHE_FILE)
    assert cached["class_names"] == [["goldfish", "tench", "jellyfish"], ["jellyfish", "tench", "goldfish"]]
    assert sorted(recording_encoder.texts) == sorted(PROMPT.format(n) for n in ["goldfish", "tench", "jellyfish"])
    assert term.language_embeds.shape == (2, 3, 3)
    assert torch.equal(term.language_embeds[1, 0], RecordingEncoder().encode(["a photo of a jellyfish"])[0])
    saved = json.loads((tmp_path / NAMES_FILE).read_text())
    assert saved["classes"][0] == {"class": "colour 0", "names": ["goldfish", "tench", "jellyfish"]}


def test_expert_guidance_embeds_the_readable_class_names(tmp_path, recording_encoder):
    model = EmbeddingModel(ColourBackbone({}), 4, True, False, "colour", pretrained=False)
    split = colour_split(tmp_path, [(255, 0, 0), (0, 255, 0)])
    opt, ctx = hook_context(model, split, tmp_path, "--language_distill_w", "1")
    term = LanguageGuidance(opt, num_classes=2, embed_dim=4)
    term.setup(ctx)
    assert recording_encoder.texts == ["a photo of a colour 0", "a photo of a colour 1"]
    assert term.language_embeds.shape == (2, 1, 3)


def test_pseudo_labels_need_a_trained_imagenet_classifier(tmp_path, recording_encoder):
    with pytest.raises(ConfigError, match="--not_pretrained leaves random"):
        LanguageGuidance(options("--language_distill_w", "1", "--language_pseudoclass", "--not_pretrained"), 2, 4)
    model = EmbeddingModel(ColourBackbone({}), 4, True, False, "colour", pretrained=False)
    opt, ctx = hook_context(model, colour_split(tmp_path, [(1, 2, 3), (4, 5, 6)]), tmp_path,
                            "--language_distill_w", "1", "--language_pseudoclass")
    with pytest.raises(ConfigError, match="trained ImageNet-1k classifier"):
        LanguageGuidance(opt, 2, 4).setup(ctx)
    assert not os.path.exists(tmp_path / CACHE_FILE)


def test_expert_guidance_on_classes_without_readable_names_is_refused(tmp_path, recording_encoder):
    model = EmbeddingModel(ColourBackbone({}), 4, True, False, "colour")
    split = colour_split(tmp_path, [(1, 2, 3), (4, 5, 6)])
    split.readable_names = None
    opt, ctx = hook_context(model, split, tmp_path, "--language_distill_w", "1")
    with pytest.raises(ConfigError, match="Use --language_pseudoclass"):
        LanguageGuidance(opt, 2, 4).setup(ctx)


def test_a_cache_made_with_other_settings_is_refused(tmp_path, recording_encoder):
    model = EmbeddingModel(ColourBackbone({}), 4, True, False, "colour")
    split = colour_split(tmp_path, [(1, 2, 3), (4, 5, 6)])
    opt, ctx = hook_context(model, split, tmp_path, "--language_distill_w", "1")
    LanguageGuidance(opt, 2, 4).setup(ctx)
    opt, ctx = hook_context(model, split, tmp_path, "--language_distill_w", "1", "--language_model",
                            "bert")
    with pytest.raises(ConfigError, match="delete the file"):
        LanguageGuidance(opt, 2, 4).setup(ctx)


def test_readable_names_of_the_benchmarks():
    from datasets.cub200 import readable_name
    from datasets.online_products import readable_super_class
    assert readable_name("001.Black_footed_Albatross") == "Black footed Albatross"
    assert readable_super_class("coffee_maker_final/111_0.JPG") == "coffee maker"
    split = Split("s", ["a", "b", "c"], [0, 1, 1], ["x", "y"], ["ex", "why"]).select_classes("t", [1])
    assert (split.class_names, split.readable_names) == (["y"], ["why"])


# ---- the text encoders ----

@pytest.mark.slow
def test_minilm_loads_offline_from_the_repository_root_despite_the_local_datasets_package(tmp_path):
    """Our datasets/ shadows Hugging Face's `datasets`; make transformers believe the real one is installed too."""
    fake_site = tmp_path / "site"
    (fake_site / "datasets-3.0.0.dist-info").mkdir(parents=True)
    (fake_site / "datasets-3.0.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: datasets\n"
                                                                      "Version: 3.0.0\n")
    script = ("import torch\nfrom regularisers.language_models import load_text_encoder\n"
              "e = load_text_encoder('minilm', 'cpu')\n"
              "v = torch.nn.functional.normalize(e.encode(['a photo of a golden retriever', "
              "'a photo of a labrador retriever', 'a photo of a sports car']), dim=1)\n"
              "print(v.shape[1], float(v[0] @ v[1]), float(v[0] @ v[2]))\n")
    env = {**os.environ, "PYTHONPATH": str(fake_site), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    dim, dogs, dog_car = done.stdout.split()[-3:]
    assert int(dim) == 384 and float(dogs) > float(dog_car) + 0.2


def test_clip_and_bert_without_local_weights_stop_with_the_path_and_the_offline_alternative(tmp_path, monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for name, hub_name in [("clip", "models--openai--clip-vit-base-patch32"), ("bert", "models--bert-base-uncased")]:
        with pytest.raises(ConfigError) as error:
            language_models.locate(name)
        assert str(tmp_path / "hub" / hub_name) in str(error.value) and "--language_model minilm" in str(error.value)
    with pytest.raises(ConfigError, match="holds no config.json"):
        language_models.locate("bert", str(tmp_path))


def test_bert_and_clip_load_from_a_local_folder(tmp_path):
    """Tiny random models in Hugging Face format stand for the real weights: the loading and pooling paths run."""
    import transformers
    minilm = language_models.minilm_path()
    bert_dir = tmp_path / "bert"
    transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=37)).save_pretrained(bert_dir)
    transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(bert_dir)  # the same uncased BERT vocabulary
    vectors = language_models.load_text_encoder("bert", "cpu", str(bert_dir)).encode(["a photo of a cat", "a dog"])
    assert vectors.shape == (2, 32) and torch.isfinite(vectors).all()

    clip_dir = tmp_path / "clip"
    clip_dir.mkdir()
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {token: i for i, token in enumerate(letters + [c + "</w>" for c in letters] +
                                                 ["<|startoftext|>", "<|endoftext|>"])}
    (clip_dir / "vocab.json").write_text(json.dumps(vocab))
    (clip_dir / "merges.txt").write_text("#version: 0.2\n")
    transformers.CLIPTokenizer(str(clip_dir / "vocab.json"), str(clip_dir / "merges.txt")).save_pretrained(clip_dir)
    config = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                         num_hidden_layers=1, num_attention_heads=2, projection_dim=24,
                                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"])
    transformers.CLIPTextModelWithProjection(config).save_pretrained(clip_dir)
    vectors = language_models.load_text_encoder("clip", "cpu", str(clip_dir)).encode(["a photo of a cat", "a dog"])
    assert vectors.shape == (2, 24) and torch.isfinite(vectors).all()


# ---- inside training ----

def train_synthetic(*flags, steps=12):
    """Steps of multisimilarity (+ language guidance with fixed random class-name embeddings) on synthetic features;
    returns the final parameters and the language term's value at every step."""
    opt = options("--bs", "32", "--samples_per_class", "4", "--decay", "0", *flags)
    torch.manual_seed(0)
    features, labels = synthetic_features(16, 12, seed=0)
    model = TinyModel()
    objective = criteria.build_objective(opt, num_classes=16, embed_dim=16, batchminer=resolve_batchminer(opt))
    if "language" in objective.terms:
        objective.terms["language"].language_embeds = torch.randn(16, 5, 8, generator=torch.Generator()
                                                                  .manual_seed(1))
    optimizers = NamedOptimizers([{"params": list(model.parameters()), "lr": 3e-3, "name": "model"}],
                                 {MAIN: OptimizerSpec(kind="adam")})
    sampler = select_sampler("class_random", opt, labels.numpy())
    loader = torch.utils.data.DataLoader(FeatureItems(features, labels), batch_sampler=sampler,
                                         collate_fn=collate_skipping)
    loop = TrainingSteps(model, objective, optimizers, torch.amp.GradScaler("cuda", enabled=False),
                         torch.device("cpu"))
    context, term_values = SimpleNamespace(step=0, epoch=0), []
    original_step_end = objective.on_step_end

    def record(ctx):
        term_values.append(objective.last_values.get("loss_language", torch.tensor(float("nan"))).item())
        original_step_end(ctx)

    objective.on_step_end = record
    while context.step < steps:
        sampler.set_epoch(context.epoch + 1)
        context.epoch += 1
        objective.on_epoch_start(context)
        loop.run(loader, context)
    return [p.detach().clone() for p in model.parameters()], term_values


def test_weight_zero_and_a_delay_beyond_the_run_train_bit_identically_to_the_base_loss():
    base, _ = train_synthetic()
    for flags in [("--language_distill_w", "0"), ("--language_distill_w", "7.5", "--language_delay", "1000")]:
        params, _ = train_synthetic(*flags)
        assert all(torch.equal(a, b) for a, b in zip(base, params)), flags
    guided, _ = train_synthetic("--language_distill_w", "7.5")
    assert not all(torch.equal(a, b) for a, b in zip(base, guided))


def test_the_delay_leaves_exactly_that_many_steps_without_the_term():
    _, values = train_synthetic("--language_distill_w", "7.5", "--language_delay", "5", steps=12)
    assert len(values) == 12
    assert values[:5] == [0.0] * 5 and all(v > 0 for v in values[5:])


@pytest.mark.slow
def test_language_embeddings_are_cached_and_reused_on_resume_without_a_language_model(source, tmp_path,
                                                                                        monkeypatch):
    """Expert guidance with the real MiniLM on the tiny CUB tree; a run killed in epoch 2 resumes from the cache
    (loading a language model would fail) to the result of an uninterrupted run."""
    flags = tiny_run_flags(source, tmp_path / "a", "--no_train_metrics", "--language_distill_w", "5", epochs=2)
    assert main.main(flags) == 0
    uninterrupted = tmp_path / "a" / "cub200" / "tiny_s0"
    cached = torch.load(uninterrupted / CACHE_FILE)
    assert cached["class_names"] == [["Bird 1"], ["Bird 2"], ["Bird 3"], ["Bird 4"]]
    with open(uninterrupted / "train.csv") as f:
        assert all(float(row["loss_language"]) > 0 for row in csv.DictReader(f))

    opt = parameters.parse_args(tiny_run_flags(source, tmp_path / "b", "--no_train_metrics",
                                               "--language_distill_w", "5", epochs=2))
    opt.group = "tiny"
    run = Run(opt)
    with killed_at_commit(2):
        with contextlib.suppress(Killed):
            run.start()
            run.run()
    run.close()

    def no_language_model(*args, **kwargs):
        raise AssertionError("the language model was loaded again on resume")

    monkeypatch.setattr(language_models, "load_text_encoder", no_language_model)
    assert main.main(["--resume", run.run_dir]) == 0
    for table in ["test_embeds.csv", "train.csv"]:
        assert rows(uninterrupted / table) == rows(os.path.join(run.run_dir, table)), table


def rows(path):
    with open(path) as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


# ---- the recipes ----

@pytest.mark.parametrize("script, count", [("language_guidance_benchmarks.sh", 8), ("language_guidance_emoji.sh", 3)])
def test_the_language_guidance_scripts_parse_and_pass_the_option_checks(script, count):
    commands = script_commands(script)
    assert len(commands) == count
    for argv in commands:
        opt = parameters.parse_args(argv)
        parameters.check_options(opt)
        assert (opt.language_distill_w > 0) == ("--language_distill_w" in argv)


def test_the_papers_readme_command_runs_as_written():
    argv = shlex.split("--seed 2 --log_online --group cub200-rn128_msim_pseudolang --no_train_metrics --project "
                       "LanguageGuidance --gpu 0 --source_path /data --dataset cub200 --n_epochs 100 --tau 100 "
                       "--gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 --loss multisimilarity --bs 90 "
                       "--language_distill_w 7.5 --language_pseudoclass")
    opt = parameters.parse_args(argv)
    parameters.check_options(opt)
    assert (opt.language_distill_w, opt.language_pseudoclass, opt.language_pseudoclass_topk, opt.language_shift,
            opt.language_distill_dir, opt.language_temp) == (7.5, True, 5, 1.0, "backward", 1.0)
