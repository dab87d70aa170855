"""Evaluation metrics, requested by name as in Roth et al.'s framework: "e_recall@1", "nmi", "mAP_R", ...

A name is `base` or `base@param`; `base` picks a registered metric family (one file per family in this folder),
`param` (an int when it is all digits, else a string) is handed to the family's constructor, which validates it.

Metric families come in kinds that say which shared computation they consume (see metrics/base.py):
  - RetrievalMetric: per-query values from the query's ranked gallery neighbours; evaluation/ runs one kNN
    search per embedding space for all of them;
  - ClusteringMetric: a value from (labels, k-means assignment); evaluation/ runs one k-means per space.
Each family states its exact definition in its module docstring.
"""
import re

from utilities.errors import ConfigError
from utilities.registry import Registry

REGISTRY = Registry("metric", "metrics")

_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:@(.+))?$")


def parse_metric_name(name):
    """'e_recall@4' -> ('e_recall', 4); 'nmi' -> ('nmi', None); 'dists@intra' -> ('dists', 'intra')."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ConfigError(f"Malformed metric name {name!r}: expected 'name' or 'name@parameter'. {_valid_metrics()}")
    base, param = match.groups()
    if param is not None and param.isdigit():
        param = int(param)
    return base, param


def build_metric(name):
    """The metric object for one requested name; ConfigError for unknown names or bad parameters."""
    base, param = parse_metric_name(name)
    if base not in REGISTRY.names():
        raise ConfigError(f"Unknown metric {name!r}. {_valid_metrics()}")
    return REGISTRY.get(base)(name, param)


def check_metric_names(names):
    """Validate requested metric names at startup, so a typo fails before training rather than after."""
    if isinstance(names, str):
        raise ConfigError(f"Metric names must be a list of strings, got the single string {names!r}.")
    for name in names:
        build_metric(name)


def _valid_metrics():
    return "Valid metrics: " + ", ".join(family.usage for _, family in REGISTRY.items()) + "."
