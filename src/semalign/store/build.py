"""Embed items into a content-addressed, chunked, resumable store entry.

Layout of an entry ``ROOT/<encoder>-<key[:16]>/``::

    plan.json               what is being computed (key, fingerprint, ids digest, chunking)
    chunks/000000.safetensors ...   one file per chunk, each written atomically
    manifest.json           written last: chunk list with sha256 and sizes, skipped items

The key hashes the encoder fingerprint with every item's id and content digest, so asking
again for the same embeddings finds the entry and runs no model. A job killed at any moment
resumes where it stopped: finished chunks are kept (their headers are checked) and only missing
ones are computed; each chunk's batches are the same as in an uninterrupted run, so the result is
identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semalign import __version__
from semalign.align.io import atomic_write_bytes
from semalign.errors import FormatError, InputError
from semalign.store.chunks import data_is_intact, read_header, sha256_file, write_chunk
from semalign.store.executor import ChunkExecutor, ChunkJob, ChunkResult, LocalExecutor
from semalign.store.items import Items

STORE_FORMAT = 1
DEFAULT_CHUNK_SIZE = 1024
#: Testing aid: stop the process abruptly (os._exit) after computing this many chunks.
STOP_AFTER_ENV = "SEMALIGN_STORE_STOP_AFTER_CHUNKS"

Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    """What ``embed_to_store`` did: where, how much was computed and reused, what was skipped."""

    path: Path
    key: str
    n_items: int
    n_embedded: int
    chunks_total: int
    chunks_computed: int
    chunks_reused: int
    cache_hit: bool
    seconds: float
    skipped: dict[str, str] = field(default_factory=dict)
    #: chunk files of a finished entry that failed their check (-> why) and were recomputed
    repaired: dict[str, str] = field(default_factory=dict)


def store_key(fingerprint: str, modality: str, ids: list[str], digests: list[str]) -> str:
    """sha256 over the encoder fingerprint and each (id, content digest) pair, in order."""
    h = hashlib.sha256()
    h.update(f"semalign-store:{STORE_FORMAT}:{fingerprint}:{modality}:{len(ids)}\n".encode())
    for i, d in zip(ids, digests, strict=True):
        h.update(f"{len(i)}:{i}\t{d}\n".encode())
    return h.hexdigest()


def entry_dir(root: Path, encoder_name: str, key: str) -> Path:
    """Folder of the store entry for ``key`` under ``root``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name).strip("_")[-60:] or "encoder"
    return root / f"{safe}-{key[:16]}"


def chunk_path(entry: Path, index: int) -> Path:
    """Path of chunk ``index`` inside an entry."""
    return entry / "chunks" / f"{index:06d}.safetensors"


