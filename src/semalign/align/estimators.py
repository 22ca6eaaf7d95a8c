"""Closed-form (and one iterative) estimators of a map ``y ~ x W + b`` from anchor moments.

Every estimator takes :class:`Moments` of the *preprocessed* anchors and returns the weight
W (d_s, d_t), the bias b (d_t,) and the global scale folded into W (1.0 except for
``similarity``). When d_s != d_t the orthogonal family returns the semi-orthogonal map that
zero-padding the narrower space to the wider one and truncating afterwards would give.

Null space: where the anchors do not determine the map (fewer anchors than dimensions,
duplicated anchors), every estimator here sends the directions outside the anchors' span to
zero. The orthogonal family returns the *partial isometry* ``U_r V_r^T`` of its cross-Gram
restricted to the span the rank rule counts (:mod:`semalign.align.rank`), over the singular
values that are not numerically zero; it is unique and so independent of the anchors' order.
Ridge does the same by construction; least squares uses the minimum-norm solution (and
``linear``/``affine`` are refused unless the anchors have full rank, see
:class:`semalign.align.Aligner`).

These are the d_s x d_s forms, used by streaming fits and by fits with n >= d_s anchors; a
full-rank fit skips the span (no eigenvectors) and solves least squares by Cholesky. Anchors at
hand with n < d_s go through :mod:`semalign.align.thin` instead, to the same maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from semalign.align.moments import Moments
from semalign.align.rank import gram_span, rank_tolerance

METHODS: tuple[str, ...] = (
    "orthogonal",
    "similarity",
    "linear",
    "affine",
    "ridge",
    "ridge-cv",
    "lstsq-orthogonal",
    "sgd-affine",
)

#: methods with an exact streaming fit (sgd-affine also streams: it descends on the moments;
#: ridge-cv does not: it holds anchors out, so it needs them at hand)
CLOSED_FORM = frozenset(METHODS) - {"sgd-affine", "ridge-cv"}


@dataclass
class Fitted:
    """An estimated map; ``map_rank`` is the rank of the orthogonal family's partial isometry
    (None for the other methods), ``converged`` whether ``sgd-affine`` met its tolerance."""

    weight: np.ndarray
    bias: np.ndarray
    scale: float = 1.0
    n_iter: int = 0
    converged: bool = True
    map_rank: int | None = None


def polar(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Partial isometry of m (p, q) and its kept singular values (r,).

    ``U_r V_r^T`` over the singular values above ``max(p, q) * eps64`` times the largest (the
    numerical zeros): the nearest (semi-)orthogonal matrix when m has full rank, and otherwise
    the unique map that is isometric on m's column space and zero on its complement.
    """
    u, sv, vt = np.linalg.svd(m, full_matrices=False)
    top = float(sv.max(initial=0.0))
    r = int(np.count_nonzero(sv > max(m.shape) * np.finfo(np.float64).eps * top))
    return u[:, :r] @ vt[:r], sv[:r]


def _determined_gram_xy(m: Moments, full_rank: bool = False) -> np.ndarray:
    """``X^T Y`` (d_s, d_t) with its rows projected onto the span the anchors determine (all
    of it when ``full_rank``: the rank rule counted every direction, so no eigenvectors)."""
    if full_rank:
        return m.gram_xy()
    span = gram_span(m.gram_xx())
    return span @ (span.T @ m.gram_xy())


def psd_solve(gram: np.ndarray, rhs: np.ndarray, rcond: float | None = None) -> np.ndarray:
    """Minimum-norm solution of ``gram @ W = rhs`` for a symmetric PSD gram (d, d).

    Eigenvalues below ``rcond * max eigenvalue`` are treated as zero; the default is the rank
    rule's cut-off ``rank_tolerance(d) ** 2`` (eigenvalues are squared singular values), so the
    solve discards exactly the directions that the anchors' numerical rank does not count.
    """
    evals, evecs = np.linalg.eigh(gram)
    top = float(evals.max(initial=0.0))
    cutoff = (rcond if rcond is not None else rank_tolerance(gram.shape[0]) ** 2) * top
    inv = np.zeros_like(evals)
    keep = evals > cutoff
    inv[keep] = 1.0 / evals[keep]
    return evecs @ ((evecs.T @ rhs) * inv[:, None])


def _solve(gram: np.ndarray, rhs: np.ndarray, rcond: float | None, full_rank: bool) -> np.ndarray:
    """:func:`psd_solve`; by Cholesky when the rank rule counted every direction and the
    default cut-off applies (then no eigenvalue is discarded and the two solutions agree)."""
    if full_rank and rcond is None:
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        try:
            return np.ascontiguousarray(cho_solve(cho_factor(gram, check_finite=False), rhs))
        except LinAlgError:
            pass
    return psd_solve(gram, rhs, rcond)


def orthogonal(m: Moments, full_rank: bool = False) -> Fitted:
    """Orthogonal Procrustes: argmin_R ||X R - Y||_F with R^T R = I (no bias); the partial
    isometry of ``X^T Y`` when the anchors do not determine R."""
    r, sv = polar(_determined_gram_xy(m, full_rank))
    return Fitted(r, np.zeros(m.mean_y.shape[0]), map_rank=sv.size)


