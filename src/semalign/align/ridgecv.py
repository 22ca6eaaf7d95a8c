"""Ridge whose penalty is chosen on the anchors alone, by k-fold cross-validation (``ridge-cv``).

Where the anchors do not determine an affine map (fewer distinct anchors than dimensions, or
near-constant dimensions that leave the centred anchors rank-deficient at any count), ``affine``
is refused and ``ridge`` needs a penalty. ``ridge-cv`` picks it from a log-scale grid relative to
the anchors' own spectrum, ``alpha = lam_max * 10^g`` for g in :data:`GRID_EXPONENTS`, where
``lam_max`` is the largest eigenvalue of the preprocessed, centred ``Zc^T Zc`` (to 8 significant
digits, so that row order cannot change the grid). The score of an
alpha is the mean squared error, in the preprocessed target units, of held-out anchors predicted
by the ridge map fitted on the other folds (each fold's penalty scaled by its share of the rows,
``alpha * n_train / n``, so that the penalty per anchor is the one the full fit uses). Ties go to
the larger alpha.

Folds depend on the anchors' contents, not their order: each pair of raw rows is hashed
(blake2b keyed by the seed) and the distinct pairs are dealt round-robin in hash order, so the
same anchors in any order get the same folds and the same alpha, and repeated pairs share one.

One SVD per fold serves every alpha (:class:`RidgePath`): with ``Zc = U S V^T`` the ridge weight
is ``V diag(s / (s^2 + alpha)) U^T Tc``, so each further alpha costs one (n_held, r) x (r, d_t)
product.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

#: exponents g of the grid ``alpha = lam_max * 10^g``, largest first (ties go to the first)
GRID_EXPONENTS: tuple[float, ...] = tuple(float(g) for g in np.arange(1.0, -8.25, -0.5))
#: folds of the cross-validation (fewer when there are fewer anchors)
FOLDS = 5


class RidgePath:
    """Ridge maps of centred rows z (n, d_s) to t (n, d_t) for any penalty, from one thin SVD.

    ``weight(alpha)`` = ``(Zc^T Zc + alpha I)^{-1} Zc^T Tc`` (d_s, d_t), ``bias`` = the
    target mean minus the source mean times the weight.
    """

    def __init__(self, z: np.ndarray, t: np.ndarray) -> None:
        self.mean_z = z.mean(axis=0)
        self.mean_t = t.mean(axis=0)
        u, s, vt = np.linalg.svd(z - self.mean_z, full_matrices=False)
        top = float(s.max(initial=0.0))
        keep = s > np.finfo(np.float64).eps * max(z.shape) * top if top > 0 else s > 0
        self.s = s[keep]
        self.v = vt[keep].T  # (d_s, r)
        self.b = u[:, keep].T @ (t - self.mean_t)  # (r, d_t)

    @property
    def top_eigenvalue(self) -> float:
        """Largest eigenvalue of ``Zc^T Zc`` (0.0 for constant rows)."""
        return float(self.s.max(initial=0.0)) ** 2

    def _shrink(self, alpha: float) -> np.ndarray:
        return self.s / (self.s**2 + alpha)

    def weight(self, alpha: float) -> np.ndarray:
        return self.v @ (self._shrink(alpha)[:, None] * self.b)

    def bias(self, alpha: float) -> np.ndarray:
        return self.mean_t - self.mean_z @ self.weight(alpha)

    def predictions(self, z_new: np.ndarray, alphas: np.ndarray) -> list[np.ndarray]:
        """Predicted targets (m, d_t) of rows z_new (m, d_s), one array per alpha."""
        a = (z_new - self.mean_z) @ self.v  # (m, r)
        return [(a * self._shrink(float(al))) @ self.b + self.mean_t for al in alphas]


def content_folds(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each anchor pair (n,), from a keyed hash of its raw rows: the same
    anchors in any order get the same folds, and repeated pairs share a fold (a copy of a
    held-out anchor among the fitted ones would favour no penalty at all)."""
    key = int(seed).to_bytes(8, "little", signed=True)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    digests = [
        hashlib.blake2b(xs[i].tobytes() + ys[i].tobytes(), digest_size=16, key=key).digest()
        for i in range(xs.shape[0])
    ]
    fold_of = {d: i % max(k, 1) for i, d in enumerate(sorted(set(digests)))}
    return np.array([fold_of[d] for d in digests], dtype=np.int64)


@dataclass(frozen=True)
class CrossValidation:
    """The chosen penalty and the grid it was chosen from (scores: held-out MSE per anchor)."""

    alpha: float
    alphas: tuple[float, ...]
    scores: tuple[float, ...]
    folds: int

    def as_dict(self) -> dict[str, object]:
        return {
            "alpha": self.alpha,
            "alphas": list(self.alphas),
            "scores": list(self.scores),
            "folds": self.folds,
        }


def choose_alpha(
    z: np.ndarray, t: np.ndarray, folds: np.ndarray, top_eigenvalue: float | None = None
) -> CrossValidation:
    """The grid penalty with the lowest held-out MSE, for preprocessed anchors z (n, d_s),
    t (n, d_t) split into ``folds`` (n,) (from :func:`content_folds`)."""
    n = z.shape[0]
    lam = RidgePath(z, t).top_eigenvalue if top_eigenvalue is None else top_eigenvalue
    # rounded, so that the same anchors in another order (other last bits) get the same grid
    lam = float(f"{lam:.8g}") if lam > 0 else 1.0
    alphas = lam * 10.0 ** np.asarray(GRID_EXPONENTS)
    sse = np.zeros(alphas.size)
    ids = np.unique(folds)
    for f in ids:
        held = folds == f
        n_train = n - int(held.sum())
        if n_train == 0:
            continue
        path = RidgePath(z[~held], t[~held])
        preds = path.predictions(z[held], alphas * (n_train / n))
        sse += [float(((p - t[held]) ** 2).sum()) for p in preds]
    scores = sse / max(n, 1)
    best = int(np.argmin(scores))  # first minimum: the largest alpha among ties
    return CrossValidation(
        float(alphas[best]),
        tuple(float(a) for a in alphas),
        tuple(float(s) for s in scores),
        int(ids.size),
    )
