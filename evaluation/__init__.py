"""Evaluation: embed a dataset with a model, then compute requested metrics (definitions live in metrics/).

    outputs, labels = embed(model, loader, device, keys=("embeds",)); embeddings = outputs["embeds"]
    results = evaluate(["e_recall@1", "nmi", "mAP_R"], embeddings, labels)        # same-set protocol
    results = evaluate(names, query_embeddings, query_labels, gallery_embeddings, gallery_labels)
    # --evaluate_on_gpu: the embeddings stay on the run's CUDA device and are searched and clustered there
    device = evaluation_device(opt.evaluate_on_gpu, run_device)   # None (CPU path, one warning) off CUDA
    outputs, labels = embed(model, loader, run_device, on_device=device is not None)
    results = evaluate(names, outputs["embeds"], labels, device=device, memory_mb=opt.eval_memory_mb)
    check_metric_names(names)    # at startup: ConfigError listing valid metrics for unknown names
    parse_metric_name("e_recall@4") == ("e_recall", 4)
    default_metrics((1, 10, 100, 1000))   # Roth's default --evaluation_metrics for these recall ks, plus mAP_R
    DEFAULT_STORAGE_METRICS               # ["e_recall@1", "mAP_R"]
"""
from evaluation.device_search import evaluation_device
from evaluation.embedding import embed
from evaluation.evaluator import evaluate
from metrics import DEFAULT_STORAGE_METRICS, check_metric_names, default_metrics, parse_metric_name

__all__ = ["DEFAULT_STORAGE_METRICS", "check_metric_names", "default_metrics", "embed", "evaluate",
           "evaluation_device", "parse_metric_name"]
