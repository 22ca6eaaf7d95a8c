"""ASIF (Norelli et al., NeurIPS 2023): compare two modalities through their anchors, no map.

Each item is represented by its similarities to its own modality's anchors (anchor pair i is
``(source_anchors[i], target_anchors[i])``):

    r(x) = sparsify_k(cos(x, source_anchors)) ** p        (source items, (n_anchors,))
    r(y) = sparsify_k(cos(y, target_anchors)) ** p        (target items, (n_anchors,))

``sparsify_k`` keeps the ``k`` largest cosines of the row and sets the rest to 0; negative
cosines among them are clipped to 0 before the power (a real power of a negative number is
undefined). Source and target items are then compared by the cosine of their r vectors: the two
spaces never meet, only their relations to the shared anchors do. Training-free, like T.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align._arrays import check_paired
from semalign.arrays import as_float64_2d
from semalign.errors import InputError
from semalign.metrics.space import retrieval_ranks, unit_rows

__all__ = ["ASIF"]

Float = NDArray[np.float64]

_ROWS = 2048
"""Rows sparsified together (bounds the argpartition temporaries)."""


class ASIF:
    """Relative representations through paired anchors (scikit-learn-style ``fit``).

    Args:
        top_k: anchors kept per item (default 800, capped at the anchor count).
        power: exponent applied to the kept similarities (default 8).

    Fitted attributes: ``source_anchors_`` (k, d_s) and ``target_anchors_`` (k, d_t), unit
    rows; ``params_`` (``top_k`` as used, ``power``, ``n_anchors``).
    """

    def __init__(self, top_k: int = 800, power: float = 8.0) -> None:
        self.top_k = top_k
        self.power = power

    def fit(self, X: Any, Y: Any) -> ASIF:
        """Store the anchor pairs X (k, d_s), Y (k, d_t); returns self."""
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int | np.integer):
            raise InputError(f"top_k is {self.top_k!r}: pass a positive integer")
        if self.top_k < 1:
            raise InputError(f"top_k is {self.top_k}: pass a positive integer")
        if not np.isfinite(self.power) or self.power <= 0:
            raise InputError(f"power is {self.power!r}: pass a positive number")
        x = as_float64_2d(X, "source anchors")
        y = as_float64_2d(Y, "target anchors")
        check_paired(x, y, "source anchors", "target anchors")
        self.source_anchors_ = unit_rows(x)
        self.target_anchors_ = unit_rows(y)
        k = min(int(self.top_k), x.shape[0])
        self.params_ = {"top_k": k, "power": float(self.power), "n_anchors": int(x.shape[0])}
        return self

    def _relative(self, items: Any, anchors: Float, name: str) -> Float:
        if not hasattr(self, "params_"):
            from semalign.align.aligner import NotFittedError

            raise NotFittedError("this ASIF is not fitted yet: call fit(X, Y) first")
        z = as_float64_2d(items, name)
        if z.shape[1] != anchors.shape[1]:
            raise InputError(
                f"{name} have {z.shape[1]} columns but the anchors {anchors.shape[1]}: embed "
                "them with the encoder of that side's anchors"
            )
        # One (m, n) product, as one BLAS call (a row-blocked product can differ in the last
        # bit), then the sparsify / clip / power in place, a block of rows at a time: the
        # argpartition indices and temporaries are O(block * n), not four (m, n) arrays.
        out: Float = unit_rows(z) @ anchors.T
        k = self.params_["top_k"]
        n = out.shape[1]
        for start in range(0, out.shape[0], _ROWS):
            sims = out[start : start + _ROWS]
            if k < n:
                drop = np.argpartition(sims, n - k, axis=1)[:, : n - k]
                np.put_along_axis(sims, drop, 0.0, axis=1)
                del drop
            np.maximum(sims, 0.0, out=sims)
            sims **= self.power
        return out

    def transform_source(self, X: Any) -> Float:
        """Relative representation (m, n_anchors) of source items X (m, d_s)."""
        return self._relative(X, self.source_anchors_, "source items")

    def transform_target(self, Y: Any) -> Float:
        """Relative representation (m, n_anchors) of target items Y (m, d_t)."""
        return self._relative(Y, self.target_anchors_, "target items")

    def similarity(self, X: Any, Y: Any) -> Float:
        """(m, p) cosine of source items X (m, d_s) with target items Y (p, d_t), through ASIF."""
        return unit_rows(self.transform_source(X)) @ unit_rows(self.transform_target(Y)).T

    def retrieval_ranks(
        self, X: Any, Y: Any, *, groups: Any = None, scoring: str = "cosine", csls_k: int = 10
    ) -> Float:
        """1-based expected rank (m,) of ``Y[i]`` for query ``X[i]`` (paired rows), as in
        :func:`~semalign.metrics.space.retrieval_ranks` (sparse codes can tie: expected ranks)."""
        return retrieval_ranks(
            self.transform_source(X),
            self.transform_target(Y),
            groups=groups,
            scoring=scoring,
            csls_k=csls_k,
        )
