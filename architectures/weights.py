"""Loading pretrained weights from the local torch hub cache only: runs have no network, so never download."""
import logging
import os
from urllib.parse import urlparse

import torch

from utilities.errors import ConfigError

logger = logging.getLogger(__name__)


def cache_path(url):
    """Where torch.hub keeps the file for `url` (honours TORCH_HOME via torch.hub.get_dir())."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def load_cached_state_dict(url, arch):
    path = cache_path(url)
    if not os.path.isfile(path):
        raise ConfigError(
            f"Pretrained ImageNet weights for '{arch}' are not on disk and cannot be downloaded here. "
            f"Download {url} and put it at {path} (the folder follows TORCH_HOME), "
            f"or train from random initialisation with --not_pretrained."
        )
    logger.info("Loading ImageNet weights for %s from %s", arch, path)
    # The file exists, so this only reads it; no download is attempted.
    return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)


def load_into(module, state_dict, arch, source):
    """Strict load that turns a mismatching weights file into a user-facing error instead of a traceback."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ConfigError(f"The weights file {source} does not fit architecture '{arch}': {error}") from error
