"""Save and load fitted aligners as one safetensors file; metadata lives in its header.

Tensors: ``weight`` (d_s, d_t), ``bias`` (d_t,), ``source.mean``/``source.scale`` (d_s,),
``target.mean``/``target.scale`` (d_t,), all float64. Header metadata (strings): format,
format_version, method, scaling, params (JSON), d_source, d_target, n_anchors, scale,
source_norm, target_norm, source_encoder, target_encoder, semalign_version. No pickle.
"""

from __future__ import annotations

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
FORMAT_VERSION = 1


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
        "scale": repr(aligner.scale_),
        "n_iter": str(aligner.n_iter_),
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
    from safetensors.numpy import save

    path = Path(path)
    tensors, meta = aligner_payload(
        aligner, source_encoder=source_encoder, target_encoder=target_encoder
    )
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header metadata of a saved aligner, without loading its tensors."""
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
    """Load an aligner written by :func:`save_aligner`; fails clearly on foreign or newer files."""
    from safetensors.numpy import load_file

    path = Path(path)
    meta = read_metadata(path)
    return aligner_from_payload(load_file(str(path)), meta, str(path))


def aligner_from_payload(
    tensors: dict[str, np.ndarray], meta: dict[str, str], origin: str
) -> Aligner:
    """Rebuild an aligner from :func:`aligner_payload` output; ``origin`` names it in errors."""
    from semalign.align.aligner import Aligner

    path = origin
    if meta.get("format") != FORMAT:
        raise FormatError(
            f"{path} is not a semalign aligner (format {meta.get('format')!r}): pass a file "
            "written by 'semalign align fit' or Aligner.save"
        )
    version = int(meta.get("format_version", "0"))
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
                "n_iter": int(meta.get("n_iter", "0")),
                "n_anchors": int(meta["n_anchors"]),
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
