"""Evaluation metrics, requested by name as in Roth et al.'s framework: "e_recall@1", "nmi", "mAP_R", ...

A name is `base` or `base@param`; `base` picks a registered metric family (one file per family in this folder),
`param` (an int when it is an optionally signed integer, else a string) is handed to the family's constructor,
which validates it. A `c_` prefix names the same metric computed with cosine similarity (on L2-normalised
embeddings) instead of Euclidean distance, where the family offers it.

Metric families come in kinds that say which shared computation they consume (see metrics/base.py):
  - RetrievalMetric: per-query values from the ranks of the query's relevant gallery items (and, when the family
    declares needs_distances, the distances to its first window() neighbours: logl@k); evaluation/ runs one kNN
    search per embedding space for all of them;
  - RankedEmbeddingMetric: one value, with its own aggregation, from those same ranks (the same search) and the
    query embeddings as given (norm_auroc: does the embedding norm predict recall@1?);
  - ClusteringMetric: a value from (labels, k-means assignment); evaluation/ runs one k-means per space;
  - EmbeddingMetric: a value from the embeddings and labels directly (dists@...);
  - SpectrumMetric: a value from the embeddings' singular values, computed once (rho_spectrum@...).
Each family states its exact definition in its module docstring.
"""
import re

from utilities.errors import ConfigError
from utilities.registry import Registry

REGISTRY = Registry("metric", "metrics")

_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:@(.+))?$")
_INT = re.compile(r"^-?[0-9]+$")

# Roth et al.'s default storage metric, plus MAP@R (Musgrave et al. 2020).
DEFAULT_STORAGE_METRICS = ["e_recall@1", "mAP_R"]


def default_metrics(recall_ks):
    """Roth et al.'s default --evaluation_metrics with the benchmark's recall@k list and MAP@R added.

    Roth's list is e_recall@1,2,4, nmi, f1, mAP_1000, mAP_lim, mAP_c, dists@intra, dists@inter,
    dists@intra_over_inter, rho_spectrum@0, -1, 1, 2, 10; rho_spectrum@0 (the whole normalised spectrum, a vector
    that Roth only logs as a W&B histogram) is left out because every metric here is a number.
    """
    return ([f"e_recall@{int(k)}" for k in recall_ks]
            + ["nmi", "f1", "mAP_1000", "mAP_lim", "mAP_c", "mAP_R",
               "dists@intra", "dists@inter", "dists@intra_over_inter",
               "rho_spectrum@-1", "rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@10"])


def parse_metric_name(name):
    """'e_recall@4' -> ('e_recall', 4); 'nmi' -> ('nmi', None); 'dists@intra' -> ('dists', 'intra');
    'rho_spectrum@-1' -> ('rho_spectrum', -1)."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ConfigError(f"Malformed metric name {name!r}: expected 'name' or 'name@parameter'. {_valid_metrics()}")
    base, param = match.groups()
    if param is not None and _INT.match(param):
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
