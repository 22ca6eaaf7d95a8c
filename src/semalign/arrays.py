"""Array conversion and validation shared by every layer (numpy or torch in, float64 numpy out)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semalign.errors import InputError


def is_torch(x: object) -> bool:
    """True for a ``torch.Tensor``, decided without importing torch."""
    return type(x).__module__.split(".")[0] == "torch"


def as_float64_2d(x: Any, name: str, allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a finite float64 numpy array of shape (n, d); CPU copy for torch tensors.

    Raises :class:`InputError` naming ``name``: not numeric, not 2-D, empty (unless
    ``allow_empty``), or holding NaN/Inf (the first bad row is named).
    """
    if is_torch(x):
        x = x.detach().to("cpu").double().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and other non-arrays
        raise InputError(f"{name} is not a numeric array ({exc}): pass a 2-D float array") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
        raise InputError(f"{name} is not a numeric array (dtype {arr.dtype}): pass real numbers")
    if arr.ndim != 2:
        raise InputError(
            f"{name} has shape {arr.shape}: expected a 2-D array (n_samples, n_features)"
        )
    if not allow_empty and (arr.shape[0] == 0 or arr.shape[1] == 0):
        raise InputError(f"{name} has shape {arr.shape}: it needs at least one row and column")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise :class:`InputError` naming the first row that holds NaN or Inf."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise InputError(
            f"{name} has {bad_rows.size} rows with NaN or Inf (first: row {bad_rows[0]}): "
            "drop or re-embed those rows"
        )
