"""Invertible preprocessing fitted on the anchors: centring, per-dimension scaling, row norms.

A :class:`Scaler` maps raw embeddings ``x`` (n, d) to ``z = rownorm((x - mean) / scale)``; which
steps are active depends on the scaling name. ``inverse`` undoes it, restoring the anchors' mean
row norm where rows were normalised (a unit-norm vector has no norm of its own to restore).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semalign.align._arrays import row_norms, safe_divide_rows
from semalign.arrays import is_torch
from semalign.errors import InputError

SCALINGS: tuple[str, ...] = ("none", "center", "std", "standard", "l2", "center-l2")

_CENTRES = {"center", "standard", "center-l2"}
_SCALES = {"std", "standard"}
_ROW_NORM = {"l2", "center-l2"}


def check_scaling(scaling: str) -> str:
    """Validate a scaling name."""
    if scaling not in SCALINGS:
        raise InputError(f"unknown scaling {scaling!r}: choose one of {', '.join(SCALINGS)}")
    return scaling


def centres(scaling: str) -> bool:
    """Whether the scaling subtracts the anchor mean."""
    return scaling in _CENTRES


def scales(scaling: str) -> bool:
    """Whether the scaling divides by the per-dimension standard deviation."""
    return scaling in _SCALES


def normalises_rows(scaling: str) -> bool:
    """Whether the scaling projects each row onto the unit sphere."""
    return scaling in _ROW_NORM


def safe_std(variance: np.ndarray) -> np.ndarray:
    """Standard deviation with constant dimensions mapped to 1, so nothing divides by zero."""
    std = np.sqrt(np.maximum(variance, 0.0))
    floor = 1e-12 * max(1.0, float(std.max(initial=0.0)))
    return np.where(std > floor, std, 1.0)


@dataclass
class Scaler:
    """Fitted preprocessing of one space.

    Attributes:
        scaling: one of :data:`SCALINGS`.
        mean: (d,) subtracted first (zeros when the scaling does not centre).
        scale: (d,) divided next (ones when the scaling does not scale).
        norm: mean row norm of the anchors after centring, restored by :meth:`inverse` when
            rows are normalised (1.0 otherwise).
    """

    scaling: str
    mean: np.ndarray
    scale: np.ndarray
    norm: float = 1.0

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def is_affine(self) -> bool:
        """True when the preprocessing is a per-dimension affine map (no row normalisation)."""
        return not normalises_rows(self.scaling)

    @classmethod
    def identity(cls, scaling: str, dim: int) -> Scaler:
        return cls(scaling, np.zeros(dim), np.ones(dim), 1.0)

    def transform(self, x: Any) -> Any:
        """(n, d) raw -> (n, d) preprocessed, in the input's library and dtype."""
        z = self._standardise(x)
        if normalises_rows(self.scaling):
            z = safe_divide_rows(z, row_norms(z))
        return z

    def inverse(self, z: Any) -> Any:
        """(n, d) preprocessed -> (n, d) in the space's own units."""
        mean, scale = self._params_like(z)
        x = z
        if normalises_rows(self.scaling):
            x = x * self.norm
        if scales(self.scaling):
            x = x * scale
        if centres(self.scaling):
            x = x + mean
        return x

    def scaled(self, x: Any) -> Any:
        """Exact inverse of :meth:`inverse`: (n, d) in the space's units -> preprocessed.

        Unlike :meth:`transform` it does not normalise rows one by one: it divides by the
        anchors' mean norm, so ``scaled(inverse(z)) == z`` for any z.
        """
        z = self._standardise(x)
        if normalises_rows(self.scaling):
            z = z / self.norm
        return z

    def _standardise(self, x: Any) -> Any:
        """The per-dimension part of the scaling: centre, then divide by the scale."""
        mean, scale = self._params_like(x)
        z = x
        if centres(self.scaling):
            z = z - mean
        if scales(self.scaling):
            z = z / scale
        return z

    def _params_like(self, x: Any) -> tuple[Any, Any]:
        if x.shape[-1] != self.dim:
            raise InputError(f"input has {x.shape[-1]} features, expected {self.dim}")
        if is_torch(x):
            import torch

            return (
                torch.as_tensor(self.mean, dtype=x.dtype, device=x.device),
                torch.as_tensor(self.scale, dtype=x.dtype, device=x.device),
            )
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return self.mean.astype(dtype, copy=False), self.scale.astype(dtype, copy=False)


def prepare(
    x: np.ndarray, scaling: str, centre: np.ndarray | None = None
) -> tuple[Scaler, np.ndarray]:
    """Fit a :class:`Scaler` on float64 rows x (n, d) and return it with the preprocessed rows.

    The parameters equal those read off the rows' moments (``Aligner`` with streaming data):
    means, per-dimension standard deviations of the centred rows, and for the row-normalising
    scalings the mean row norm after centring. ``centre`` (d,) overrides the mean that
    ``center-l2`` subtracts. O(n d); x is not modified.
    """
    n, d = x.shape
    if normalises_rows(scaling):
        mu = np.zeros(d) if not centres(scaling) else (x.mean(axis=0) if centre is None else centre)
        z = x - mu if centres(scaling) else x
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        z = z / np.where(norms > 0, norms, 1.0)
        return Scaler(scaling, mu, np.ones(d), float(norms.sum()) / n), z
    mean = x.mean(axis=0)
    if not (centres(scaling) or scales(scaling)):
        return Scaler(scaling, np.zeros(d), np.ones(d)), x
    xc = x - mean
    sd = safe_std(np.einsum("ij,ij->j", xc, xc) / n) if scales(scaling) else np.ones(d)
    mu = mean if centres(scaling) else np.zeros(d)
    z = xc if centres(scaling) else x
    return Scaler(scaling, mu, sd), (z / sd if scales(scaling) else z)
