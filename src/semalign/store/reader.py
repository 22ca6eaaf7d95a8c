"""Reading a finished store entry: memory-mapped chunks, ids, export to .npy."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from semalign.errors import FormatError, InputError
from semalign.store.chunks import map_embeddings, read_header, sha256_file


class EmbeddingStore:
    """A finished entry: ``ids`` (list of str) and embeddings float32 (n, dim).

    Chunks are memory-mapped: nothing is read until rows are used. ``ids`` and ``read()`` are in
    the order of the items that were embedded (``read()`` returns a zero-copy map when that is
    one chunk's order, else a copy); ``iter_chunks()`` walks chunk by chunk (chunk order: by id)
    without holding more than one in memory.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest
        self.encoder: str = manifest["encoder"]
        self.fingerprint: str = manifest["fingerprint"]
        self.modality: str = manifest["modality"]
        self.dim: int = int(manifest["dim"])
        self.n: int = int(manifest["n_embedded"])
        self.n_chunks: int = len(manifest["chunks"])
        self.skipped: dict[str, str] = dict(manifest.get("skipped", {}))

    def __repr__(self) -> str:
        where = str(self.path)
        return f"EmbeddingStore({where!r}, encoder={self.encoder!r}, n={self.n}, dim={self.dim})"

    def __len__(self) -> int:
        return self.n

    def bad_chunks(
        self, full: bool = True, digests: dict[Path, str] | None = None
    ) -> dict[str, str]:
        """Chunk files (relative to the entry) that are missing or fail their check -> why.

        ``full`` compares each file's sha256 with the manifest (reads every byte); otherwise
        only existence and size are checked. ``digests`` (normalised path -> sha256) remembers
        the files already hashed, so that a chunk shared by several entries is read once.
        """
        bad: dict[str, str] = {}
        seen = {} if digests is None else digests
        for c in self.manifest["chunks"]:
            path = self.path / c["file"]
            if not path.is_file():
                bad[c["file"]] = "missing"
            elif path.stat().st_size != c["bytes"]:
                bad[c["file"]] = "wrong size"
            elif full:
                key = Path(os.path.normpath(path))
                if key not in seen:
                    seen[key] = sha256_file(path)
                if seen[key] != c["sha256"]:
                    bad[c["file"]] = "checksum mismatch"
        return bad

    def verify(self, full: bool = True) -> None:
        """Raise FormatError naming every missing or corrupted chunk (see ``bad_chunks``)."""
        bad = self.bad_chunks(full)
        if bad:
            problems = "; ".join(f"chunk {f!r} {why}" for f, why in bad.items())
            raise FormatError(
                f"store entry {str(self.path)!r}: {problems}: run the same `semalign embed` "
                f"(or `semalign run`) command again to recompute the bad chunks"
            )

    def iter_chunks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield (ids, memory-mapped float32 (m, dim)) for each chunk, in chunk order (by id)."""
        for c in self.manifest["chunks"]:
            path = self.path / c["file"]
            header = read_header(path)
            yield header.ids, map_embeddings(path, header)

    @cached_property
    def ids(self) -> list[str]:
        """Ids of the embedded items, in item order (skipped items excluded)."""
        order = self.manifest.get("order")
        if order is not None:
            return [str(i) for i in order]
        return [i for c in self.manifest["chunks"] for i in read_header(self.path / c["file"]).ids]

    def read(self) -> tuple[list[str], np.ndarray]:
        """(ids, float32 C-contiguous (n, dim)) in item order."""
        parts = list(self.iter_chunks())
        chunk_ids = [i for ids, _ in parts for i in ids]
        if len(parts) == 1:
            emb = parts[0][1]
        else:
            arrays = [a for _, a in parts]
            emb = np.concatenate(arrays) if arrays else np.zeros((0, self.dim), np.float32)
        ids = self.ids
        if chunk_ids == ids and len(parts) == 1:
            return ids, emb  # the read-only memory map itself
        if chunk_ids != ids:
            where = {i: k for k, i in enumerate(chunk_ids)}
            if len(where) != len(ids) or any(i not in where for i in ids):
                raise FormatError(
                    f"store entry {str(self.path)!r}: its manifest's ids do not match its "
                    f"chunks: run the same `semalign embed` command again to rebuild it"
                )
            emb = emb[np.fromiter((where[i] for i in ids), np.int64, len(ids))]
        return ids, np.ascontiguousarray(emb, dtype=np.float32)

    def rows(self, ids: list[str]) -> np.ndarray:
        """Embeddings of ``ids`` in the given order: float32 (len(ids), dim)."""
        where = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in where]
        if missing:
            raise InputError(
                f"{len(missing)} id(s) not in store {str(self.path)!r} (first: {missing[0]!r}): "
                f"embed them first"
            )
        _, emb = self.read()
        return np.ascontiguousarray(emb[[where[i] for i in ids]], dtype=np.float32)

    def to_npy(
        self, path: str | os.PathLike[str], ids_path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Stream the embeddings, in item order, into a .npy file (ids, one a line, into
        ``ids_path``), one chunk in memory at a time."""
        out = Path(path)
        arr = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(self.n, self.dim))
        ids = self.ids
        where = {i: k for k, i in enumerate(ids)}
        for chunk_ids, emb in self.iter_chunks():
            arr[np.fromiter((where[i] for i in chunk_ids), np.int64, len(chunk_ids))] = emb
        arr.flush()
        del arr
        if ids_path is not None:
            Path(ids_path).write_text("".join(i + "\n" for i in ids), encoding="utf-8")
        return out


def open_store(path: str | os.PathLike[str], verify: bool = True) -> EmbeddingStore:
    """Open a finished entry, or a store root that holds exactly one entry.

    ``verify`` checks every chunk's sha256 against the manifest (reads each file once).
    """
    p = Path(path)
    if not (p / "manifest.json").is_file():
        if (p / "plan.json").is_file():
            raise InputError(
                f"store entry {str(p)!r} is unfinished: run the same embed command to resume it"
            )
        entries = (
            sorted(e for e in p.glob("*/") if (e / "manifest.json").is_file()) if p.is_dir() else []
        )
        if len(entries) == 1:
            p = entries[0]
        elif not entries:
            raise InputError(
                f"{str(p)!r} holds no finished store entry: run `semalign embed` first"
            )
        else:
            names = ", ".join(e.name for e in entries[:5])
            raise InputError(f"store {str(p)!r} holds {len(entries)} entries ({names}): pass one")
    try:
        manifest = json.loads((p / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"store manifest {str(p / 'manifest.json')!r} is unreadable ({exc}): run the same "
            f"`semalign embed` (or `semalign run`) command again to rebuild it"
        ) from exc
    fmt = manifest.get("format")
    if fmt != 1:
        raise FormatError(f"store {str(p)!r} has format {fmt!r}; this semalign reads format 1")
    store = EmbeddingStore(p, manifest)
    if verify:
        store.verify(full=True)
    return store


def read_store(path: str | os.PathLike[str], verify: bool = True) -> tuple[list[str], np.ndarray]:
    """(ids, float32 (n, dim)) of a finished store entry."""
    return open_store(path, verify=verify).read()
