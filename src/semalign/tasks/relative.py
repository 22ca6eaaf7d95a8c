"""Relative representations (Moschella et al., ICLR 2023): cosine similarities to anchors.

A row x becomes ``[cos(x - c, a_1 - c), ..., cos(x - c, a_k - c)]`` for the k anchors of its own
space, with ``c`` the anchors' mean when ``center`` (the default: it removes the common offset of
anisotropic embedding spaces) and 0 otherwise (the paper's plain cosine). Two encoders that embed
the same anchor items thus land in one shared k-dimensional space, with no map fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError

__all__ = ["RelativeProjector", "relative_representation"]

Float = NDArray[np.float64]


def _as_rows(x: Any, name: str) -> Float:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"{name} has shape {arr.shape}: pass embeddings of shape (n, d)")
    return arr


def _unit(x: Float) -> Float:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Float = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


class RelativeProjector:
    """Fit on anchors (k, d) of one space; ``transform`` maps rows (n, d) to (n, k) cosines."""

    def __init__(self, center: bool = True) -> None:
        self.center = center

    def fit(self, anchors: Any) -> RelativeProjector:
        a = _as_rows(anchors, "anchors")
        if a.shape[0] == 0:
            raise InputError("anchors are empty: pass at least one anchor row")
        self.offset_ = a.mean(axis=0) if self.center else np.zeros(a.shape[1])
        self.anchors_ = _unit(a - self.offset_)
        return self

    def transform(self, X: Any) -> Float:
        """Cosine similarity of each row of X (n, d) to each anchor: (n, k) in [-1, 1]."""
        if not hasattr(self, "anchors_"):
            raise InputError("RelativeProjector is not fitted: call fit(anchors) first")
        x = _as_rows(X, "X")
        if x.shape[1] != self.anchors_.shape[1]:
            raise InputError(
                f"X has {x.shape[1]} columns but the anchors {self.anchors_.shape[1]}: embed X "
                "with the encoder that embedded the anchors"
            )
        out: Float = _unit(x - self.offset_) @ self.anchors_.T
        return out


def relative_representation(X: Any, anchors: Any, center: bool = True) -> Float:
    """Rows X (n, d) as cosine similarities (n, k) to ``anchors`` (k, d) of the same space."""
    return RelativeProjector(center).fit(anchors).transform(X)
