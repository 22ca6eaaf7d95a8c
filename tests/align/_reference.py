"""An independent, deliberately plain d x d reference of every closed-form fit (the oracle).

It re-derives the maps from the raw arrays the way the library computed them before the thin
path existed: preprocess, form the d_s x d_s Gram, one eigendecomposition for the rank and the
span, then the method's solve. It shares no code with ``semalign.align`` so that the thin and
the moments paths are both checked against something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)
BIASED = {"affine", "ridge", "sgd-affine"}
FULL_RANK = {"linear", "affine"}


@dataclass
class Reference:
    weight: np.ndarray | None  # None when the fit is refused for its rank
    bias: np.ndarray | None
    rank: int
    needed: int
    scale: float = 1.0
    map_rank: int | None = None


def preprocess(x: np.ndarray, scaling: str) -> np.ndarray:
    """Rows of x as the scaling sees them."""
    mean = x.mean(axis=0)
    z = x - mean if scaling in {"center", "standard", "center-l2"} else x.copy()
    if scaling in {"std", "standard"}:
        sd = np.sqrt(((x - mean) ** 2).mean(axis=0))
        floor = 1e-12 * max(1.0, float(sd.max()))
        z = z / np.where(sd > floor, sd, 1.0)
    if scaling in {"l2", "center-l2"}:
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        z = z / np.where(norms > 0, norms, 1.0)
    return z


def _partial_isometry(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    k = int(np.count_nonzero(s > max(m.shape) * EPS64 * s.max(initial=0.0)))
    return u[:, :k] @ vt[:k], s[:k]


def _pinv_solve(gram: np.ndarray, rhs: np.ndarray, cut: float) -> np.ndarray:
    lam, vec = np.linalg.eigh(gram)
    keep = lam > cut * lam.max()
    return vec[:, keep] @ ((vec[:, keep].T @ rhs) / lam[keep][:, None])


def reference_fit(
    method: str, scaling: str, x: np.ndarray, y: np.ndarray, alpha: float = 1.0
) -> Reference:
    """The map ``z W + b`` in preprocessed coordinates (z, t = preprocess(x), preprocess(y))."""
    z, t = preprocess(x, scaling), preprocess(y, scaling)
    d_s, d_t = z.shape[1], t.shape[1]
    zc, tc = z - z.mean(axis=0), t - t.mean(axis=0)
    a = zc if method in BIASED else z
    lam, vec = np.linalg.eigh(a.T @ a)
    sv = np.sqrt(np.maximum(lam, 0.0))
    tol = d_s * EPS32
    kept = sv > tol * sv.max()
    rank = int(kept.sum())
    needed = d_s if method in FULL_RANK else 0
    if rank < needed:
        return Reference(None, None, rank, needed)
    zero = np.zeros(d_t)
    if method in {"orthogonal", "similarity"}:
        span = vec[:, kept]
        r, s = _partial_isometry(span @ (span.T @ (z.T @ t)))
        if method == "orthogonal":
            return Reference(r, zero, rank, needed, map_rank=s.size)
        scale = float(s.sum() / (z**2).sum())
        return Reference(scale * r, zero, rank, needed, scale=scale, map_rank=s.size)
    if method == "linear":
        return Reference(_pinv_solve(z.T @ z, z.T @ t, tol**2), zero, rank, needed)
    if method == "lstsq-orthogonal":
        r, s = _partial_isometry(_pinv_solve(z.T @ z, z.T @ t, tol**2))
        return Reference(r, zero, rank, needed, map_rank=s.size)
    if method == "affine":
        w = _pinv_solve(zc.T @ zc, zc.T @ tc, tol**2)
    elif method == "ridge":
        w = np.linalg.solve(zc.T @ zc + alpha * np.eye(d_s), zc.T @ tc)
    else:
        raise ValueError(f"no closed-form reference for {method!r}")
    return Reference(w, t.mean(axis=0) - z.mean(axis=0) @ w, rank, needed)
