"""Read and write embedding arrays (.npy, .npz, .safetensors) for the CLI and other tools.

Reads never unpickle: ``.npy``/``.npz`` are opened with ``allow_pickle=False`` (``.npy`` is
memory-mapped, so a million-row file is streamed, not loaded). Writes are atomic.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from semalign.artefacts import atomic_write_bytes
from semalign.errors import InputError

ARRAY_SUFFIXES = (".npy", ".npz", ".safetensors")


def read_array(path: str | Path, name: str = "array") -> np.ndarray:
    """A 2-D array (n, d) from ``path``; ``.npy`` files come back memory-mapped, read-only."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{name} file {path} does not exist: check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                if len(keys) != 1:
                    raise InputError(
                        f"{name} file {path} holds {len(keys)} arrays ({', '.join(keys)}): "
                        "save exactly one array per .npz"
                    )
                arr = npz[keys[0]]
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if len(tensors) != 1:
                raise InputError(
                    f"{name} file {path} holds {len(tensors)} tensors: save exactly one tensor"
                )
            arr = next(iter(tensors.values()))
        else:
            raise InputError(
                f"{name} file {path} has suffix {suffix or '(none)'!r}: use one of "
                f"{', '.join(ARRAY_SUFFIXES)}"
            )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"cannot read {name} file {path} ({type(exc).__name__}: {exc}): "
            f"write it with numpy.save or safetensors"
        ) from exc
    if arr.ndim != 2:
        raise InputError(f"{name} file {path} holds shape {arr.shape}: expected (n, d)")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} file {path} has dtype {arr.dtype}: expected numbers")
    return arr


def read_labels(path: str | Path, n_rows: int) -> np.ndarray:
    """One label per row (n_rows,): a 1-D ``.npy`` or a text file with one label per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"labels file {path} does not exist: check the path")
    if path.suffix.lower() == ".npy":
        try:
            labels = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"cannot read labels file {path} ({exc}): save a 1-D array") from exc
    else:
        labels = np.array(path.read_text(encoding="utf-8").splitlines())
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise InputError(
            f"labels file {path} holds shape {labels.shape}, expected ({n_rows},): one label per "
            "anchor row"
        )
    return labels


def write_array(path: str | Path, arr: np.ndarray) -> Path:
    """Write ``arr`` to ``path`` as ``.npy`` (atomically); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(f"output {path} must end in .npy")
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return path


def row_chunks(arr: np.ndarray, chunk_rows: int) -> Iterator[slice]:
    """Row slices of at most ``chunk_rows`` rows covering ``arr``."""
    for lo in range(0, arr.shape[0], chunk_rows):
        yield slice(lo, min(lo + chunk_rows, arr.shape[0]))
