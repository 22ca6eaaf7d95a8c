"""Save and load fitted aligners as one safetensors file; metadata lives in its header.

Tensors: ``weight`` (d_s, d_t), ``bias`` (d_t,), ``source.mean``/``source.scale`` (d_s,),
``target.mean``/``target.scale`` (d_t,), all float64. Header metadata (strings): format,
format_version, method, scaling, params (JSON), d_source, d_target, n_anchors, rank,
null_space, scale, n_iter, converged, source_norm, target_norm, source_encoder,
target_encoder, semalign_version, sha256. No pickle.

Every artefact (maps, heads, stitched models) is written by :func:`write_artefact` and read by
:func:`read_artefact`: the header's ``sha256`` covers every tensor (name, dtype, shape, bytes)
and every other header entry, and a file whose checksum is missing or does not match, or whose
tensors hold NaN or infinity, is refused with a :class:`FormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semalign.align.preprocessing import SCALINGS, Scaler
from semalign.errors import FormatError, InputError

if TYPE_CHECKING:
    from semalign.align.aligner import Aligner

FORMAT = "semalign.aligner"
FORMAT_VERSION = 2
CHECKSUM_KEY = "sha256"
_ALIGNER_REMEDY = "'semalign align fit' or Aligner.save"


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


def aligner_payload(
    aligner: Aligner,
    *,
    source_encoder: str | None = None,
    target_encoder: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and header metadata that represent a fitted aligner."""
    from semalign import __version__

    src, tgt = aligner.source_scaler_, aligner.target_scaler_
    tensors = {
        "weight": np.ascontiguousarray(aligner.weight_, dtype=np.float64),
        "bias": np.ascontiguousarray(aligner.bias_, dtype=np.float64),
        "source.mean": np.ascontiguousarray(src.mean, dtype=np.float64),
        "source.scale": np.ascontiguousarray(src.scale, dtype=np.float64),
        "target.mean": np.ascontiguousarray(tgt.mean, dtype=np.float64),
        "target.scale": np.ascontiguousarray(tgt.scale, dtype=np.float64),
    }
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "method": aligner.method,
        "scaling": aligner.scaling,
        "params": json.dumps(aligner.get_params(), sort_keys=True),
        "d_source": str(aligner.n_features_in_),
        "d_target": str(aligner.n_features_out_),
        "n_anchors": str(aligner.n_anchors_),
        "rank": str(aligner.rank_),
        "null_space": aligner.null_space_,
        "scale": repr(aligner.scale_),
        "n_iter": str(aligner.n_iter_),
        "converged": "true" if aligner.converged_ else "false",
        "source_norm": repr(src.norm),
        "target_norm": repr(tgt.norm),
        "source_encoder": source_encoder or aligner.source_encoder_ or "",
        "target_encoder": target_encoder or aligner.target_encoder_ or "",
        "semalign_version": __version__,
    }
    return tensors, meta


def save_aligner(
    aligner: Aligner,
    path: str | Path,
    *,
    source_encoder: str | None = None,
    target_encoder: str | None = None,
) -> Path:
    """Write a fitted aligner to ``path`` (``.safetensors``) atomically; returns the path."""
    tensors, meta = aligner_payload(
        aligner, source_encoder=source_encoder, target_encoder=target_encoder
    )
    return write_artefact(path, tensors, meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header metadata of a saved aligner, without loading (or verifying) its tensors."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            return dict(fh.metadata() or {})
    except FileNotFoundError as exc:
        raise InputError(f"aligner file {path} does not exist: check the path") from exc
    except Exception as exc:
        raise InputError(
            f"cannot read {path} as a safetensors aligner ({exc}): pass a file written by "
            "'semalign align fit' or Aligner.save"
        ) from exc


def load_aligner(path: str | Path) -> Aligner:
    """Load an aligner written by :func:`save_aligner`, verified by :func:`read_artefact`."""
    tensors, meta = read_artefact(
        path, fmt=FORMAT, version=FORMAT_VERSION, what="aligner", remedy=_ALIGNER_REMEDY
    )
    return aligner_from_payload(tensors, meta, str(path))


def aligner_from_payload(
    tensors: dict[str, np.ndarray], meta: dict[str, str], origin: str
) -> Aligner:
    """Rebuild an aligner from :func:`aligner_payload` output; ``origin`` names it in errors.

    The caller verifies the file (:func:`read_artefact`); this checks the format and shapes.
    """
    from semalign.align.aligner import Aligner

    path = origin
    if meta.get("format") != FORMAT:
        raise FormatError(
            f"{path} is not a semalign aligner (format {meta.get('format')!r}): pass a file "
            "written by 'semalign align fit' or Aligner.save"
        )
    version = int(meta.get("format_version", "0"))
    if version < FORMAT_VERSION:
        raise FormatError(
            f"{path} has aligner format version {version}, older than this semalign reads "
            f"({FORMAT_VERSION}), without the anchors' rank: refit and save it again"
        )
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{path} has aligner format version {version}, newer than this semalign reads "
            f"({FORMAT_VERSION}): upgrade semalign"
        )
    try:
        d_s, d_t = int(meta["d_source"]), int(meta["d_target"])
        expected = {
            "weight": (d_s, d_t),
            "bias": (d_t,),
            "source.mean": (d_s,),
            "source.scale": (d_s,),
            "target.mean": (d_t,),
            "target.scale": (d_t,),
        }
        for name, shape in expected.items():
            if name not in tensors or tensors[name].shape != shape:
                got = tensors[name].shape if name in tensors else "missing"
                raise FormatError(
                    f"{path}: tensor {name!r} has shape {got}, expected {shape}: the file is "
                    "corrupt or was edited; refit and save it again"
                )
        params: dict[str, Any] = json.loads(meta["params"])
        scaling = meta["scaling"]
        if scaling not in SCALINGS:
            raise FormatError(f"{path}: unknown scaling {scaling!r} in the header")
        aligner = Aligner(**params)
        aligner._set_state(
            {
                "source_scaler": Scaler(
                    scaling,
                    tensors["source.mean"],
                    tensors["source.scale"],
                    float(meta["source_norm"]),
                ),
                "target_scaler": Scaler(
                    scaling,
                    tensors["target.mean"],
                    tensors["target.scale"],
                    float(meta["target_norm"]),
                ),
                "weight": tensors["weight"],
                "bias": tensors["bias"],
                "scale": float(meta["scale"]),
                "n_iter": int(meta["n_iter"]),
                "converged": meta["converged"] == "true",
                "n_anchors": int(meta["n_anchors"]),
                "rank": int(meta["rank"]),
                "null_space": meta["null_space"],
                "source_encoder": meta.get("source_encoder") or None,
                "target_encoder": meta.get("target_encoder") or None,
            }
        )
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(
            f"{path}: malformed aligner header ({exc!r}): refit and save it again"
        ) from exc
    return aligner
