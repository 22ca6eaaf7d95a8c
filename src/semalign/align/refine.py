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

Validation (``holdout > 0``, the default): self-learning can make a map worse than its seed,
e.g. when no pool item's partner is in the other pool and few anchors leave the seed map too
weak for mutual neighbours to be right. So a share ``holdout`` of the anchors (chosen by their
contents, :func:`semalign.align.ridgecv.content_folds`, so not by their order) is held out, the
refinement runs on the rest, and each refit (the seed map included) is scored on the held-out
anchors in both directions: the mean reciprocal rank of each one's partner among the held-out
targets and the target pool (mapped source as query), and of each mapped source among the
mapped held-out sources and the mapped source pool (target as query). A refit is admissible
only if it is no worse than the seed map in either direction (a refinement can help one
direction and hurt the other); among the admissible ones, including the seed map, the
refinement on all anchors stops after the number of refits with the best sum of the two (the
mean cosine to the partner breaks ties, then the most refits; all of them, up to the fixed
point, when the last one is chosen); zero refits returns the seed map (``kept_ = "seed"``).

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

from semalign.align.aligner import Aligner, NotFittedError, min_anchors
from semalign.align.io import aligner_payload
from semalign.align.ridgecv import content_folds
from semalign.arrays import as_float64_2d
from semalign.artefacts import write_artefact
from semalign.errors import InputError

__all__ = ["RefinedAligner", "choose_refits", "holdout_score", "mutual_csls_pairs"]

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


def holdout_score(
    mapped: np.ndarray, partners: np.ndarray, distractors: np.ndarray
) -> tuple[float, float]:
    """(mean reciprocal rank, mean cosine) of row i of ``partners`` (h, d) for mapped row i
    (h, d): the rank under cosine among all partners and the ``distractors`` (p, d), ties
    counting against the partner; the cosine breaks ties between equal ranks."""
    from semalign.metrics.space import unit_rows

    if mapped.shape[0] == 0:
        return 0.0, 0.0
    gallery = unit_rows(np.concatenate([partners, distractors]))
    sims = unit_rows(mapped) @ gallery.T
    own = sims[np.arange(mapped.shape[0]), np.arange(mapped.shape[0])]
    ranks = 1 + np.count_nonzero(sims > own[:, None], axis=1)
    return float(np.mean(1.0 / ranks)), float(own.mean())


def choose_refits(scores: list[tuple[float, float, float]]) -> int:
    """The number of refits to keep from held-out (forward MRR, backward MRR, mean cosine) of
    the seed map (first) and each refit: among those no worse than the seed map in either
    direction, the best sum of the two MRRs, then the best cosine, then the most refits (ties
    within rounding; cosines closer than 1e-4 are equal)."""
    r = [(round(f, 9), round(b, 9), round(c, 4)) for f, b, c in scores]
    ok = [i for i, (f, b, _) in enumerate(r) if f >= r[0][0] and b >= r[0][1]]
    key = {i: (round(r[i][0] + r[i][1], 9), r[i][2]) for i in ok}
    best = max(key.values())
    return max(i for i in ok if key[i] >= best)


