"""Numerical rank of anchors: how many source directions the anchors actually determine.

Rule (one tolerance everywhere): the rank of the preprocessed source anchors Z (n, d) is the
number of singular values ``sigma_i > d * eps32 * sigma_max``, with ``eps32`` the float32
machine epsilon (1.19e-7): embeddings are float32, so directions weaker than that are rounding
noise, e.g. between two encodings of the same text. The singular values come from the
eigenvalues of ``Z^T Z`` (so streaming fits apply the same rule from their moments); those are
accurate to ``~d * eps64 * sigma_max^2``, far below the cut-off. Methods with a bias
(``affine``, ``ridge``, ``ridge-cv``, ``sgd-affine``) count the rank of the *centred* anchors,
the others that of the preprocessed anchors as they are (centred already under a centring
scaling).
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)

#: methods whose solution is unique only when the anchors span the whole source space
#: (``sgd-affine`` too unless it has weight decay alpha > 0)
FULL_RANK_METHODS = frozenset({"linear", "affine", "sgd-affine"})
#: methods with a bias, whose rank is that of the centred anchors
BIASED_METHODS = frozenset({"affine", "ridge", "ridge-cv", "sgd-affine"})


def rank_tolerance(d: int) -> float:
    """Relative singular-value cut-off ``d * eps32`` for a d-dimensional space."""
    return max(int(d), 1) * EPS32


def spectral_rank(sv: np.ndarray, d: int) -> int:
    """Number of singular values (any order) above ``rank_tolerance(d) * max(sv)``."""
    sv = np.asarray(sv, dtype=np.float64)
    top = float(sv.max(initial=0.0))
    if not top > 0:
        return 0
    return int(np.count_nonzero(sv > rank_tolerance(d) * top))


def gram_rank(gram: np.ndarray) -> int:
    """Numerical rank of Z from its Gram ``Z^T Z`` (d, d), by the rule above."""
    evals = np.linalg.eigvalsh(gram)
    return spectral_rank(np.sqrt(np.maximum(evals, 0.0)), gram.shape[0])


def gram_span(gram: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, r) of the directions of Z that the rank rule counts, from
    its Gram ``Z^T Z`` (d, d): the span the anchors determine."""
    evals, evecs = np.linalg.eigh(gram)
    sv = np.sqrt(np.maximum(evals, 0.0))
    top = float(sv.max(initial=0.0))
    keep = sv > rank_tolerance(gram.shape[0]) * top if top > 0 else np.zeros(sv.shape, bool)
    return evecs[:, keep]


def needed_rank(method: str, d_source: int, alpha: float | None = None) -> int:
    """Rank the source anchors need for ``method`` to be determined (0: any rank will do)."""
    if method == "sgd-affine" and alpha is not None and alpha > 0:
        return 0
    return int(d_source) if method in FULL_RANK_METHODS else 0
