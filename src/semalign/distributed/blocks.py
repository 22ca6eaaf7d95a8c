"""Rows of a store (or an array) gathered block by block, without loading the whole store."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from semalign.errors import InputError
from semalign.store.reader import EmbeddingStore, open_store

Source = EmbeddingStore | str | os.PathLike[str] | np.ndarray


class Rows:
    """Random access to the rows of a finished store entry or of an in-memory (n, d) array."""

    def __init__(self, source: Source) -> None:
        if isinstance(source, np.ndarray):
            if source.ndim != 2:
                raise InputError(f"array has shape {source.shape}: pass (n, d) embeddings")
            self.store: EmbeddingStore | None = None
            self.ids: list[str] | None = None
            self._parts: list[np.ndarray] = [source]
            self._item_rows: np.ndarray | None = None
        else:
            store = source if isinstance(source, EmbeddingStore) else open_store(source)
            self.store = store
            parts = list(store.iter_chunks())
            self._parts = [a for _, a in parts]
            # chunks are stored by content (id order); rows are addressed in item order
            where = {i: k for k, i in enumerate(i for ids, _ in parts for i in ids)}
            self.ids = list(store.ids)
            self._item_rows = np.fromiter((where[i] for i in self.ids), np.int64, len(self.ids))
        sizes = [len(a) for a in self._parts]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n = int(self._starts[-1])
        self.dim = int(self._parts[0].shape[1]) if self._parts else 0

    def take(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows at item ``positions`` (in that order) as a float32 C-contiguous array."""
        pos = np.asarray(positions, dtype=np.int64)
        if self._item_rows is not None:
            pos = self._item_rows[pos]
        out = np.empty((len(pos), self.dim), dtype=np.float32)
        part = np.searchsorted(self._starts, pos, side="right") - 1
        for p in np.unique(part):
            sel = part == p
            out[sel] = self._parts[p][pos[sel] - self._starts[p]]
        return out


def paired_positions(x: Rows, y: Rows, ids: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Row positions pairing ``x`` with ``y``: by id for stores, row by row for arrays."""
    if x.ids is None or y.ids is None:
        if x.ids is not None or y.ids is not None or ids is not None:
            raise InputError(
                "pair two stores (matched by id) or two arrays (matched by row), not a mix"
            )
        if x.n != y.n:
            raise InputError(
                f"source has {x.n} rows, target {y.n}: anchors must be paired row by row"
            )
        return np.arange(x.n), np.arange(y.n)
    wx = {i: k for k, i in enumerate(x.ids)}
    wy = {i: k for k, i in enumerate(y.ids)}
    wanted = list(ids) if ids is not None else [i for i in x.ids if i in wy]
    missing = [i for i in wanted if i not in wx or i not in wy]
    if missing:
        raise InputError(
            f"{len(missing)} anchor id(s) are not in both stores (first: {missing[0]!r}): "
            "embed them with both encoders"
        )
    if not wanted:
        raise InputError("the two stores share no ids: embed the same anchors with both encoders")
    return (
        np.fromiter((wx[i] for i in wanted), np.int64, len(wanted)),
        np.fromiter((wy[i] for i in wanted), np.int64, len(wanted)),
    )
