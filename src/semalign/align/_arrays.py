"""Array helpers of the alignment code (numpy or torch in, same out); the float64 conversion
and finiteness checks every layer shares live in :mod:`semalign.arrays`."""

from __future__ import annotations

from typing import Any

import numpy as np

from semalign.arrays import is_torch
from semalign.errors import InputError


def check_paired(
    x: np.ndarray, y: np.ndarray, x_name: str = "source", y_name: str = "target"
) -> None:
    """Anchors must be paired row by row."""
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"{x_name} has {x.shape[0]} rows, {y_name} {y.shape[0]}: anchors must be paired "
            "row by row"
        )


def row_norms(x: Any) -> Any:
    """Euclidean norm of each row, shape (n, 1), in the input's own library and dtype."""
    if is_torch(x):
        import torch

        return torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return np.linalg.norm(x, axis=1, keepdims=True)


def safe_divide_rows(x: Any, norms: Any) -> Any:
    """Divide each row by its norm, leaving all-zero rows at zero."""
    if is_torch(x):
        return x / norms.clamp_min(np.finfo(np.float32).tiny)
    return x / np.where(norms > 0, norms, 1.0)
