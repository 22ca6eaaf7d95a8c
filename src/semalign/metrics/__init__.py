"""Metrics: similarity of latent spaces (``space``); classification metrics live beside it.

numpy/scipy only; torch tensors are accepted and converted on entry.
"""

from semalign.metrics.space import (
    knn_jaccard,
    linear_cka,
    mean_cosine,
    mse,
    retrieval_ranks,
    retrieval_scores,
    space_report,
)

__all__ = [
    "knn_jaccard",
    "linear_cka",
    "mean_cosine",
    "mse",
    "retrieval_ranks",
    "retrieval_scores",
    "space_report",
]
