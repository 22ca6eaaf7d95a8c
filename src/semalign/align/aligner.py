"""The :class:`Aligner`: preprocessing + estimator, fitted on paired anchors.

``transform`` = source preprocessing -> map -> inverse target preprocessing, so outputs are in
the target space's own units. Follows the scikit-learn estimator conventions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from semalign.align import estimators as est
from semalign.align._arrays import check_paired
from semalign.align.io import aligner_state, read_aligner_artefact, save_aligner
from semalign.align.moments import Moments
from semalign.align.preprocessing import (
    Scaler,
    centres,
    check_scaling,
    normalises_rows,
    prepare,
    safe_std,
    scales,
)
from semalign.align.rank import BIASED_METHODS, gram_rank, needed_rank
from semalign.align.ridgecv import FOLDS, CrossValidation, choose_alpha, content_folds
from semalign.align.thin import ThinAnchors
from semalign.arrays import as_float64_2d, is_torch
from semalign.errors import FormatError, InputError, RankDeficientError, SemalignError

ChunkSource = Callable[[], Iterable[tuple[Any, Any]]]


def _own(arr: np.ndarray, given: Any) -> np.ndarray:
    """``arr``, copied when it is the caller's own numpy array (kept after ``fit`` returns)."""
    if isinstance(given, np.ndarray) and np.may_share_memory(arr, given):
        return arr.copy()
    return arr


APPLY_BLOCK = 16_384  # rows per float64 block when applying a map to float32 numpy input


def _in_float64(x: Any, width: int, apply: Callable[[Any], Any]) -> Any:
    """``apply(x)`` (n, width), computed in float64 for numpy floats narrower than float64.

    The result keeps x's dtype, rounded once; blocks of ``APPLY_BLOCK`` rows bound the float64
    copies. Torch tensors and float64 (or wider) arrays are passed to ``apply`` as they are.
    """
    if is_torch(x) or x.dtype.itemsize >= 8:
        return apply(x)
    out = np.empty((x.shape[0], width), dtype=x.dtype)
    for s in range(0, x.shape[0], APPLY_BLOCK):
        out[s : s + APPLY_BLOCK] = apply(x[s : s + APPLY_BLOCK].astype(np.float64))
    return out


class NotFittedError(SemalignError, AttributeError):
    """The aligner was used before ``fit``/``partial_fit``."""


class ConvergenceWarning(UserWarning):
    """An iterative fit (``sgd-affine``) stopped at ``max_iter`` before meeting ``tol``."""


def min_anchors(method: str, scaling: str, d_source: int) -> int:
    """Fewest paired anchor *rows* with which ``method`` under ``scaling`` can be determined.

    Necessary, not sufficient: duplicated or collinear anchors have a lower rank than their
    row count, which every fit checks too (see :func:`semalign.align.rank_problem`).
    """
    base = 2 if centres(scaling) or scales(scaling) else 1
    if method == "linear":
        return d_source + (1 if centres(scaling) else 0)
    if method == "affine":
        return d_source + 1
    return base


