"""Errors that mean "the user asked for something we cannot do".

main.py turns a ConfigError into a one-paragraph message and a non-zero exit instead of a traceback,
so every message must say what was wrong and what is expected.
"""


class ConfigError(Exception):
    """Bad flags, a missing or malformed dataset, unavailable weights, an impossible combination."""


class TrainingDiverged(ConfigError):
    """The loss or the embeddings stopped being finite: the message names the last good checkpoint."""
