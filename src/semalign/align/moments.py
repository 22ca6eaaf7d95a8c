"""Sufficient statistics of paired anchors, accumulated chunk by chunk and merged exactly.

Means and centred co-moments are merged with the pairwise update of Chan, Golub and LeVeque,
which stays accurate when the data have large offsets (no ``sum(x x^T) - n mean mean^T``
cancellation). Memory is O(d_s * d_t + d_s^2) whatever the number of anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """First and second moments of paired rows ``x`` (d_s,) and ``y`` (d_t,).

    Attributes:
        n: number of rows.
        mean_x: (d_s,); mean_y: (d_t,).
        cxy: (d_s, d_t) centred co-moment ``sum (x - mean_x)^T (y - mean_y)``.
        cxx_diag: (d_s,) and cyy_diag: (d_t,) centred sums of squares per dimension.
        cxx: (d_s, d_s) full centred co-moment of x, or None when the method does not need it.
        norm_x_sum, norm_y_sum: sums of the row norms that row normalisation divided out.
    """

    n: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    cxy: np.ndarray
    cxx_diag: np.ndarray
    cyy_diag: np.ndarray
    cxx: np.ndarray | None = None
    norm_x_sum: float = 0.0
    norm_y_sum: float = 0.0

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        full_xx: bool,
        norm_x_sum: float = 0.0,
        norm_y_sum: float = 0.0,
    ) -> Moments:
        """Moments of float64 arrays x (n, d_s) and y (n, d_t), computed in one pass each."""
        n = x.shape[0]
        mean_x = x.mean(axis=0)
        mean_y = y.mean(axis=0)
        xc = x - mean_x
        yc = y - mean_y
        return cls(
            n=n,
            mean_x=mean_x,
            mean_y=mean_y,
            cxy=xc.T @ yc,
            cxx_diag=np.einsum("ij,ij->j", xc, xc),
            cyy_diag=np.einsum("ij,ij->j", yc, yc),
            cxx=xc.T @ xc if full_xx else None,
            norm_x_sum=norm_x_sum,
            norm_y_sum=norm_y_sum,
        )

    def merge(self, other: Moments) -> Moments:
        """Moments of the union of the two sets of rows."""
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = self.n * other.n / n
        cxx = None
        if self.cxx is not None and other.cxx is not None:
            cxx = self.cxx + other.cxx + w * np.outer(dx, dx)
        return Moments(
            n=n,
            mean_x=self.mean_x + dx * (other.n / n),
            mean_y=self.mean_y + dy * (other.n / n),
            cxy=self.cxy + other.cxy + w * np.outer(dx, dy),
            cxx_diag=self.cxx_diag + other.cxx_diag + w * dx * dx,
            cyy_diag=self.cyy_diag + other.cyy_diag + w * dy * dy,
            cxx=cxx,
            norm_x_sum=self.norm_x_sum + other.norm_x_sum,
            norm_y_sum=self.norm_y_sum + other.norm_y_sum,
        )

    def rescaled(
        self, shift_x: np.ndarray, scale_x: np.ndarray, shift_y: np.ndarray, scale_y: np.ndarray
    ) -> Moments:
        """Moments of ``(x - shift_x) / scale_x`` and ``(y - shift_y) / scale_y``, exactly."""
        return Moments(
            n=self.n,
            mean_x=(self.mean_x - shift_x) / scale_x,
            mean_y=(self.mean_y - shift_y) / scale_y,
            cxy=self.cxy / np.outer(scale_x, scale_y),
            cxx_diag=self.cxx_diag / scale_x**2,
            cyy_diag=self.cyy_diag / scale_y**2,
            cxx=None if self.cxx is None else self.cxx / np.outer(scale_x, scale_x),
            norm_x_sum=self.norm_x_sum,
            norm_y_sum=self.norm_y_sum,
        )

    def gram_xy(self) -> np.ndarray:
        """Uncentred cross-Gram ``X^T Y`` (d_s, d_t)."""
        return self.cxy + self.n * np.outer(self.mean_x, self.mean_y)

    def gram_xx(self) -> np.ndarray:
        """Uncentred Gram ``X^T X`` (d_s, d_s); needs the full co-moment."""
        if self.cxx is None:
            raise RuntimeError("full X^T X was not accumulated for this method")
        return self.cxx + self.n * np.outer(self.mean_x, self.mean_x)

    def trace_xx(self) -> float:
        """``trace(X^T X)`` = sum of squared entries of X."""
        return float(self.cxx_diag.sum() + self.n * self.mean_x @ self.mean_x)
