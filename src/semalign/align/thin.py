"""Fits with fewer anchors than source dimensions (n < d_s), from the anchors' n x n Gram.

When n < d_s every map lives in the anchors' row space, so rank, span and solution all come
from one symmetric eigendecomposition ``Z Z^T = U diag(lam) U^T`` (n x n) of the preprocessed
source anchors Z (n, d_s): O(n^2 d_s + n^3), against O(n d_s^2 + d_s^3) for the d_s x d_s Gram
that streaming fits (:mod:`semalign.align.estimators`) decompose. The maps are the same:

- rank: the non-zero eigenvalues of ``Z Z^T`` and ``Z^T Z`` coincide, so the rank rule of
  :mod:`semalign.align.rank` counts ``sqrt(lam) > d_s * eps32 * sqrt(lam_max)`` with the same
  d_s; the biased methods decompose the centred anchors' Gram instead.
- span: the kept right singular vectors are ``V_r = Z^T U_r lam_r^{-1/2}``, so the projected
  cross-Gram is ``P Z^T T = V_r B`` with ``B = lam_r^{1/2} U_r^T T`` (r, d_t). Its partial
  isometry is ``V_r U_B V_B^T`` from the SVD of the small B, with the same cut-off on B's
  singular values (those of ``P Z^T T``) as :func:`semalign.align.estimators.polar`.
- ridge: ``(Zc^T Zc + alpha I)^{-1} Zc^T Tc = Zc^T U diag(1 / (lam + alpha)) U^T Tc``.
- minimum-norm least squares: ``Z^+ T = V_k lam_k^{-1/2} U_k^T T`` over the eigenvalues the
  solve keeps (``rcond``), then its partial isometry as above (``lstsq-orthogonal``).
- sgd-affine: the same descent, with ``Zc^T Zc V`` applied as two thin products.

``linear`` and ``affine`` need rank d_s > n, so they never get here (refused for their rows).
"""

from __future__ import annotations

import numpy as np

from semalign.align.estimators import Fitted, nesterov
from semalign.align.rank import rank_tolerance, spectral_rank

EPS64 = float(np.finfo(np.float64).eps)


class ThinAnchors:
    """Preprocessed anchors z (n, d_s) and t (n, d_t) with their n x n eigendecompositions,
    computed once each and shared by every method fitted on them.

    ``centred``: whether z is centred already (a centring scaling), so that the biased methods
    reuse the uncentred decomposition.
    """

    def __init__(self, z: np.ndarray, t: np.ndarray, centred: bool = False) -> None:
        self.z, self.t = z, t
        self.centred = centred
        self._eig: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self._zc: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.z.shape[0])

    @property
    def d_s(self) -> int:
        return int(self.z.shape[1])

    @property
    def d_t(self) -> int:
        return int(self.t.shape[1])

    def source(self, centred: bool) -> np.ndarray:
        """z, or z minus its mean."""
        if not centred or self.centred:
            return self.z
        if self._zc is None:
            self._zc = self.z - self.z.mean(axis=0)
        return self._zc

    def eig(self, centred: bool) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (n,) ascending and eigenvectors (n, n) of ``z z^T`` (centred or not)."""
        key = centred and not self.centred
        if key not in self._eig:
            a = self.source(key)
            self._eig[key] = np.linalg.eigh(a @ a.T)
        return self._eig[key]

    def rank(self, centred: bool) -> int:
        """Numerical rank of z (centred or not) by the rule of :mod:`semalign.align.rank`."""
        lam = self.eig(centred)[0]
        return spectral_rank(np.sqrt(np.maximum(lam, 0.0)), self.d_s)

    def _kept(self, centred: bool, cut: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Eigenpairs above ``cut * lam_max`` (default: the rank rule's cut-off, squared)."""
        lam, u = self.eig(centred)
        top = float(lam.max(initial=0.0))
        cut = rank_tolerance(self.d_s) ** 2 if cut is None else cut
        keep = lam > cut * top if top > 0 else np.zeros(lam.shape, bool)
        return lam[keep], u[:, keep]

    def _isometry(
        self, u: np.ndarray, root: np.ndarray, b: np.ndarray, similarity: bool = False
    ) -> Fitted:
        """Partial isometry of ``z^T u diag(1 / root) b`` (the columns of ``z^T u / root``
        orthonormal), through the SVD of b (r, d_t); ``similarity`` scales it by
        ``sum(singular values) / ||z||_F^2`` (folded into the small factor)."""
        if b.shape[0] == 0:
            return Fitted(np.zeros((self.d_s, self.d_t)), np.zeros(self.d_t), map_rank=0)
        ub, sb, vbt = np.linalg.svd(b, full_matrices=False)
        top = float(sb.max(initial=0.0))
        k = int(np.count_nonzero(sb > max(self.d_s, self.d_t) * EPS64 * top))
        scale = 1.0
        if similarity:
            denom = float(np.einsum("ij,ij->", self.z, self.z))
            scale = float(sb[:k].sum() / denom) if denom > 0 else 1.0
        coef = u @ (ub[:, :k] * (scale / root)[:, None])
        weight = self.z.T @ (coef @ vbt[:k])
        return Fitted(weight, np.zeros(self.d_t), scale=scale, map_rank=k)

    def orthogonal(self) -> Fitted:
        lam, u = self._kept(False, None)
        root = np.sqrt(lam)
        return self._isometry(u, root, root[:, None] * (u.T @ self.t))

    def similarity(self) -> Fitted:
        lam, u = self._kept(False, None)
        root = np.sqrt(lam)
        return self._isometry(u, root, root[:, None] * (u.T @ self.t), similarity=True)

    def lstsq_orthogonal(self, rcond: float | None) -> Fitted:
        lam, u = self._kept(False, rcond)
        root = np.sqrt(lam)
        return self._isometry(u, root, (u.T @ self.t) / root[:, None])

    def ridge(self, alpha: float) -> Fitted:
        lam, u = self.eig(True)
        zc = self.source(True)
        mean_t = self.t.mean(axis=0)
        tc = self.t if self.centred else self.t - mean_t
        weight = zc.T @ (u @ ((u.T @ tc) / (np.maximum(lam, 0.0) + alpha)[:, None]))
        return Fitted(weight, mean_t - self.z.mean(axis=0) @ weight)

    def sgd_affine(
        self, *, alpha: float, lr: float | None, max_iter: int, tol: float, seed: int
    ) -> Fitted:
        zc = self.source(True)
        n = self.n
        tc = self.t - self.t.mean(axis=0)
        aug_top = float(self.eig(False)[0].max(initial=0.0)) / n  # top of Z^T Z / n
        return nesterov(
            lambda v: zc.T @ (zc @ v) / n,
            zc.T @ tc / n,
            self.z.mean(axis=0),
            self.t.mean(axis=0),
            aug_top,
            alpha=alpha,
            lr=lr,
            max_iter=max_iter,
            tol=tol,
            seed=seed,
        )
