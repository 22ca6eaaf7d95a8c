"""Artefact files: checksummed safetensors with a JSON-string header, written atomically.

Every artefact (aligner maps, classifier heads, stitched models) is written by
:func:`write_artefact` and read by :func:`read_artefact`: the header's ``sha256`` covers every
tensor (name, dtype, shape, bytes) and every other header entry, and a file whose checksum is
missing or does not match, or whose tensors hold NaN or infinity, is refused with a
:class:`FormatError` naming the file. :func:`atomic_write_bytes` is how every layer writes a
file that readers must never see half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

from semalign.errors import FormatError, InputError

CHECKSUM_KEY = "sha256"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to ``.NAME.tmp-PID-THREAD`` beside the target (created with the usual umask
    permissions), are fsynced, renamed over ``path``, and the folder is fsynced so that the
    rename itself survives a crash. A failed write leaves no temporary behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def artefact_checksum(tensors: dict[str, np.ndarray], meta: dict[str, str]) -> str:
    """sha256 (hex) of every tensor's name, dtype, shape and bytes, and of the header entries
    other than the checksum itself."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(json.dumps([name, arr.dtype.str, list(arr.shape)]).encode())
        h.update(arr.tobytes())
    rest = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
    h.update(json.dumps(rest, sort_keys=True).encode())
    return h.hexdigest()


def _first_non_finite(tensors: dict[str, np.ndarray]) -> str | None:
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            return name
    return None


def write_artefact(path: str | Path, tensors: dict[str, np.ndarray], meta: dict[str, str]) -> Path:
    """Write tensors and header metadata as safetensors (atomic), with their checksum added."""
    from safetensors.numpy import save

    path = Path(path)
    bad = _first_non_finite(tensors)
    if bad is not None:
        raise InputError(
            f"cannot save {path}: tensor {bad!r} holds NaN or infinite values; fit it on "
            "finite inputs"
        )
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    signed = {**meta, CHECKSUM_KEY: artefact_checksum(tensors, meta)}
    atomic_write_bytes(path, save(tensors, metadata=signed))
    return path


def read_artefact(
    path: str | Path, *, fmt: str, version: int, what: str, remedy: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and header of a file written by :func:`write_artefact`, verified.

    ``fmt``/``version`` are the expected format name and newest readable version, ``what``
    names the artefact ("aligner") and ``remedy`` what re-creates it, both for the errors.
    Raises InputError for a missing or unreadable file, FormatError for a foreign or newer
    format, a missing or wrong checksum, or non-finite values.
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file {path} does not exist: check the path")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
        tensors = load_file(str(path))
    except Exception as exc:
        raise InputError(
            f"cannot read {path} as a safetensors {what} ({exc}): it is corrupted or not a "
            f"{what}; pass a file written by {remedy}"
        ) from exc
    if meta.get("format") != fmt:
        raise FormatError(
            f"{path} is not a semalign {what} (format {meta.get('format')!r}): pass a file "
            f"written by {remedy}"
        )
    try:
        found = int(meta.get("format_version", "0"))
    except ValueError:
        found = -1
    if found > version:
        raise FormatError(
            f"{path} has {what} format version {found}, newer than this semalign reads "
            f"({version}): upgrade semalign"
        )
    if CHECKSUM_KEY not in meta:
        raise FormatError(
            f"{path} carries no checksum, so its contents cannot be verified (it was written by "
            f"a semalign older than checksums, or by another tool): re-create it with {remedy}"
        )
    if meta[CHECKSUM_KEY] != artefact_checksum(tensors, meta):
        raise FormatError(
            f"{path} was modified or corrupted (its sha256 does not match its contents): "
            f"re-create it with {remedy}"
        )
    bad = _first_non_finite(tensors)
    if bad is not None:
        raise FormatError(
            f"{path}: tensor {bad!r} holds NaN or infinite values: re-create it with {remedy}"
        )
    return tensors, meta
