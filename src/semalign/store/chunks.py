"""One chunk of a store: a safetensors file holding float32 embeddings and their row positions.

Tensors: ``embeddings`` (m, d) float32, ``rows`` (m,) int64 (positions in the job's item list).
Header metadata (strings): ``ids`` (JSON list, parallel to the rows), ``failures`` (JSON object
id -> reason for items of this chunk that could not be embedded), ``chunk``, ``key``, and
``data_sha256`` (sha256 of the embeddings' bytes then the rows' bytes), so that a chunk can be
checked on its own, without the entry's manifest.

Files are written to a temporary name in the same folder, flushed, fsynced, then renamed, so a
chunk file either exists complete or not at all.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semalign.artefacts import atomic_write_bytes
from semalign.errors import FormatError


@dataclass(frozen=True)
class ChunkHeader:
    """What a chunk file says about itself, read without touching its data."""

    ids: list[str]
    failures: dict[str, str]
    chunk: int
    key: str
    shape: tuple[int, int]
    data_offset: int  # byte offset of the embeddings in the file
    file_size: int
    rows_offsets: tuple[int, int]  # byte range of the rows tensor in the file
    data_sha256: str | None  # None in chunks written before the field existed


def write_chunk(
    path: Path,
    embeddings: np.ndarray,
    rows: np.ndarray,
    ids: list[str],
    failures: dict[str, str],
    chunk: int,
    key: str,
) -> str:
    """Atomically write one chunk file (tmp file + fsync + os.replace); returns its sha256."""
    from safetensors.numpy import save

    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(ids) or rows.shape != (len(ids),):
        raise ValueError(
            f"chunk {chunk}: {emb.shape} embeddings, {len(ids)} ids, rows {rows.shape}"
        )
    rows64 = np.ascontiguousarray(rows, dtype="<i8")
    emb = emb.astype("<f4", copy=False)
    digest = hashlib.sha256(emb.tobytes())
    digest.update(rows64.tobytes())
    blob = save(
        {"embeddings": emb, "rows": rows64},
        metadata={
            "data_sha256": digest.hexdigest(),
            "ids": json.dumps(ids),
            "failures": json.dumps(failures, sort_keys=True),
            "chunk": str(chunk),
            "key": key,
        },
    )
    atomic_write_bytes(path, blob)
    return hashlib.sha256(blob).hexdigest()


def read_header(path: Path) -> ChunkHeader:
    """Parse a chunk's header; raises FormatError naming the file if it is not a valid chunk."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100_000_000 or 8 + n > size:
                raise ValueError("header length out of range")
            header: dict[str, Any] = json.loads(fh.read(n))
        meta = header["__metadata__"]
        emb = header["embeddings"]
        if emb["dtype"] != "F32" or len(emb["shape"]) != 2:
            raise ValueError(f"embeddings are {emb['dtype']} {emb['shape']}")
        begin, end = emb["data_offsets"]
        rows_begin, rows_end = header["rows"]["data_offsets"]
        shape = (int(emb["shape"][0]), int(emb["shape"][1]))
        if end - begin != 4 * shape[0] * shape[1] or 8 + n + max(end, rows_end) != size:
            raise ValueError("file size does not match its header (truncated?)")
        return ChunkHeader(
            ids=list(json.loads(meta["ids"])),
            failures=dict(json.loads(meta["failures"])),
            chunk=int(meta["chunk"]),
            key=str(meta["key"]),
            shape=shape,
            data_offset=8 + n + int(begin),
            file_size=size,
            rows_offsets=(8 + n + int(rows_begin), 8 + n + int(rows_end)),
            data_sha256=meta.get("data_sha256"),
        )
    except FileNotFoundError as exc:
        raise FormatError(
            f"chunk {str(path)!r} is missing: run the same `semalign embed` (or `semalign run`) "
            f"command again to recompute it"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise FormatError(
            f"chunk {str(path)!r} is corrupted ({exc}): run the same `semalign embed` (or "
            f"`semalign run`) command again to recompute it"
        ) from exc


def data_is_intact(path: Path, header: ChunkHeader, blob: bytes | None = None) -> bool:
    """The chunk's tensor bytes match the ``data_sha256`` of its header.

    Reads the file, or takes its bytes already read (``blob``).
    """
    if header.data_sha256 is None:
        return False
    emb_end = header.data_offset + 4 * header.shape[0] * header.shape[1]
    if blob is not None:
        digest = hashlib.sha256(blob[header.data_offset : emb_end])
        digest.update(blob[header.rows_offsets[0] : header.rows_offsets[1]])
        return digest.hexdigest() == header.data_sha256
    with path.open("rb") as fh:
        fh.seek(header.data_offset)
        digest = hashlib.sha256(fh.read(emb_end - header.data_offset))
        fh.seek(header.rows_offsets[0])
        digest.update(fh.read(header.rows_offsets[1] - header.rows_offsets[0]))
    return digest.hexdigest() == header.data_sha256


def map_embeddings(path: Path, header: ChunkHeader) -> np.ndarray:
    """Memory-map a chunk's embeddings read-only: float32 (m, d), no copy."""
    if header.shape[0] == 0:
        return np.zeros(header.shape, dtype=np.float32)
    return np.memmap(path, dtype="<f4", mode="r", offset=header.data_offset, shape=header.shape)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
