"""Stitched models as one file: encoder A -> map T (A -> B) -> head trained on B's space.

The file is a safetensors archive holding the aligner's and the head's tensors (prefixed
``aligner/`` and ``head/``) and, in its header, their metadata plus the source encoder's name,
options and fingerprint. The encoder's weights are not copied: they are loaded by name through
the registry (hub id, local folder or packaged model) and checked against the fingerprint, so
a changed checkpoint is refused instead of silently giving other predictions. No pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semalign.align import Aligner
from semalign.align.aligner import aligner_from_payload
from semalign.align.io import aligner_payload
from semalign.artefacts import read_artefact, write_artefact
from semalign.errors import FormatError, InputError
from semalign.tasks.heads import Head, head_from_payload

FORMAT = "semalign.stitched"
FORMAT_VERSION = 1


def export_stitched(
    path: str | Path,
    *,
    encoder: str,
    aligner: Aligner,
    head: Head,
    encoder_options: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Path:
    """Write encoder spec + aligner + head to one ``.safetensors`` file (atomic).

    ``encoder`` is a registry name, hub id or folder that :func:`load_encoder` accepts;
    ``fingerprint`` (recommended) is that encoder's ``fingerprint``, checked at load time.
    """
    from semalign import __version__

    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(f"stitched model path {path} must end in .safetensors")
    if aligner.n_features_out_ != head.n_features_in_:
        raise InputError(
            f"the aligner maps into {aligner.n_features_out_} dims but the head takes "
            f"{head.n_features_in_}: fit the map into the space the head was trained on"
        )
    a_tensors, a_meta = aligner_payload(aligner, source_encoder=encoder)
    h_tensors, h_meta = head.payload()
    tensors = {f"aligner/{k}": v for k, v in a_tensors.items()}
    tensors.update({f"head/{k}": np.asarray(v) for k, v in h_tensors.items()})
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "encoder": encoder,
        "encoder_options": json.dumps(encoder_options or {}, sort_keys=True),
        "encoder_fingerprint": fingerprint or "",
        "aligner": json.dumps(a_meta, sort_keys=True),
        "head": json.dumps(h_meta, sort_keys=True),
        "semalign_version": __version__,
    }
    return write_artefact(path, tensors, meta)


def read_stitched(path: str | Path) -> tuple[dict[str, str], Aligner, Head]:
    """Header metadata, aligner and head of a stitched model (checksum verified, see
    :func:`semalign.artefacts.read_artefact`); no encoder loaded, no torch."""
    tensors, meta = read_artefact(
        path,
        fmt=FORMAT,
        version=FORMAT_VERSION,
        what="stitched model",
        remedy="'semalign stitch export'",
    )

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    aligner = aligner_from_payload(part("aligner/"), json.loads(meta["aligner"]), str(path))
    head = head_from_payload(part("head/"), json.loads(meta["head"]), str(path))
    return meta, aligner, head


def load_stitched(
    path: str | Path, *, device: str | None = None, check_fingerprint: bool = True
) -> Any:
    """Load a stitched model as a ``torch.nn.Module`` taking raw texts or image paths.

    ``module(items)`` returns probabilities (n, K) (softmax, multi-class) or (n, L) (sigmoid,
    multi-label) as a float64 tensor; ``module.predict(items)`` returns class keys or 0/1.
    """
    import torch

    from semalign.encoders import load_encoder

    meta, aligner, head = read_stitched(path)
    options = json.loads(meta.get("encoder_options", "{}"))
    if device is not None:
        options["device"] = device
    encoder = load_encoder(meta["encoder"], **options)
    expected = meta.get("encoder_fingerprint", "")
    if check_fingerprint and expected and encoder.fingerprint != expected:
        raise FormatError(
            f"encoder {meta['encoder']!r} now has fingerprint {encoder.fingerprint[:12]}..., but "
            f"{path} was exported with {expected[:12]}...: its weights or settings changed; "
            "re-export, or pass check_fingerprint=False to accept it"
        )
    return _build_module(torch, encoder, aligner, head)


def _build_module(torch: Any, encoder: Any, aligner: Aligner, head: Head) -> Any:
    class StitchedModule(torch.nn.Module):
        """encoder -> aligner -> head, on raw items."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.aligner = aligner
            self.head = head.to_torch()
            self.task = head.task_
            self.classes = head.classes_
            self.label_names = [str(n) for n in head.label_names_]

        def embed(self, items: Sequence[Any], batch_size: int = 32) -> Any:
            """Source-encoder embeddings (n, d_source) as a float32 tensor."""
            return torch.from_numpy(self.encoder.embed(list(items), batch_size=batch_size))

        def forward(self, items: Sequence[Any], batch_size: int = 32) -> Any:
            mapped = self.aligner.transform(self.embed(items, batch_size).double())
            logits = self.head(mapped)
            if self.task == "multiclass":
                return torch.softmax(logits, dim=1)
            return torch.sigmoid(logits)

        def predict(self, items: Sequence[Any], threshold: float = 0.5) -> np.ndarray:
            with torch.inference_mode():
                p = self.forward(items).numpy()
            if self.task == "multiclass":
                return np.asarray(self.classes[p.argmax(axis=1)])
            return (p >= threshold).astype(np.int64)

    return StitchedModule().eval()