@contextlib.contextmanager
def _entry_lock(entry: Path) -> Iterator[None]:
    """Exclusive lock on an entry; released by the OS if the process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no concurrent-writer protection
        yield
        return
    fh = (entry / ".lock").open("a")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InputError(
                f"store entry {str(entry)!r} is being written by another process: wait for it "
                f"to finish, or stop it"
            ) from exc
        yield
    finally:
        fh.close()


def _check_encoder(encoder: Any, items: Items) -> None:
    if encoder.modality != items.modality:
        raise InputError(
            f"encoder {encoder.name!r} embeds {encoder.modality} but the items are "
            f"{items.modality}: pick a {items.modality} encoder (or the :{items.modality} tower)"
        )


def find_entry(root: str | os.PathLike[str], encoder: Any, items: Items) -> Path | None:
    """The finished entry holding these embeddings under ``root``, or None."""
    key = store_key(encoder.fingerprint, items.modality, items.ids, items.digests())
    entry = entry_dir(Path(root), encoder.name, key)
    return entry if (entry / "manifest.json").is_file() else None


def embed_to_store(
    encoder: Any,
    items: Items,
    root: str | os.PathLike[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = 32,
    on_error: str = "fail",
    progress: Progress | None = None,
    executor: ChunkExecutor | None = None,
) -> BuildReport:
    """Embed ``items`` with ``encoder`` into a store entry under ``root``; resume or reuse.

    ``on_error``: 'fail' raises on the first bad item (unreadable image, empty text); 'skip'
    records it in the manifest and goes on. ``progress(done, total)`` is called after each chunk.
    ``executor`` computes the missing chunks (default: this process, in order; see
    ``semalign.distributed`` for Ray); this function alone writes the chunk files and manifest.
    """
    if on_error not in ("fail", "skip"):
        raise InputError(f"on_error {on_error!r} is unknown: use 'fail' or 'skip'")
    if chunk_size < 1:
        raise InputError(f"chunk_size={chunk_size}: it must be a positive integer")
    _check_encoder(encoder, items)
    start = time.perf_counter()
    key = store_key(encoder.fingerprint, items.modality, items.ids, items.digests())
    entry = entry_dir(Path(root), encoder.name, key)
    n = len(items)
    n_chunks = (n + chunk_size - 1) // chunk_size
    if (entry / "manifest.json").is_file():
        store = _verified(entry)
        if store is not None:
            if progress:
                progress(n, n)
            return BuildReport(entry, key, n, store.n, store.n_chunks, 0, store.n_chunks, True,
                               time.perf_counter() - start, store.skipped)  # fmt: skip
    (entry / "chunks").mkdir(parents=True, exist_ok=True)
    with _entry_lock(entry):
        dropped = _drop_bad_chunks(entry)
        plan = _load_or_write_plan(entry, encoder, items, key, chunk_size, n_chunks)
        chunk_size = int(plan["chunk_size"])
        n_chunks = int(plan["n_chunks"])
        for tmp in (entry / "chunks").glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)  # leftovers of a write interrupted before its rename
        stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
        pending: list[ChunkJob] = []
        done_items = 0
        for c in range(n_chunks):
            lo, hi = c * chunk_size, min(n, (c + 1) * chunk_size)
            if _chunk_is_done(chunk_path(entry, c), c, key, items.ids[lo:hi]):
                done_items += hi - lo
            else:
                pending.append(ChunkJob(c, lo, hi))
        reused = n_chunks - len(pending)
        if progress and reused:
            progress(done_items, n)
        computed = 0
        runner = executor if executor is not None else LocalExecutor()
        results = runner.map_chunks(encoder, items.ids, items.payloads, pending, batch_size)
        try:
            for result in results:
                _write_result(result, entry, key, on_error)
                computed += 1
                done_items += len(result.ids) + len(result.failures)
                if stop_after and computed >= stop_after and computed < len(pending):
                    os._exit(75)
                if progress:
                    progress(done_items, n)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        if computed != len(pending):
            raise RuntimeError(f"the executor returned {computed} of {len(pending)} chunks")
        manifest = _write_manifest(entry, plan, n_chunks)
    return BuildReport(
        entry, key, n, int(manifest["n_embedded"]), n_chunks, computed, reused, False,
        time.perf_counter() - start, dict(manifest["skipped"]), dropped,
    )  # fmt: skip


def _verified(entry: Path) -> Any:
    """The finished entry, opened with every chunk checked; None when anything is amiss."""
    from semalign.store.reader import open_store

    try:
        store = open_store(entry, verify=False)
    except FormatError:
        return None
    return None if store.bad_chunks(full=True) else store


def _drop_bad_chunks(entry: Path) -> dict[str, str]:
    """Delete the chunks of a finished entry that fail their check, and its manifest.

    The store is a cache: what is deleted here is recomputed by the resume that follows.
    Returns the deleted chunk files (relative to the entry) -> why. Call under the entry lock.
    """
    from semalign.store.reader import open_store

    manifest = entry / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        bad = open_store(entry, verify=False).bad_chunks(full=True)
    except FormatError:
        bad = {}  # unreadable manifest: the resume re-checks every chunk against its own checksum
    for name in bad:
        (entry / name).unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    return bad


def _load_or_write_plan(
    entry: Path, encoder: Any, items: Items, key: str, chunk_size: int, n_chunks: int
) -> dict[str, Any]:
    plan_path = entry / "plan.json"
    plan: Any = None
    if plan_path.is_file():
        try:
            plan = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            plan = None  # corrupt or empty: rewritten below; chunks are checked by their headers
    if isinstance(plan, dict) and {"chunk_size", "n_chunks"} <= plan.keys():
        if plan.get("key") != key:
            raise InputError(
                f"store entry {str(entry)!r} holds a different job (key mismatch): delete it"
            )
        return plan  # resume with the chunking the job started with
    plan = {
        "format": STORE_FORMAT,
        "key": key,
        "encoder": encoder.name,
        "fingerprint": encoder.fingerprint,
        "modality": items.modality,
        "dim": int(encoder.dim),
        "n_items": len(items),
        "chunk_size": chunk_size,
        "n_chunks": n_chunks,
        "ids_sha256": hashlib.sha256("\n".join(items.ids).encode()).hexdigest(),
        "semalign_version": __version__,
    }
    atomic_write_bytes(plan_path, json.dumps(plan, indent=2).encode())
    return plan


def _chunk_is_done(path: Path, index: int, key: str, ids: list[str]) -> bool:
    """A finished chunk exists intact, belongs to this job and covers exactly these ids."""
    if not path.is_file():
        return False
    try:
        h = read_header(path)
        intact = data_is_intact(path, h)
    except Exception:
        path.unlink(missing_ok=True)
        return False
    covered = set(h.ids) | set(h.failures)
    ok = intact and h.key == key and h.chunk == index
    ok = ok and covered == set(ids) and len(covered) == len(ids)
    if not ok:
        path.unlink(missing_ok=True)
    return ok


def _write_result(result: ChunkResult, entry: Path, key: str, on_error: str) -> None:
    """Check one computed chunk against ``on_error`` and write it atomically."""
    if result.failures and on_error == "fail":
        item, reason = next(iter(result.failures.items()))
        raise InputError(
            f"item {item!r} cannot be embedded ({reason}): fix it, or pass --on-error skip"
        )
    write_chunk(chunk_path(entry, result.index), result.embeddings, result.rows, result.ids,
                result.failures, result.index, key)  # fmt: skip


def _write_manifest(entry: Path, plan: dict[str, Any], n_chunks: int) -> dict[str, Any]:
    chunks = []
    skipped: dict[str, str] = {}
    n_embedded = 0
    for c in range(n_chunks):
        path = chunk_path(entry, c)
        h = read_header(path)
        chunks.append(
            {
                "file": str(path.relative_to(entry)),
                "rows": h.shape[0],
                "bytes": h.file_size,
                "sha256": sha256_file(path),
            }
        )
        n_embedded += h.shape[0]
        skipped.update(h.failures)
    manifest = {**plan, "chunks": chunks, "n_embedded": n_embedded, "skipped": skipped}
    atomic_write_bytes(entry / "manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest
