"""Save and load fitted aligners as one safetensors file; metadata lives in its header.

Tensors: ``weight`` (d_s, d_t), ``bias`` (d_t,), ``source.mean``/``source.scale`` (d_s,),
``target.mean``/``target.scale`` (d_t,), all float64. Header metadata (strings): format,
format_version, method, scaling, params (JSON), d_source, d_target, n_anchors, rank,
null_space, scale, n_iter, converged, source_norm, target_norm, source_encoder,
target_encoder, semalign_version, sha256, and where the method has a penalty ``alpha`` (the one
used: ridge-cv's choice) and ``cv`` (ridge-cv's grid and held-out scores, JSON). No pickle.

The file is an artefact of :mod:`semalign.artefacts` (checksummed, verified when loaded);
:func:`semalign.align.aligner.load_aligner` rebuilds the :class:`Aligner` from what
:func:`aligner_state` reads off it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from semalign._version import __version__
from semalign.align.preprocessing import SCALINGS, Scaler
from semalign.artefacts import read_artefact, write_artefact
from semalign.errors import FormatError, InputError

FORMAT = "semalign.aligner"
FORMAT_VERSION = 2
_ALIGNER_REMEDY = "'semalign align fit' or Aligner.save"


def aligner_payload(
    aligner: Any,
    *,
    source_encoder: str | None = None,
    target_encoder: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and header metadata that represent a fitted aligner."""
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
    if aligner.alpha_ is not None:
        meta["alpha"] = repr(aligner.alpha_)
    if aligner.cv_ is not None:
        meta["cv"] = json.dumps(aligner.cv_, sort_keys=True)
    return tensors, meta


def save_aligner(
    aligner: Any,
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


def read_aligner_artefact(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and header of an aligner file written by :func:`save_aligner`, verified by
    :func:`semalign.artefacts.read_artefact`."""
    return read_artefact(
        path, fmt=FORMAT, version=FORMAT_VERSION, what="aligner", remedy=_ALIGNER_REMEDY
    )


def aligner_state(
    tensors: dict[str, np.ndarray], meta: dict[str, str], origin: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters and fitted state of an aligner, from :func:`aligner_payload` output;
    ``origin`` names it in errors. :func:`semalign.align.aligner.aligner_from_payload` builds
    the :class:`Aligner` from them.

    The caller verifies the file (:func:`read_aligner_artefact`); this checks the format and
    shapes.
    """
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
        state = {
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
            "alpha": float(meta["alpha"]) if meta.get("alpha") else None,
            "cv": json.loads(meta["cv"]) if meta.get("cv") else None,
        }
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(
            f"{path}: malformed aligner header ({exc!r}): refit and save it again"
        ) from exc
    return params, state
