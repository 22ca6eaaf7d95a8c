"""Torch runtime choices shared by the torch backends: device, precision, image loading.

Imported only by backends (it imports torch at module level).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from semalign.encoders.base import DEVICES_HELP, PRECISIONS, EmbedOutcome, as_embeddings
from semalign.encoders.images import read_image
from semalign.errors import InputError


def select_device(device: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else is passed to torch.device."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"device {device!r} is not valid: use {DEVICES_HELP}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available: use --device cpu")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bfloat16 (or float16) autocast on CUDA, float32 elsewhere."""
    if precision not in PRECISIONS:
        raise InputError(f"precision {precision!r} is unknown: use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast context for reduced precision; a no-op for float32."""
    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "float16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def default_workers() -> int:
    """Image-decoding workers: up to 4, never more than the CPUs this process may use."""
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        ncpu = os.cpu_count() or 1
    return max(0, min(4, ncpu - 1))


class _ImageDataset(torch.utils.data.Dataset[tuple[int, Any, str]]):
    """Item i -> (i, tensor or None, failure reason). A transform with a ``load`` method (a
    ``Preprocess``) decodes the file itself, to the size it needs; others get ``read_image``."""

    def __init__(self, items: Sequence[Any], transform: Callable[[Any], Any]):
        self.items = items
        self.transform = transform
        self.load: Callable[[Any], Any] | None = getattr(transform, "load", None)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Any, str]:
        try:
            if self.load is not None:
                return i, self.load(self.items[i]), ""
            return i, self.transform(read_image(self.items[i])), ""
        except Exception as exc:  # reported per item; the caller decides fail or skip
            return i, None, f"{type(exc).__name__}: {exc}"


def _collate(batch: list[tuple[int, Any, str]]) -> tuple[list[int], Any, dict[int, str]]:
    good = [(i, x) for i, x, err in batch if x is not None]
    failures = {i: err for i, x, err in batch if x is None}
    stacked = torch.stack([x for _, x in good]) if good else None
    return [i for i, _ in good], stacked, failures


def iter_image_batches(
    items: Sequence[Any],
    transform: Callable[[np.ndarray], Any],
    batch_size: int,
    num_workers: int | None = None,
    pin_memory: bool = False,
) -> Iterator[tuple[list[int], Any, dict[int, str]]]:
    """Decode and transform images in DataLoader workers, in input order.

    Yields (positions of good items, stacked tensor (b, ...) or None, {position: reason}).
    """
    workers = default_workers() if num_workers is None else num_workers
    if len(items) <= batch_size:
        workers = 0  # a single batch gains nothing from worker start-up
    loader = torch.utils.data.DataLoader(
        _ImageDataset(items, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
        pin_memory=pin_memory,
    )
    yield from loader


class TorchImageEncoder:
    """Mixin for torch image encoders: workers decode, the model runs under inference_mode.

    Subclasses set ``name``, ``dim``, ``device``, ``precision``, ``num_workers``,
    ``preprocess`` (a picklable callable: float32 [0,1] image -> (3, H, W) tensor) and implement
    ``_forward(pixels) -> (b, dim) tensor``.
    """

    name: str
    dim: int
    device: torch.device
    precision: str
    num_workers: int | None
    preprocess: Callable[[np.ndarray], Any]

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed_outcome(self, items: Sequence[Any], batch_size: int = 32) -> EmbedOutcome:
        rows: list[np.ndarray] = []
        ok: list[int] = []
        failures: dict[int, str] = {}
        for positions, pixels, bad in iter_image_batches(
            items, self.preprocess, batch_size, self.num_workers, self.device.type == "cuda"
        ):
            failures.update(bad)
            if pixels is None:
                continue
            with torch.inference_mode(), autocast(self.device, self.precision):
                out = self._forward(pixels.to(self.device, non_blocking=True))
            rows.append(out.float().cpu().numpy())
            ok.extend(positions)
        emb = np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)
        return EmbedOutcome(as_embeddings(emb, len(ok), self.dim, self.name), ok, failures)