def similarity(m: Moments, full_rank: bool = False) -> Fitted:
    """Extended Procrustes: argmin_{s,R} ||s X R - Y||_F, one global scale s > 0."""
    r, sv = polar(_determined_gram_xy(m, full_rank))
    denom = m.trace_xx()
    s = float(sv.sum() / denom) if denom > 0 else 1.0
    return Fitted(s * r, np.zeros(m.mean_y.shape[0]), scale=s, map_rank=sv.size)


def linear(m: Moments, rcond: float | None = None, full_rank: bool = False) -> Fitted:
    """Least squares without bias: argmin_W ||X W - Y||_F (minimum norm if rank-deficient)."""
    w = _solve(m.gram_xx(), m.gram_xy(), rcond, full_rank)
    return Fitted(w, np.zeros(m.mean_y.shape[0]))


def affine(m: Moments, rcond: float | None = None, full_rank: bool = False) -> Fitted:
    """Least squares with bias: argmin_{W,b} ||X W + 1 b^T - Y||_F."""
    assert m.cxx is not None
    w = _solve(m.cxx, m.cxy, rcond, full_rank)
    return Fitted(w, m.mean_y - m.mean_x @ w)


def ridge(m: Moments, alpha: float) -> Fitted:
    """Affine least squares with ``alpha ||W||_F^2`` (the bias is not penalised)."""
    assert m.cxx is not None
    d = m.cxx.shape[0]
    w = np.linalg.solve(m.cxx + alpha * np.eye(d), m.cxy)
    return Fitted(w, m.mean_y - m.mean_x @ w)


def lstsq_orthogonal(m: Moments, rcond: float | None = None, full_rank: bool = False) -> Fitted:
    """Minimum-norm least squares without bias, then its partial isometry (:func:`polar`)."""
    r, sv = polar(linear(m, rcond, full_rank).weight)
    return Fitted(r, np.zeros(m.mean_y.shape[0]), map_rank=sv.size)


def sgd_affine(
    m: Moments,
    *,
    alpha: float,
    lr: float | None,
    max_iter: int,
    tol: float,
    seed: int,
) -> Fitted:
    """Affine map by full-batch Nesterov gradient descent on the mean squared error.

    The loss ``(1/n) ||X W + 1 b^T - Y||^2 + alpha ||W||^2`` and its gradient depend on the data
    only through the moments, so a streaming fit descends exactly as a one-shot fit would.
    W starts from a seeded Gaussian draw, b from zero. Stops when the gradient norm falls
    below ``tol`` times its initial value (``converged``), or after ``max_iter`` steps.
    """
    assert m.cxx is not None
    cov = m.cxx / m.n
    mx = m.mean_x
    aug_top = float(np.linalg.eigvalsh(cov + np.outer(mx, mx)).max(initial=0.0))
    return nesterov(
        lambda v: cov @ v,
        m.cxy / m.n,
        mx,
        m.mean_y,
        aug_top,
        alpha=alpha,
        lr=lr,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
    )


def nesterov(
    apply_cov: Callable[[np.ndarray], np.ndarray],
    cross: np.ndarray,
    mx: np.ndarray,
    my: np.ndarray,
    aug_top: float,
    *,
    alpha: float,
    lr: float | None,
    max_iter: int,
    tol: float,
    seed: int,
) -> Fitted:
    """The descent of :func:`sgd_affine` on the centred covariance (applied by ``apply_cov``
    to a (d_s, d_t) matrix), the centred cross-covariance ``cross`` (d_s, d_t), the means, and
    ``aug_top``, the largest eigenvalue of the uncentred ``X^T X / n``."""
    d_s, d_t = cross.shape
    # gradients of the loss are expressed in centred coordinates plus a mean term, which keeps
    # the curvature well conditioned: the W block sees cxx/n, the b block the identity.
    lipschitz = 2.0 * (max(aug_top, 1.0) + np.sqrt(mx @ mx) + alpha)
    step = lr if lr is not None else 1.0 / lipschitz
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=1.0 / np.sqrt(max(d_s, 1)), size=(d_s, d_t))
    b = np.zeros(d_t)
    w_prev, b_prev = w.copy(), b.copy()
    g0 = None
    it = 0
    converged = False
    for it in range(1, max_iter + 1):
        mom = (it - 1) / (it + 2)
        vw = w + mom * (w - w_prev)
        vb = b + mom * (b - b_prev)
        resid_mean = mx @ vw + vb - my  # mean residual (d_t,)
        grad_w = 2.0 * (apply_cov(vw) - cross + np.outer(mx, resid_mean) + alpha * vw)
        grad_b = 2.0 * resid_mean
        gnorm = float(np.sqrt((grad_w**2).sum() + (grad_b**2).sum()))
        if g0 is None:
            g0 = max(gnorm, np.finfo(np.float64).tiny)
        w_prev, b_prev = w, b
        w = vw - step * grad_w
        b = vb - step * grad_b
        if gnorm <= tol * g0:
            converged = True
            break
    return Fitted(w, b, n_iter=it, converged=converged)
