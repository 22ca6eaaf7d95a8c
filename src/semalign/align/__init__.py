"""The mathematics of latent-space alignment: numpy/scipy only, accepts torch tensors too.

>>> from semalign.align import Aligner
>>> aligner = Aligner(method="orthogonal", scaling="standard").fit(X_anchors, Y_anchors)
>>> Y_hat = aligner.transform(X_test)          # (m, d_t), in the target's own units
"""

from semalign.align.aligner import (
    Aligner,
    ConvergenceWarning,
    NotFittedError,
    anchor_rank,
    load_aligner,
    min_anchors,
    rank_problem,
)
from semalign.align.anchors import ANCHOR_STRATEGIES, select_anchors
from semalign.align.estimators import METHODS
from semalign.align.io import read_metadata
from semalign.align.preprocessing import SCALINGS, Scaler
from semalign.align.rank import needed_rank, rank_tolerance
from semalign.align.sweep import AnchorSet

__all__ = [
    "ANCHOR_STRATEGIES",
    "METHODS",
    "SCALINGS",
    "Aligner",
    "AnchorSet",
    "ConvergenceWarning",
    "NotFittedError",
    "Scaler",
    "anchor_rank",
    "load_aligner",
    "min_anchors",
    "needed_rank",
    "rank_problem",
    "rank_tolerance",
    "read_metadata",
    "select_anchors",
]
