"""Semi-supervised refinement of a map from unpaired pools (self-learning, as in MUSE / VecMap).

Given paired anchors (X, Y) and unpaired pools U (source items with no known partner) and V
(target items), :class:`RefinedAligner` iterates

1. fit T on the anchors plus the current pseudo-pairs (none at first);
2. map the pool: P = T(U); find mutual nearest neighbours between P and V under CSLS (u's
   CSLS-nearest v is v, and v's CSLS-nearest mapped u is u), in cosine on the target's units;
3. keep at most ``max_pseudo`` of them, those with the highest CSLS score, as pseudo-pairs.

Stopping rule: stop when an iteration yields the same pseudo-pair set as the previous one (a
fixed point, ``converged_ = True``) or after ``iterations`` refits. Safeguards: the original
anchors are always part of every fit (pseudo-pairs never replace them), each pool item is used at
most once, and pseudo-pairs are bounded by ``max_pseudo`` (default: as many as the smaller pool).

The pools must never contain the test items the map is evaluated on: a pseudo-pair on a test item
is a label leak. The API receives bare arrays, so keeping test items out is the caller's job (the
benchmark ``benchmarks/bench_refine.py`` asserts it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align.aligner import Aligner, NotFittedError
from semalign.align.io import aligner_payload
from semalign.arrays import as_float64_2d
from semalign.artefacts import write_artefact
from semalign.errors import InputError

__all__ = ["RefinedAligner", "mutual_csls_pairs"]

Int = NDArray[np.int64]


def mutual_csls_pairs(
    mapped: Any, keys: Any, k: int = 10, limit: int | None = None
) -> tuple[Int, Int]:
    """Mutual CSLS nearest neighbours between mapped pool rows (m, d) and key rows (n, d).

    Returns (rows of ``mapped``, rows of ``keys``), best CSLS score first, at most ``limit``.
    Each row appears at most once on either side.
    """
    from semalign.metrics.csls import csls_nearest, mean_knn
    from semalign.metrics.space import _chunk_rows, unit_rows

    p, v = unit_rows(as_float64_2d(mapped, "mapped pool")), unit_rows(as_float64_2d(keys, "pool"))
    step = _chunk_rows(max(p.shape[0], v.shape[0]), None)
    fwd = csls_nearest(p, v, k, step)
    back = csls_nearest(v, p, k, step)
    rows = np.flatnonzero(back[fwd] == np.arange(p.shape[0]))
    cols = fwd[rows]
    score = (
        2.0 * np.einsum("ij,ij->i", p[rows], v[cols])
        - mean_knn(p[rows], v, k, step)
        - mean_knn(v[cols], p, k, step)
    )
    order = np.argsort(-score, kind="stable")
    if limit is not None:
        order = order[:limit]
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


class RefinedAligner:
    """An :class:`Aligner` refined by self-learning on unpaired pools (scikit-learn conventions).

    Args:
        method, scaling: those of the underlying :class:`Aligner`.
        iterations: most refits after the anchor-only fit (0: no refinement).
        csls_k: neighbours of the CSLS scores that pick pseudo-pairs.
        max_pseudo: bound on pseudo-pairs per refit (default: the smaller pool's size).
        **aligner_params: other :class:`Aligner` parameters (alpha, seed, ...).

    Fitted attributes: ``aligner_`` (the final map), ``n_iter_`` (refits done), ``converged_``,
    ``pseudo_pairs_`` (pseudo-pairs used in each refit), ``pairs_`` ((pool-U rows, pool-V rows)
    of the last refit), ``n_anchors_`` (the original anchors).
    """

    _PARAMS = ("method", "scaling", "iterations", "csls_k", "max_pseudo")

    def __init__(
        self,
        method: str = "orthogonal",
        scaling: str = "standard",
        *,
        iterations: int = 10,
        csls_k: int = 10,
        max_pseudo: int | None = None,
        **aligner_params: Any,
    ) -> None:
        self.method = method
        self.scaling = scaling
        self.iterations = iterations
        self.csls_k = csls_k
        self.max_pseudo = max_pseudo
        self.aligner_params = aligner_params
        self._aligner: Aligner | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self._PARAMS}, **self.aligner_params}

    def set_params(self, **params: Any) -> RefinedAligner:
        for key, value in params.items():
            if key in self._PARAMS:
                setattr(self, key, value)
            else:
                self.aligner_params[key] = value
        self._aligner = None
        return self

    def __repr__(self) -> str:
        return (
            f"RefinedAligner(method={self.method!r}, scaling={self.scaling!r}, "
            f"iterations={self.iterations})"
        )

    def _check(self) -> None:
        from semalign.metrics.csls import check_scoring

        for name in ("iterations", "max_pseudo"):
            v = getattr(self, name)
            if v is None and name == "max_pseudo":
                continue
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise InputError(f"{name} is {v!r}: pass a non-negative integer")
        check_scoring("csls", self.csls_k)

    def fit(self, X: Any, Y: Any, unpaired: tuple[Any, Any] | None = None) -> RefinedAligner:
        """Fit on anchors X (n, d_s), Y (n, d_t), refined on ``unpaired`` = (U, V).

        U (m, d_s) and V (p, d_t) are unpaired pools (no test items).

        Without ``unpaired`` (or with ``iterations=0``) this is the anchor-only fit.
        """
        self._check()
        x = as_float64_2d(X, "source anchors")
        y = as_float64_2d(Y, "target anchors")
        aligner = Aligner(self.method, self.scaling, **self.aligner_params).fit(x, y)
        self.n_anchors_ = int(x.shape[0])
        self.pseudo_pairs_: list[int] = []
        self.pairs_: tuple[Int, Int] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.converged_ = False
        if unpaired is not None and self.iterations > 0:
            u = as_float64_2d(unpaired[0], "unpaired source pool")
            v = as_float64_2d(unpaired[1], "unpaired target pool")
            if u.shape[1] != x.shape[1] or v.shape[1] != y.shape[1]:
                raise InputError(
                    f"unpaired pools have widths ({u.shape[1]}, {v.shape[1]}) but the anchors "
                    f"({x.shape[1]}, {y.shape[1]}): embed the pools with the same two encoders"
                )
            limit = min(u.shape[0], v.shape[0]) if self.max_pseudo is None else self.max_pseudo
            previous: set[tuple[int, int]] | None = None
            for _ in range(self.iterations):
                rows, cols = mutual_csls_pairs(aligner.transform(u), v, self.csls_k, limit)
                current = set(zip(rows.tolist(), cols.tolist(), strict=True))
                if current == previous:
                    self.converged_ = True
                    break
                aligner = Aligner(self.method, self.scaling, **self.aligner_params).fit(
                    np.concatenate([x, u[rows]]), np.concatenate([y, v[cols]])
                )
                self.pseudo_pairs_.append(int(rows.size))
                self.pairs_ = (rows, cols)
                previous = current
        self._aligner = aligner
        return self

    @property
    def aligner_(self) -> Aligner:
        if self._aligner is None:
            raise NotFittedError("this RefinedAligner is not fitted yet: call fit(X, Y) first")
        return self._aligner

    @property
    def n_iter_(self) -> int:
        return len(self.pseudo_pairs_)

    def transform(self, X: Any) -> Any:
        """Map source embeddings (m, d_s) to the target space (m, d_t)."""
        return self.aligner_.transform(X)

    def inverse_transform(self, Y: Any) -> Any:
        """Map target embeddings (m, d_t) back to the source space (m, d_s)."""
        return self.aligner_.inverse_transform(Y)

    def refinement(self) -> dict[str, Any]:
        """What the refinement did, as saved in the map's header under ``refinement``."""
        aligner = self.aligner_
        return {
            "iterations": self.iterations,
            "refits": self.n_iter_,
            "converged": self.converged_,
            "pseudo_pairs": self.pseudo_pairs_,
            "csls_k": self.csls_k,
            "max_pseudo": self.max_pseudo,
            "anchors": self.n_anchors_,
            "fit_rows": aligner.n_anchors_,
        }

    def save(
        self,
        path: str | Path,
        *,
        source_encoder: str | None = None,
        target_encoder: str | None = None,
    ) -> Path:
        """Write the final map (loadable by ``load_aligner``) with the refinement in its header."""
        tensors, meta = aligner_payload(
            self.aligner_, source_encoder=source_encoder, target_encoder=target_encoder
        )
        meta["refinement"] = json.dumps(self.refinement(), sort_keys=True)
        return write_artefact(path, tensors, meta)