class RefinedAligner:
    """An :class:`Aligner` refined by self-learning on unpaired pools (scikit-learn conventions).

    Args:
        method, scaling: those of the underlying :class:`Aligner`.
        iterations: most refits after the anchor-only fit (0: no refinement).
        csls_k: neighbours of the CSLS scores that pick pseudo-pairs.
        max_pseudo: bound on pseudo-pairs per refit (default: the smaller pool's size).
        holdout: share of the anchors held out to choose the number of refits (0: no
            validation, run all ``iterations``); at least one anchor is held out and at least
            two are fitted.
        **aligner_params: other :class:`Aligner` parameters (alpha, seed, ...); ``seed`` also
            picks the held-out anchors.

    Fitted attributes: ``aligner_`` (the final map), ``n_iter_`` (refits done), ``converged_``,
    ``pseudo_pairs_`` (pseudo-pairs used in each refit), ``pairs_`` ((pool-U rows, pool-V rows)
    of the last refit), ``n_anchors_`` (the original anchors), ``validation_`` (held-out
    (forward MRR, backward MRR, mean cosine) of the seed map and of each refit on the other
    anchors; empty without one),
    ``kept_`` ("refined", or "seed" when the held-out anchors chose no refit, or
    "unvalidated" when the method cannot be fitted on the anchors left after the hold-out, so
    all ``iterations`` run unchecked).
    """

    _PARAMS = ("method", "scaling", "iterations", "csls_k", "max_pseudo", "holdout")

    def __init__(
        self,
        method: str = "orthogonal",
        scaling: str = "standard",
        *,
        iterations: int = 10,
        csls_k: int = 10,
        max_pseudo: int | None = None,
        holdout: float = 0.25,
        **aligner_params: Any,
    ) -> None:
        self.method = method
        self.scaling = scaling
        self.iterations = iterations
        self.csls_k = csls_k
        self.max_pseudo = max_pseudo
        self.holdout = holdout
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
        h = self.holdout
        if isinstance(h, bool) or not isinstance(h, int | float) or not 0 <= h < 1:
            raise InputError(f"holdout is {h!r}: pass a share of the anchors in [0, 1)")

    def fit(self, X: Any, Y: Any, unpaired: tuple[Any, Any] | None = None) -> RefinedAligner:
        """Fit on anchors X (n, d_s), Y (n, d_t), refined on ``unpaired`` = (U, V).

        U (m, d_s) and V (p, d_t) are unpaired pools (no test items).

        Without ``unpaired`` (or with ``iterations=0``) this is the anchor-only fit.
        """
        self._check()
        x = as_float64_2d(X, "source anchors")
        y = as_float64_2d(Y, "target anchors")
        self.n_anchors_ = int(x.shape[0])
        self.validation_: list[tuple[float, float, float]] = []
        self.kept_ = "refined"
        if unpaired is None or self.iterations == 0:
            self._run(x, y, None, 0)
            return self
        u = as_float64_2d(unpaired[0], "unpaired source pool")
        v = as_float64_2d(unpaired[1], "unpaired target pool")
        if u.shape[1] != x.shape[1] or v.shape[1] != y.shape[1]:
            raise InputError(
                f"unpaired pools have widths ({u.shape[1]}, {v.shape[1]}) but the anchors "
                f"({x.shape[1]}, {y.shape[1]}): embed the pools with the same two encoders"
            )
        refits = self.iterations
        held = self._held_out(x, y)
        if held is not None and self._unfittable(x[~held]):
            held, self.kept_ = None, "unvalidated"  # the seed map needs every anchor
        if held is not None:
            for a in self._refits(x[~held], y[~held], u, v, self.iterations):
                mapped = a.transform(x[held])
                fwd, cos = holdout_score(mapped, y[held], v)
                back, _ = holdout_score(y[held], mapped, a.transform(u))
                self.validation_.append((fwd, back, cos))
            chosen = choose_refits(self.validation_)
            if chosen < len(self.validation_) - 1:  # a later refit was not chosen: stop here
                refits = chosen
            self.kept_ = "refined" if refits > 0 else "seed"
        self._run(x, y, (u, v), refits)
        return self

    def _unfittable(self, x: np.ndarray) -> bool:
        """Whether the seed map cannot be fitted on the anchors left after the hold-out (too
        few rows for the method, e.g. affine with n * 3/4 <= d); the rank is left to the fit."""
        return x.shape[0] < min_anchors(self.method, self.scaling, x.shape[1])

    def _held_out(self, x: np.ndarray, y: np.ndarray) -> NDArray[np.bool_] | None:
        """The held-out anchors (n,) of the validation, or None without one."""
        n = x.shape[0]
        if self.holdout == 0 or n < 3:
            return None
        k = max(2, min(n, round(1.0 / self.holdout)))
        held = content_folds(x, y, k, int(self.aligner_params.get("seed", 0))) == 0
        return held if 0 < held.sum() <= n - 2 else None

    def _refits(
        self, x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, refits: int
    ) -> Any:
        """The seed map on anchors (x, y), then each refit on them plus its pseudo-pairs, until
        a fixed point or ``refits`` refits; sets the fitted attributes as it goes."""
        aligner = Aligner(self.method, self.scaling, **self.aligner_params).fit(x, y)
        self.pseudo_pairs_: list[int] = []
        self.pairs_: tuple[Int, Int] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.converged_ = False
        yield aligner
        limit = min(u.shape[0], v.shape[0]) if self.max_pseudo is None else self.max_pseudo
        previous: set[tuple[int, int]] | None = None
        for _ in range(refits):
            rows, cols = mutual_csls_pairs(aligner.transform(u), v, self.csls_k, limit)
            current = set(zip(rows.tolist(), cols.tolist(), strict=True))
            if current == previous:
                self.converged_ = True
                return
            aligner = Aligner(self.method, self.scaling, **self.aligner_params).fit(
                np.concatenate([x, u[rows]]), np.concatenate([y, v[cols]])
            )
            self.pseudo_pairs_.append(int(rows.size))
            self.pairs_ = (rows, cols)
            previous = current
            yield aligner

    def _run(
        self, x: np.ndarray, y: np.ndarray, pools: tuple[np.ndarray, np.ndarray] | None, refits: int
    ) -> None:
        """The final map: the last of :meth:`_refits` on all anchors."""
        empty = np.zeros((0, x.shape[1])), np.zeros((0, y.shape[1]))
        u, v = pools or empty
        for aligner in self._refits(x, y, u, v, refits):
            self._aligner = aligner

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
            "holdout": self.holdout,
            "validation": self.validation_,
            "kept": self.kept_,
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
