"""Many fits on one set of anchors (methods x scalings), sharing the work they have in common.

An :class:`AnchorSet` converts and checks the anchors once and keeps, per scaling, what every
fit on them would otherwise recompute: on the thin path (n < d_s) the preprocessed rows and
their n x n eigendecompositions (shared by the orthogonal family and least squares, and by the
biased methods; by all of them under a centring scaling); on the moments path the moments (one
set for ``none``/``center``/``std``/``standard``, which read their scaling off the same raw
moments) and the rank's eigenvalues per scaling and centring. Each map equals
``Aligner(method, scaling).fit(X, Y)``.

>>> anchors = AnchorSet(X, Y)
>>> maps = {(m, s): anchors.fit(m, s) for m in ("orthogonal", "ridge") for s in ("l2", "standard")}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from semalign.align._arrays import check_paired
from semalign.align.aligner import Aligner
from semalign.align.moments import Moments
from semalign.align.preprocessing import Scaler, normalises_rows
from semalign.align.thin import ThinAnchors
from semalign.arrays import as_float64_2d

__all__ = ["AnchorSet"]


class AnchorSet:
    """Paired anchors X (n, d_s), Y (n, d_t), converted to float64 and checked once."""

    def __init__(self, X: Any, Y: Any) -> None:
        self.x = as_float64_2d(X, "source")
        self.y = as_float64_2d(Y, "target")
        check_paired(self.x, self.y)
        if isinstance(X, np.ndarray) and np.may_share_memory(self.x, X):
            self.x = self.x.copy()
        if isinstance(Y, np.ndarray) and np.may_share_memory(self.y, Y):
            self.y = self.y.copy()
        self._means: tuple[np.ndarray, np.ndarray] | None = None
        self._thin: dict[str, tuple[Scaler, Scaler, ThinAnchors]] = {}
        self._moments: dict[str, Moments] = {}
        self._ranks: dict[tuple[str, bool], int] = {}

    def fit(self, method: str, scaling: str = "standard", **params: Any) -> Aligner:
        """``Aligner(method, scaling, **params).fit(X, Y)``, sharing this set's work."""
        return Aligner(method, scaling, **params)._fit_shared(self)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        if self._means is None:
            self._means = (self.x.mean(axis=0), self.y.mean(axis=0))
        return self._means

    def thin(
        self,
        scaling: str,
        make: Callable[[np.ndarray, np.ndarray], tuple[Scaler, Scaler, ThinAnchors]],
    ) -> tuple[Scaler, Scaler, ThinAnchors]:
        """The scalers and preprocessed anchors of a thin fit under ``scaling`` (made once)."""
        if scaling not in self._thin:
            self._thin[scaling] = make(self.x, self.y)
        return self._thin[scaling]

    def moments(self, scaling: str, make: Callable[[np.ndarray, np.ndarray], Moments]) -> Moments:
        """The moments a fit under ``scaling`` starts from (raw ones shared by the per-dimension
        scalings)."""
        key = scaling if normalises_rows(scaling) else "raw"
        if key not in self._moments:
            self._moments[key] = make(self.x, self.y)
        return self._moments[key]

    def rank(self, scaling: str, centred: bool, count: Callable[[], int]) -> int:
        """The rank a moments fit counts under ``scaling`` (centred or not), counted once."""
        key = (scaling, centred)
        if key not in self._ranks:
            self._ranks[key] = count()
        return self._ranks[key]