class Aligner:
    """Map a source latent space (n, d_s) into a target latent space (n, d_t).

    Args:
        method: one of :data:`METHODS`.
        scaling: one of :data:`SCALINGS`, fitted on each side's anchors.
        alpha: L2 penalty of ``ridge`` (default 1.0) and weight decay of ``sgd-affine``
            (default 0.0); ``ridge-cv`` chooses its own (:mod:`semalign.align.ridgecv`).
        lr: step size of ``sgd-affine`` (default: 1 / Lipschitz constant).
        max_iter, tol: stopping rule of ``sgd-affine``.
        seed: seed of ``sgd-affine``'s initialisation and of ``ridge-cv``'s folds.
        rcond: relative eigenvalue cut-off of the least-squares solves (default: the rank
            rule's, see :mod:`semalign.align.rank`).

    ``fit`` with fewer anchors than source dimensions (n < d_s) takes the thin path
    (:mod:`semalign.align.thin`: one n x n eigendecomposition, O(n^2 d_s + n d_s d_t)); streaming,
    block-reduced and n >= d_s fits work from the d_s x d_s moments. The maps are the same.

    Fitting checks the numerical rank of the preprocessed source anchors: ``linear``, ``affine``
    and ``sgd-affine`` without weight decay raise :class:`RankDeficientError` below full rank;
    ``ridge`` and the orthogonal family then send the directions outside the anchors' span to
    zero (``null_space_ == "zero"``), a choice independent of the anchors' order.

    Fitted attributes: ``weight_`` (d_s, d_t), ``bias_`` (d_t,), ``scale_`` (similarity's
    global scale), ``source_scaler_``, ``target_scaler_``, ``n_anchors_``, ``n_features_in_``,
    ``n_features_out_``, ``rank_`` (numerical rank of the preprocessed source anchors),
    ``null_space_`` ("none" or "zero"), ``n_iter_`` and ``converged_`` (``sgd-affine``),
    ``alpha_`` (the penalty used; chosen by cross-validation on the anchors for ``ridge-cv``,
    whose grid and scores are in ``cv_``).

    ``ridge-cv`` needs the anchors at hand (``fit``): streaming fits have no rows to hold out.
    """

    def __init__(
        self,
        method: str = "orthogonal",
        scaling: str = "standard",
        *,
        alpha: float | None = None,
        lr: float | None = None,
        max_iter: int = 2000,
        tol: float = 1e-7,
        seed: int = 0,
        rcond: float | None = None,
    ) -> None:
        self.method = method
        self.scaling = scaling
        self.alpha = alpha
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.rcond = rcond
        self._reset()

    # -- scikit-learn plumbing -------------------------------------------------------------

    _PARAMS = ("method", "scaling", "alpha", "lr", "max_iter", "tol", "seed", "rcond")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> Aligner:
        for key, value in params.items():
            if key not in self._PARAMS:
                raise InputError(
                    f"unknown parameter {key!r}: choose from {', '.join(self._PARAMS)}"
                )
            setattr(self, key, value)
        self._reset()
        return self

    def __repr__(self) -> str:
        return f"Aligner(method={self.method!r}, scaling={self.scaling!r})"

    def _reset(self) -> None:
        self._moments: Moments | None = None
        # anchors (x, y) kept by ``fit`` when n < d_s: the thin path fits from them directly
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        # an AnchorSet (semalign.align.sweep) whose preprocessing and factorisations this fit
        # shares with others on the same anchors
        self._shared: Any = None
        self._centre: tuple[np.ndarray, np.ndarray] | None = None  # center-l2's anchor means
        self._fitted: dict[str, Any] | None = None
        self._cache: dict[Any, Any] = {}
        self._cv: CrossValidation | None = None  # ridge-cv's choice, made where rows are at hand

    def _check_params(self) -> None:
        if self.method not in est.METHODS:
            raise InputError(
                f"unknown method {self.method!r}: choose one of {', '.join(est.METHODS)}"
            )
        check_scaling(self.scaling)
        if self.method == "ridge" and self.alpha is not None and not self.alpha > 0:
            raise InputError(f"ridge needs alpha > 0, got {self.alpha}")
        if self.method == "sgd-affine" and self.alpha is not None and self.alpha < 0:
            raise InputError(f"sgd-affine needs alpha >= 0, got {self.alpha}")
        if self.method == "sgd-affine" and self.max_iter < 1:
            raise InputError(f"sgd-affine needs max_iter >= 1, got {self.max_iter}")
        if self.method == "ridge-cv" and self.alpha is not None:
            raise InputError(
                f"ridge-cv chooses alpha by cross-validation on the anchors, got alpha="
                f"{self.alpha}: leave alpha unset, or use method 'ridge' for a fixed alpha"
            )

    def _check_rows_at_hand(self, how: str) -> None:
        if self.method == "ridge-cv":
            raise InputError(
                f"ridge-cv chooses alpha by holding out anchors, which {how} does not keep: "
                "fit(X, Y) on the anchors at hand, or use method 'ridge' with a fixed alpha"
            )

    def _cross_validate(self, x: np.ndarray, y: np.ndarray) -> None:
        """ridge-cv: choose alpha on the preprocessed anchors (folds from the raw rows)."""
        if self.method != "ridge-cv":
            return
        mu_x, mu_y = self._centre or (None, None)
        _, z = prepare(x, self.scaling, mu_x)
        _, t = prepare(y, self.scaling, mu_y)
        folds = content_folds(x, y, min(FOLDS, x.shape[0]), self.seed)
        self._cv = choose_alpha(z, t, folds)

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, Y: Any) -> Aligner:
        """Fit on paired anchors X (n, d_s) and Y (n, d_t); returns self."""
        self._check_params()
        x = as_float64_2d(X, "source")
        y = as_float64_2d(Y, "target")
        check_paired(x, y)
        self._reset()
        if self.scaling == "center-l2":
            self._centre = (x.mean(axis=0), y.mean(axis=0))
        self._cross_validate(x, y)
        if self._thin_fit(x.shape[0], x.shape[1]):
            # the thin path: no d x d moments; keep private copies for a later partial_fit
            self._data = (_own(x, X), _own(y, Y))
        else:
            self._moments = self._array_moments(x, y)
        self._finalize()
        return self

    def _fit_shared(self, anchors: Any) -> Aligner:
        """``fit`` on an :class:`semalign.align.sweep.AnchorSet`, sharing its work."""
        self._check_params()
        x, y = anchors.x, anchors.y
        self._reset()
        self._shared = anchors
        if self.scaling == "center-l2":
            self._centre = anchors.means()
        self._cross_validate(x, y)
        if self._thin_fit(x.shape[0], x.shape[1]):
            self._data = (x, y)
        else:
            self._moments = anchors.moments(self.scaling, self._array_moments)
        self._finalize()
        return self

    def _thin_fit(self, n: int, d_s: int) -> bool:
        """Whether anchors at hand are fitted by the thin path (fewer rows than source
        dimensions; ``linear``/``affine`` need rank d_s and are refused either way)."""
        return n < d_s and self.method not in {"linear", "affine"}

    def _array_moments(self, x: np.ndarray, y: np.ndarray) -> Moments:
        if self.scaling == "center-l2":
            assert self._centre is not None
            return self._row_moments(x, y, *self._centre)
        return self._chunk_moments(x, y)

    def partial_fit(self, X: Any, Y: Any) -> Aligner:
        """Accumulate one chunk of paired anchors; the map equals ``fit`` on all chunks.

        Memory is O(d^2) whatever the number of chunks. ``center-l2`` needs the anchor means
        before it can normalise rows, so it streams through :meth:`fit_stream` (two passes).
        """
        self._check_params()
        self._check_rows_at_hand("partial_fit")
        if self.scaling == "center-l2":
            raise InputError(
                "scaling 'center-l2' needs the anchor means before normalising rows, so it "
                "cannot be fitted chunk by chunk in one pass: use fit_stream(make_chunks), "
                "which reads the chunks twice, or scaling 'l2' or 'standard'"
            )
        x = as_float64_2d(X, "source chunk", allow_empty=True)
        y = as_float64_2d(Y, "target chunk", allow_empty=True)
        check_paired(x, y, "source chunk", "target chunk")
        if x.shape[0] == 0:
            return self
        if self._data is not None:  # a thin fit before: its anchors become moments now
            self._moments = self._array_moments(*self._data)
            self._data = None
        self._shared = None
        if self._moments is not None:
            d_s, d_t = self._moments.cxy.shape
            if (x.shape[1], y.shape[1]) != (d_s, d_t):
                raise InputError(
                    f"chunk has widths ({x.shape[1]}, {y.shape[1]}) but earlier chunks had "
                    f"({d_s}, {d_t}): every chunk must come from the same two encoders"
                )
        chunk = self._chunk_moments(x, y)
        self._moments = chunk if self._moments is None else self._moments.merge(chunk)
        self._fitted = None
        self._cache = {}
        return self

    def fit_stream(self, make_chunks: ChunkSource) -> Aligner:
        """Fit from a re-iterable source of (X_chunk, Y_chunk) pairs, in O(d^2) memory.

        ``make_chunks()`` must return a fresh iterator each call; it is called once, or twice
        for ``center-l2`` (means first, then the normalised moments).
        """
        self._check_params()
        self._check_rows_at_hand("fit_stream")
        self._reset()
        if self.scaling != "center-l2":
            for xc, yc in make_chunks():
                self.partial_fit(xc, yc)
            self._require_data()
            self._finalize()
            return self
        n = 0
        sum_x: np.ndarray | None = None
        sum_y: np.ndarray | None = None
        for xc, yc in make_chunks():
            x = as_float64_2d(xc, "source chunk")
            y = as_float64_2d(yc, "target chunk")
            check_paired(x, y, "source chunk", "target chunk")
            sum_x = x.sum(axis=0) if sum_x is None else sum_x + x.sum(axis=0)
            sum_y = y.sum(axis=0) if sum_y is None else sum_y + y.sum(axis=0)
            n += x.shape[0]
        if sum_x is None or sum_y is None or n == 0:
            raise InputError("the chunk source yielded no anchors: check make_chunks()")
        mu_x, mu_y = sum_x / n, sum_y / n
        moments: Moments | None = None
        for xc, yc in make_chunks():
            x = as_float64_2d(xc, "source chunk")
            y = as_float64_2d(yc, "target chunk")
            chunk = self._row_moments(x, y, mu_x, mu_y)
            moments = chunk if moments is None else moments.merge(chunk)
        if moments is None or moments.n != n:
            raise InputError(
                "make_chunks() yielded different anchors on its second pass: it must return "
                "the same chunks every time it is called"
            )
        self._moments = moments
        self._centre = (mu_x, mu_y)
        self._finalize()
        return self

    def block_moments(self, X: Any, Y: Any, means: tuple[Any, Any] | None = None) -> Moments:
        """Sufficient statistics of one block of paired anchors, for a fit reduced elsewhere.

        Merge every block's moments with ``Moments.merge`` (in any grouping) and pass the total
        to :meth:`fit_moments` of an Aligner with the same parameters. ``center-l2`` needs
        ``means`` = (mean_x (d_s,), mean_y (d_t,)) of all anchors, from a first pass.
        """
        self._check_params()
        x = as_float64_2d(X, "source block")
        y = as_float64_2d(Y, "target block")
        check_paired(x, y, "source block", "target block")
        if self.scaling != "center-l2":
            return self._chunk_moments(x, y)
        mu_x, mu_y = self._means(means)
        return self._row_moments(x, y, mu_x, mu_y)

    def fit_moments(self, moments: Moments, means: tuple[Any, Any] | None = None) -> Aligner:
        """Fit from the merged :meth:`block_moments` of all anchors; returns self."""
        self._check_params()
        self._check_rows_at_hand("fit_moments")
        if moments.cxx is None:
            raise InputError(
                "these moments lack the source co-moment X^T X, which every fit needs to count "
                "the anchors' rank: compute them with Aligner.block_moments"
            )
        centre = self._means(means) if self.scaling == "center-l2" else None
        self._reset()
        self._moments = moments
        if centre is not None:
            self._centre = centre
        self._finalize()
        return self

    def _means(self, means: tuple[Any, Any] | None) -> tuple[np.ndarray, np.ndarray]:
        if means is None:
            raise InputError(
                "scaling 'center-l2' needs the anchors' means (mean_x, mean_y): compute them "
                "over all anchors in a first pass and pass means=(mean_x, mean_y)"
            )
        mu_x = np.asarray(means[0], dtype=np.float64).ravel()
        mu_y = np.asarray(means[1], dtype=np.float64).ravel()
        return mu_x, mu_y

    def _chunk_moments(self, x: np.ndarray, y: np.ndarray) -> Moments:
        if self.scaling == "l2":
            return self._row_moments(x, y, np.zeros(x.shape[1]), np.zeros(y.shape[1]))
        return Moments.from_arrays(x, y, True)

    def _row_moments(
        self, x: np.ndarray, y: np.ndarray, mu_x: np.ndarray, mu_y: np.ndarray
    ) -> Moments:
        xc, yc = x - mu_x, y - mu_y
        nx = np.linalg.norm(xc, axis=1, keepdims=True)
        ny = np.linalg.norm(yc, axis=1, keepdims=True)
        return Moments.from_arrays(
            xc / np.where(nx > 0, nx, 1.0),
            yc / np.where(ny > 0, ny, 1.0),
            True,
            float(nx.sum()),
            float(ny.sum()),
        )

    def _require_data(self) -> Moments:
        if self._moments is None or self._moments.n == 0:
            raise NotFittedError("this Aligner is not fitted yet: call fit(X, Y) first")
        return self._moments

    def _finalize(self) -> None:
        """Rank check and estimate: thin (n x n eigendecomposition, :mod:`.thin`) for anchors
        at hand with n < d_s, otherwise from the moments (d_s x d_s)."""
        if self._data is not None:
            x, y = self._data
            n, d_s, d_t = x.shape[0], x.shape[1], y.shape[1]
        else:
            m = self._require_data()
            n, (d_s, d_t) = m.n, m.cxy.shape
        problem = self._row_problem(n, d_s)
        if problem:
            raise InputError(problem)
        needed = needed_rank(self.method, d_s, self.alpha)
        biased = self.method in BIASED_METHODS
        if self._data is not None:
            if self._shared is not None:
                src, tgt, thin = self._shared.thin(self.scaling, self._thin_anchors)
            else:
                src, tgt, thin = self._thin_anchors(*self._data)
            rank = thin.rank(biased)
        else:
            src, tgt, pm = self._scalers(m, self._centre)
            if self._shared is not None:
                rank = self._shared.rank(self.scaling, biased, lambda: self._rank(pm))
            else:
                rank = self._rank(pm)
        if rank < needed:
            raise RankDeficientError(
                self._rank_message(n, d_s, rank, needed), rank=rank, needed=needed
            )
        if self._data is not None:
            fitted = self._estimate_thin(thin)
        else:
            fitted = self._estimate(pm, full_rank=rank == d_s)
        if fitted.map_rank is not None:
            zero = fitted.map_rank < min(d_s, d_t)
        else:
            zero = rank < d_s
        if not fitted.converged:
            warnings.warn(
                f"sgd-affine stopped after max_iter={self.max_iter} steps before its gradient "
                f"fell below tol={self.tol} of its start: raise max_iter, or use the "
                "closed-form 'affine' or 'ridge'",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._fitted = {
            "source_scaler": src,
            "target_scaler": tgt,
            "weight": fitted.weight,
            "bias": fitted.bias,
            "scale": fitted.scale,
            "n_iter": fitted.n_iter,
            "converged": fitted.converged,
            "n_anchors": n,
            "rank": rank,
            "null_space": "zero" if zero else "none",
            "alpha": self._penalty(),
            "cv": None if self._cv is None else self._cv.as_dict(),
        }
        self._cache = {}

    def _penalty(self) -> float | None:
        """The penalty of the fitted map: ridge's alpha, ridge-cv's choice, sgd-affine's decay."""
        if self.method == "ridge-cv":
            assert self._cv is not None
            return self._cv.alpha
        if self.method in {"ridge", "sgd-affine"}:
            default = 1.0 if self.method == "ridge" else 0.0
            return float(default if self.alpha is None else self.alpha)
        return None

    def _row_problem(self, n: int, d_s: int) -> str | None:
        needed = min_anchors(self.method, self.scaling, d_s)
        if n >= needed:
            return None
        return (
            f"method {self.method!r} with scaling {self.scaling!r} needs at least {needed} "
            f"anchors for a {d_s}-dimensional source, got {n}: add anchors or use "
            "'orthogonal' or 'ridge', which work with few"
        )

    def _rank_message(self, n: int, d_s: int, rank: int, needed: int) -> str:
        return (
            f"the {n} source anchors have numerical rank {rank} after scaling "
            f"{self.scaling!r}, but method {self.method!r} needs rank {needed} (the source "
            f"dimension) to be determined: use method='ridge' or an orthogonal method, reduce "
            f"the source to at most {rank} dimensions, or add distinct anchors"
        )

    def _rank(self, pm: Moments) -> int:
        """Numerical rank of the preprocessed source anchors (centred for biased methods)."""
        assert pm.cxx is not None
        return gram_rank(pm.cxx if self.method in BIASED_METHODS else pm.gram_xx())

    def _thin_anchors(self, x: np.ndarray, y: np.ndarray) -> tuple[Scaler, Scaler, ThinAnchors]:
        """The scalers and the preprocessed anchors of a thin fit."""
        mu_x, mu_y = self._centre or (None, None)
        src, z = prepare(x, self.scaling, mu_x)
        tgt, t = prepare(y, self.scaling, mu_y)
        return src, tgt, ThinAnchors(z, t, centred=self.scaling in {"center", "standard"})

    def _source_moments(self, X: Any) -> Moments:
        """Preprocessed moments of source anchors alone (a zero-width target)."""
        self._check_params()
        x = as_float64_2d(X, "source")
        y = np.zeros((x.shape[0], 0))
        centre = None
        if self.scaling == "center-l2":
            centre = (x.mean(axis=0), np.zeros(0))
            m = self._row_moments(x, y, *centre)
        else:
            m = self._chunk_moments(x, y)
        return self._scalers(m, centre)[2]

    def anchor_rank(self, X: Any) -> int:
        """Numerical rank of source anchors X (n, d_s) as :meth:`fit` counts it."""
        self._check_params()
        x = as_float64_2d(X, "source")
        if x.shape[0] < x.shape[1]:
            _, z = prepare(x, self.scaling)
            thin = ThinAnchors(z, np.zeros((x.shape[0], 0)), self.scaling in {"center", "standard"})
            return thin.rank(self.method in BIASED_METHODS)
        return self._rank(self._source_moments(x))

    def rank_problem(self, X: Any) -> str | None:
        """The one-sentence reason :meth:`fit` would refuse source anchors X (n, d_s) for their
        row count or rank, or None (lets a caller skip a grid cell with a reason)."""
        x = as_float64_2d(X, "source")
        n, d_s = x.shape
        problem = self._row_problem(n, d_s)
        if problem:
            return problem
        rank = self.anchor_rank(x)
        needed = needed_rank(self.method, d_s, self.alpha)
        return self._rank_message(n, d_s, rank, needed) if rank < needed else None

    def _scalers(
        self, m: Moments, centre: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[Scaler, Scaler, Moments]:
        d_s, d_t = m.cxy.shape
        s = self.scaling
        if normalises_rows(s):
            mu_x, mu_y = centre or (np.zeros(d_s), np.zeros(d_t))
            src = Scaler(s, mu_x, np.ones(d_s), m.norm_x_sum / m.n)
            tgt = Scaler(s, mu_y, np.ones(d_t), m.norm_y_sum / m.n)
            return src, tgt, m
        mu_x = m.mean_x if centres(s) else np.zeros(d_s)
        mu_y = m.mean_y if centres(s) else np.zeros(d_t)
        sd_x = safe_std(m.cxx_diag / m.n) if scales(s) else np.ones(d_s)
        sd_y = safe_std(m.cyy_diag / m.n) if scales(s) else np.ones(d_t)
        src, tgt = Scaler(s, mu_x, sd_x), Scaler(s, mu_y, sd_y)
        return src, tgt, m.rescaled(mu_x, sd_x, mu_y, sd_y)

    def _estimate_thin(self, a: ThinAnchors) -> est.Fitted:
        method = self.method
        if method == "orthogonal":
            return a.orthogonal()
        if method == "similarity":
            return a.similarity()
        if method in {"ridge", "ridge-cv"}:
            return a.ridge(self._penalty() or 1.0)
        if method == "lstsq-orthogonal":
            return a.lstsq_orthogonal(self.rcond)
        assert method == "sgd-affine", method  # linear/affine need rank d_s > n
        return a.sgd_affine(
            alpha=0.0 if self.alpha is None else self.alpha,
            lr=self.lr,
            max_iter=self.max_iter,
            tol=self.tol,
            seed=self.seed,
        )

    def _estimate(self, m: Moments, full_rank: bool = False) -> est.Fitted:
        """The estimate from preprocessed moments; ``full_rank``: the rank rule counted every
        source direction (no span to project on, Cholesky solves)."""
        method = self.method
        if method == "orthogonal":
            return est.orthogonal(m, full_rank)
        if method == "similarity":
            return est.similarity(m, full_rank)
        if method == "linear":
            return est.linear(m, self.rcond, full_rank)
        if method == "affine":
            return est.affine(m, self.rcond, full_rank)
        if method in {"ridge", "ridge-cv"}:
            return est.ridge(m, self._penalty() or 1.0)
        if method == "lstsq-orthogonal":
            return est.lstsq_orthogonal(m, self.rcond, full_rank)
        return est.sgd_affine(
            m,
            alpha=0.0 if self.alpha is None else self.alpha,
            lr=self.lr,
            max_iter=self.max_iter,
            tol=self.tol,
            seed=self.seed,
        )

    # -- fitted state ----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        if self._fitted is None:
            self._finalize()
        assert self._fitted is not None
        return self._fitted

    @property
    def weight_(self) -> np.ndarray:
        return self._state()["weight"]

    @property
    def bias_(self) -> np.ndarray:
        return self._state()["bias"]

    @property
    def scale_(self) -> float:
        return float(self._state()["scale"])

    @property
    def n_iter_(self) -> int:
        return int(self._state()["n_iter"])

    @property
    def converged_(self) -> bool:
        """False when ``sgd-affine`` stopped at ``max_iter`` (True for closed forms)."""
        return bool(self._state()["converged"])

    @property
    def rank_(self) -> int:
        """Numerical rank of the preprocessed source anchors (:mod:`semalign.align.rank`)."""
        return int(self._state()["rank"])

    @property
    def null_space_(self) -> str:
        """ "zero" when the anchors leave source directions undetermined and the map sends them
        to zero, "none" when the anchors determine the map."""
        return str(self._state()["null_space"])

    @property
    def alpha_(self) -> float | None:
        """The penalty the map was fitted with (``ridge``, ``ridge-cv``, ``sgd-affine``)."""
        alpha = self._state().get("alpha")
        return None if alpha is None else float(alpha)

    @property
    def cv_(self) -> dict[str, Any] | None:
        """``ridge-cv``'s choice: alpha, the grid, held-out MSE per alpha, the fold count."""
        return self._state().get("cv")

    @property
    def source_scaler_(self) -> Scaler:
        return self._state()["source_scaler"]

    @property
    def target_scaler_(self) -> Scaler:
        return self._state()["target_scaler"]

    @property
    def n_anchors_(self) -> int:
        return int(self._state()["n_anchors"])

    @property
    def source_encoder_(self) -> str | None:
        """Source encoder id recorded when the map was saved, if any."""
        return self._state().get("source_encoder")

    @property
    def target_encoder_(self) -> str | None:
        """Target encoder id recorded when the map was saved, if any."""
        return self._state().get("target_encoder")

    @property
    def n_features_in_(self) -> int:
        return int(self.weight_.shape[0])

    @property
    def n_features_out_(self) -> int:
        return int(self.weight_.shape[1])

    @property
    def invertible(self) -> bool:
        """Whether the map is injective, so that :meth:`inverse_transform` recovers sources."""
        if "invertible" not in self._cache:
            w = self.weight_
            ok = w.shape[0] <= w.shape[1]
            if ok:
                sv = np.linalg.svd(w, compute_uv=False)
                ok = bool(sv.min() > sv.max() * max(w.shape) * np.finfo(np.float64).eps)
            self._cache["invertible"] = ok
        return bool(self._cache["invertible"])

    def _set_state(self, state: dict[str, Any]) -> None:
        """Install a fitted state (used by :func:`load_aligner`)."""
        self._moments = None
        self._fitted = state
        self._cache = {}

    # -- applying --------------------------------------------------------------------------

    def transform(self, X: Any) -> Any:
        """Map source embeddings X (m, d_s) to the target space (m, d_t).

        Returns the same kind as X (numpy array or torch tensor on X's device) in X's float
        dtype (float64 for integer input). Numpy input narrower than float64 (float32 as the
        store gives it) is computed in float64, ``APPLY_BLOCK`` rows at a time, and rounded
        once: a fitted map can amplify float32 arithmetic's rounding far beyond float32's eps.
        Torch tensors are computed in their own dtype on their device.
        """
        x = self._check_input(X, self.n_features_in_, "source")
        return _in_float64(x, self.n_features_out_, self._forward)

    def _forward(self, x: Any) -> Any:
        st = self._state()
        src, tgt = st["source_scaler"], st["target_scaler"]
        if src.is_affine and tgt.is_affine:
            a, c = self._folded("forward", x)
            return x @ a + c
        w, b = self._like(x, "map", lambda: (st["weight"], st["bias"]))
        return tgt.inverse(src.transform(x) @ w + b)

    def inverse_transform(self, Y: Any) -> Any:
        """Map target embeddings Y (m, d_t) back to the source space (m, d_s).

        Exact for injective maps (d_s <= d_t and full-rank W): the target preprocessing is undone
        exactly (with row-normalising scalings, divided by the anchors' mean norm, not
        re-normalised); rows normalised on the source side come back with the source anchors'
        mean norm. Computed as :meth:`transform` is (float64 for narrower numpy input).
        """
        if not self.invertible:
            d_s, d_t = self.weight_.shape
            reason = (
                f"it projects {d_s} source dimensions onto {d_t}"
                if d_s > d_t
                else "its weight matrix is rank-deficient"
            )
            raise InputError(
                f"this {self.method!r} map cannot be inverted because {reason}: fit a second "
                "Aligner in the reverse direction (target -> source) instead"
            )
        y = self._check_input(Y, self.n_features_out_, "target")
        return _in_float64(y, self.n_features_in_, self._inverse)

    def _inverse(self, y: Any) -> Any:
        st = self._state()
        src, tgt = st["source_scaler"], st["target_scaler"]
        if src.is_affine and tgt.is_affine:
            a, c = self._folded("inverse", y)
            return y @ a + c
        p, b = self._like(y, "pinv", lambda: (np.linalg.pinv(st["weight"]), st["bias"]))
        return src.inverse((tgt.scaled(y) - b) @ p)

    def _check_input(self, X: Any, width: int, name: str) -> Any:
        if not is_torch(X):
            X = np.asarray(X)
            if not np.issubdtype(X.dtype, np.floating):
                X = X.astype(np.float64)
        if X.ndim != 2 or X.shape[1] != width:
            raise InputError(
                f"{name} input has shape {tuple(X.shape)} but this aligner expects (n, {width}): "
                f"pass embeddings from the encoder the aligner was fitted on"
            )
        return X

    def _folded(self, direction: str, x: Any) -> tuple[Any, Any]:
        """The whole pipeline as one affine map ``x @ A + c`` in raw units."""

        def build() -> tuple[np.ndarray, np.ndarray]:
            st = self._state()
            src, tgt = st["source_scaler"], st["target_scaler"]
            w, b = st["weight"], st["bias"]
            if direction == "forward":
                a = (w / src.scale[:, None]) * tgt.scale[None, :]
                c = (b - (src.mean / src.scale) @ w) * tgt.scale + tgt.mean
                return a, c
            p = np.linalg.pinv(w)
            a = (p / tgt.scale[:, None]) * src.scale[None, :]
            c = ((-(tgt.mean / tgt.scale) - b) @ p) * src.scale + src.mean
            return a, c

        return self._like(x, direction, build)

    def _like(self, x: Any, key: str, build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Any:
        """Cached float64 parameters converted to x's library, device and dtype."""
        if key not in self._cache:
            self._cache[key] = build()
        a, c = self._cache[key]
        if is_torch(x):
            import torch

            tkey = (key, str(x.device), str(x.dtype))
            if tkey not in self._cache:
                self._cache[tkey] = (
                    torch.as_tensor(a, dtype=x.dtype, device=x.device),
                    torch.as_tensor(c, dtype=x.dtype, device=x.device),
                )
            return self._cache[tkey]
        return a.astype(x.dtype, copy=False), c.astype(x.dtype, copy=False)

    # -- persistence -----------------------------------------------------------------------

    def save(
        self,
        path: str | Path,
        *,
        source_encoder: str | None = None,
        target_encoder: str | None = None,
    ) -> Path:
        """Write the fitted map as one safetensors file (atomic); see :mod:`semalign.align.io`."""
        return save_aligner(
            self, path, source_encoder=source_encoder, target_encoder=target_encoder
        )


def anchor_rank(X: Any, method: str = "orthogonal", scaling: str = "none") -> int:
    """Numerical rank of source anchors X (n, d) as ``Aligner(method, scaling)`` counts it."""
    return Aligner(method, scaling).anchor_rank(X)


def rank_problem(
    X: Any, method: str, scaling: str = "none", alpha: float | None = None
) -> str | None:
    """Why ``Aligner(method, scaling, alpha=alpha).fit(X, ...)`` would refuse these anchors'
    rank, in one sentence, or None when the rank suffices (for skipping a grid cell)."""
    return Aligner(method, scaling, alpha=alpha).rank_problem(X)


def aligner_from_payload(
    tensors: dict[str, np.ndarray], meta: dict[str, str], origin: str
) -> Aligner:
    """Rebuild an aligner from :func:`semalign.align.io.aligner_payload` output; ``origin``
    names it in errors. The caller verifies the file; :func:`semalign.align.io.aligner_state`
    checks the format and shapes."""
    params, state = aligner_state(tensors, meta, origin)
    try:
        aligner = Aligner(**params)
    except TypeError as exc:
        raise FormatError(
            f"{origin}: malformed aligner header ({exc!r}): refit and save it again"
        ) from exc
    aligner._set_state(state)
    return aligner


def load_aligner(path: str | Path) -> Aligner:
    """Load an aligner written by :meth:`Aligner.save`, verified by
    :func:`semalign.artefacts.read_artefact`."""
    tensors, meta = read_aligner_artefact(path)
    return aligner_from_payload(tensors, meta, str(path))
