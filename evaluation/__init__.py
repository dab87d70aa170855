"""Evaluation: embed a dataset with a model, then compute requested metrics (definitions live in metrics/).

    outputs, labels = embed(model, loader, device, keys=("embeds",)); embeddings = outputs["embeds"]
    results = evaluate(["e_recall@1", "nmi", "mAP_R"], embeddings, labels)        # same-set protocol
    results = evaluate(names, query_embeddings, query_labels, gallery_embeddings, gallery_labels)
    check_metric_names(names)    # at startup: ConfigError listing valid metrics for unknown names
    parse_metric_name("e_recall@4") == ("e_recall", 4)
"""
from evaluation.embedding import embed
from evaluation.evaluator import evaluate
from metrics import check_metric_names, parse_metric_name

__all__ = ["check_metric_names", "embed", "evaluate", "parse_metric_name"]
