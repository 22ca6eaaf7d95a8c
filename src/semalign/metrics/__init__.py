"""Metrics: similarity of latent spaces (``space``) and classification metrics with CIs.

numpy/scipy only; torch tensors are accepted and converted on entry.
"""

from semalign.metrics.classification import (
    Estimate,
    accuracy,
    average_precision,
    binary_auroc,
    bootstrap_ci,
    class_log_odds,
    classification_report,
    macro_auprc,
    macro_auroc,
    macro_f1,
    mask_labels,
    multiclass_auroc,
    multilabel_macro_f1,
    per_label_auprc,
    per_label_auroc,
)
from semalign.metrics.space import (
    knn_jaccard,
    linear_cka,
    mean_cosine,
    mse,
    retrieval_outcome,
    retrieval_ranks,
    retrieval_scores,
    space_report,
    text_groups,
)

__all__ = [
    "Estimate",
    "accuracy",
    "average_precision",
    "binary_auroc",
    "bootstrap_ci",
    "class_log_odds",
    "classification_report",
    "knn_jaccard",
    "linear_cka",
    "macro_auprc",
    "macro_auroc",
    "macro_f1",
    "mask_labels",
    "mean_cosine",
    "mse",
    "multiclass_auroc",
    "multilabel_macro_f1",
    "per_label_auprc",
    "per_label_auroc",
    "retrieval_outcome",
    "retrieval_ranks",
    "retrieval_scores",
    "space_report",
    "text_groups",
]
