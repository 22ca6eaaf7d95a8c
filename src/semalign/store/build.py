"""Embed items into a chunked, resumable store entry whose chunks are keyed by their content.

Layout under a store ``ROOT``::

    chunks/<space[:16]>/<chunk key>.safetensors   chunks, shared by every entry of one encoder
    <encoder>-<key[:16]>/plan.json                what an entry computes (key, fingerprint, ...)
    <encoder>-<key[:16]>/planned.json             the chunk files the job reuses or writes
    <encoder>-<key[:16]>/manifest.json            written last: its chunks (sha256, sizes), the
                                                  ids in item order, skipped items
    <encoder>-<key[:16]>/usage.json               created, last used, by which recipes/commands
                                                  (store/usage.py)

The *space* is the encoder fingerprint and modality (everything that changes the numbers, apart
from the items). Items are grouped into chunks in id order with a content-defined boundary rule:
a chunk ends after an item whose id hashes to 0 mod ``chunk_size // 2`` (once it holds at least
``chunk_size // 2`` items; at most ``2 * chunk_size``). So boundaries depend on the ids around
them only: editing an item's content changes one chunk's key, inserting or appending items
changes the chunk they land in (or adds chunks), and reordering the items changes nothing. A
chunk's key hashes the space with its items' ids and content digests; an existing intact chunk
of that key is reused by any entry, so only chunks with new content run the model.

The entry key hashes the space with every item's id and content digest, in item order, so asking
again for the same embeddings finds the entry and runs no model. A job killed at any moment
resumes where it stopped: finished chunks are kept (their data checksum is checked) and only
missing ones are computed; a chunk's batches depend only on its items, so the result is identical
to an uninterrupted fresh run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semalign import __version__
from semalign.artefacts import atomic_write_bytes
from semalign.errors import FormatError, InputError
from semalign.store.chunks import data_is_intact, read_header, sha256_file, write_chunk
from semalign.store.executor import (
    ChunkExecutor,
    ChunkJob,
    ChunkResult,
    LocalExecutor,
    compute_chunk,
)
from semalign.store.items import Items

STORE_FORMAT = 1
#: Mean items per chunk by modality. A chunk is the unit of resumption and of recomputation
#: after an edit: texts are cheap per item and get edited, so their chunks are small (an edited
#: report re-embeds a few hundred texts); an image chunk also pays a decoding-worker start.
DEFAULT_CHUNK_SIZES = {"text": 256, "image": 1024}


def default_chunk_size(modality: str) -> int:
    """Mean items per chunk for ``modality`` (1024 for modalities not listed)."""
    return DEFAULT_CHUNK_SIZES.get(modality, 1024)


#: Testing aid: stop the process abruptly (os._exit) after computing this many chunks.
STOP_AFTER_ENV = "SEMALIGN_STORE_STOP_AFTER_CHUNKS"
#: Testing aid, ``N:FILE``: after computing N chunks (with more to go), create FILE and wait
#: until it is deleted (or the process killed), so that a test acts on a job stopped mid-way at
#: a known point, whatever the machine's load.
PAUSE_AFTER_ENV = "SEMALIGN_STORE_PAUSE_AFTER_CHUNKS"
#: In each ``chunks/<space16>/`` folder: every build into that space holds a shared ``flock`` on
#: this file from its first chunk check to its manifest; ``store gc`` deletes chunks of a space
#: only while it holds the exclusive lock (store/gc.py), so no chunk a build has seen
#: is deleted under it.
SPACE_LOCK = ".writers.lock"

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


def space_key(fingerprint: str, modality: str) -> str:
    """sha256 naming the latent space a chunk's embeddings live in (encoder + modality)."""
    text = f"semalign-space:{STORE_FORMAT}:{fingerprint}:{modality}"
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_groups(ids: list[str], chunk_size: int) -> list[list[int]]:
    """Positions of ``ids`` grouped into chunks: id order, content-defined boundaries.

    A chunk ends after an id whose sha256 is 0 mod ``max(1, chunk_size // 2)`` once the chunk has
    ``max(1, chunk_size // 2)`` items, or when it reaches ``2 * chunk_size`` items; mean size is
    about ``chunk_size``. Inserting an id moves at most the boundaries of the chunk it lands in.
    """
    low = max(1, chunk_size // 2)
    high = max(low, 2 * chunk_size)
    groups: list[list[int]] = []
    current: list[int] = []
    for pos in sorted(range(len(ids)), key=ids.__getitem__):
        current.append(pos)
        h = int.from_bytes(hashlib.sha256(ids[pos].encode()).digest()[:8], "little")
        if len(current) >= high or (len(current) >= low and h % low == 0):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def chunk_key(space: str, ids: list[str], digests: list[str]) -> str:
    """sha256 of a chunk's space and its items' (id, content digest), in chunk order."""
    h = hashlib.sha256(f"semalign-chunk:{STORE_FORMAT}:{space}:{len(ids)}\n".encode())
    for i, d in zip(ids, digests, strict=True):
        h.update(f"{len(i)}:{i}\t{d}\n".encode())
    return h.hexdigest()


def entry_dir(root: Path, encoder_name: str, key: str) -> Path:
    """Folder of the store entry for ``key`` under ``root``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name).strip("_")[-60:] or "encoder"
    return root / f"{safe}-{key[:16]}"


def chunk_path(root: Path, space: str, key: str) -> Path:
    """Path of the chunk ``key`` of ``space`` under the store ``root``."""
    return root / "chunks" / space[:16] / f"{key}.safetensors"


@contextlib.contextmanager
def _entry_lock(entry: Path, wait: bool = True) -> Iterator[None]:
    """Exclusive lock on an entry; released by the OS if the process dies.

    When another process holds it: with ``wait``, say so on stderr and wait; else fail at once.
    """
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
            if not wait:
                raise InputError(
                    f"store entry {str(entry)!r} is being written by another process: wait for "
                    f"it to finish (drop --no-wait), or stop it"
                ) from exc
            print(f"waiting for another process writing store entry {str(entry)!r} ...",
                  file=sys.stderr, flush=True)  # fmt: skip
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fh.close()


@contextlib.contextmanager
def _space_writer(folder: Path) -> Iterator[None]:
    """Shared lock on the space folder's ``SPACE_LOCK`` (waits while ``store gc`` deletes there;
    without one, e.g. on a read-only store, the build goes on unprotected)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fh = (folder / SPACE_LOCK).open("a")
    except OSError:
        yield
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        yield
    finally:
        fh.close()


def _pause_point(computed: int, more: bool) -> None:
    """``PAUSE_AFTER_ENV``: once ``computed`` chunks are written and ``more`` remain, create the
    named file and wait until it is gone."""
    spec = os.environ.get(PAUSE_AFTER_ENV, "")
    count, _, name = spec.partition(":")
    if not name or not more or computed != int(count or 0):
        return
    flag = Path(name)
    atomic_write_bytes(flag, str(os.getpid()).encode())
    while flag.exists():
        time.sleep(0.01)


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
    chunk_size: int | None = None,
    batch_size: int = 32,
    on_error: str = "fail",
    progress: Progress | None = None,
    executor: ChunkExecutor | None = None,
    wait: bool = True,
    options: dict[str, Any] | None = None,
) -> BuildReport:
    """Embed ``items`` with ``encoder`` into a store entry under ``root``; resume or reuse.

    ``encoder`` is an encoder, or a model name (registry name, hub id or folder) loaded with
    ``options`` only when chunks are missing (its fingerprint recorded in ``root``, see
    ``store.fingerprints``).
    ``on_error``: 'fail' raises on the first bad item (unreadable image, empty text); 'skip'
    records it in the manifest and goes on. ``progress(done, total)`` is called after each chunk.
    ``executor`` computes the missing chunks (default: this process, in order; see
    ``semalign.distributed`` for Ray); this function alone writes the chunk files and manifest.
    ``wait``: when another process is writing the same entry, wait for it (else fail at once);
    once it is done, its finished chunks are reused. ``chunk_size``: mean items per chunk
    (default ``default_chunk_size(items.modality)``: 256 texts, 1024 images); an unfinished
    entry keeps the chunk size it was planned with.
    """
    from semalign.store.fingerprints import FingerprintChanged, resolve_encoder

    if isinstance(encoder, str):
        name, encoder = encoder, resolve_encoder(encoder, options, root)
        if not hasattr(encoder, "embed"):
            raise InputError(
                f"encoder {name!r} is a dual encoder: name a tower, {name}:image or {name}:text"
            )
    if chunk_size is None:
        chunk_size = default_chunk_size(items.modality)
    kwargs = dict(chunk_size=chunk_size, batch_size=batch_size, on_error=on_error,
                  progress=progress, executor=executor, wait=wait)  # fmt: skip
    try:
        return _embed_to_store(encoder, items, Path(root), **kwargs)  # type: ignore[arg-type]
    except FingerprintChanged as exc:  # the record was stale: key the entry by the real one
        return _embed_to_store(exc.encoder, items, Path(root), **kwargs)  # type: ignore[arg-type]


def _embed_to_store(
    encoder: Any,
    items: Items,
    root: Path,
    *,
    chunk_size: int,
    batch_size: int,
    on_error: str,
    progress: Progress | None,
    executor: ChunkExecutor | None,
    wait: bool,
) -> BuildReport:
    if on_error not in ("fail", "skip"):
        raise InputError(f"on_error {on_error!r} is unknown: use 'fail' or 'skip'")
    if chunk_size < 1:
        raise InputError(f"chunk_size={chunk_size}: it must be a positive integer")
    _check_encoder(encoder, items)
    space = space_key(encoder.fingerprint, items.modality)
    with _space_writer(chunk_path(root, space, "").parent):
        return _build(encoder, items, root, space, chunk_size=chunk_size,
                      batch_size=batch_size, on_error=on_error, progress=progress,
                      executor=executor, wait=wait)  # fmt: skip


def _build(
    encoder: Any,
    items: Items,
    root: Path,
    space: str,
    *,
    chunk_size: int,
    batch_size: int,
    on_error: str,
    progress: Progress | None,
    executor: ChunkExecutor | None,
    wait: bool,
) -> BuildReport:
    """``_embed_to_store`` under the space's writer lock."""
    start = time.perf_counter()
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    streamed = 0
    if items.modality == "image" and executor is None:
        digests, streamed = _embed_while_reading(
            encoder, items, root, chunk_size, batch_size, on_error, progress, stop_after
        )
    else:
        digests = items.digests()
    key = store_key(encoder.fingerprint, items.modality, items.ids, digests)
    entry = entry_dir(Path(root), encoder.name, key)
    n = len(items)
    if (entry / "manifest.json").is_file():
        store = _verified(entry)
        if store is not None:
            if progress:
                progress(n, n)
            return BuildReport(entry, key, n, store.n, store.n_chunks, 0, store.n_chunks, True,
                               time.perf_counter() - start, store.skipped)  # fmt: skip
    entry.mkdir(parents=True, exist_ok=True)
    with _entry_lock(entry, wait):
        dropped = _drop_bad_chunks(entry)
        plan = _load_or_write_plan(entry, encoder, items, key, chunk_size)
        groups = chunk_groups(items.ids, int(plan["chunk_size"]))
        order = [pos for g in groups for pos in g]
        ids = [items.ids[p] for p in order]
        payloads = [items.payloads[p] for p in order]
        keys = [chunk_key(space, [items.ids[p] for p in g], [digests[p] for p in g])
                for g in groups]  # fmt: skip
        paths = [chunk_path(Path(root), space, k) for k in keys]
        _write_planned(entry, paths)
        folder = chunk_path(Path(root), space, "").parent
        folder.mkdir(parents=True, exist_ok=True)
        for tmp in folder.glob(".*.tmp-*"):
            if _is_stale(tmp):
                tmp.unlink(missing_ok=True)  # a write interrupted before its rename
        pending: list[ChunkJob] = []
        shas: list[str | None] = [None] * len(groups)
        done_items = lo = 0
        for c, g in enumerate(groups):
            hi = lo + len(g)
            shas[c] = _chunk_is_done(paths[c], keys[c], ids[lo:hi])
            if shas[c] is not None:
                done_items += hi - lo
            else:
                pending.append(ChunkJob(c, lo, hi))
            lo = hi
        reused = len(groups) - len(pending)
        if progress and reused:
            progress(done_items, n)
        computed = 0
        runner = executor if executor is not None else LocalExecutor()
        results = runner.map_chunks(encoder, ids, payloads, pending, batch_size)
        starts = {job.index: job.lo for job in pending}
        try:
            for result in results:
                shas[result.index] = _write_result(result, paths[result.index],
                                                   keys[result.index], starts[result.index],
                                                   on_error)  # fmt: skip
                computed += 1
                done_items += len(result.ids) + len(result.failures)
                if stop_after and computed >= stop_after and computed < len(pending):
                    os._exit(75)
                _pause_point(computed, computed < len(pending))
                if progress:
                    progress(done_items, n)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        if computed != len(pending):
            raise RuntimeError(f"the executor returned {computed} of {len(pending)} chunks")
        manifest = _write_manifest(entry, plan, paths, items.ids, shas)
    streamed = min(streamed, reused)  # computed while reading, then found done above
    return BuildReport(
        entry, key, n, int(manifest["n_embedded"]), len(groups), computed + streamed,
        reused - streamed, False, time.perf_counter() - start, dict(manifest["skipped"]), dropped,
    )  # fmt: skip


#: Image bytes a chunk keeps in memory to decode them without a second read; beyond it the
#: remaining files of that chunk are decoded from their paths (read again).
CHUNK_BYTES_BUDGET = 512 << 20


def _embed_while_reading(
    encoder: Any, items: Items, root: Path, chunk_size: int, batch_size: int, on_error: str,
    progress: Progress | None, stop_after: int,
) -> tuple[list[str], int]:  # fmt: skip
    """Image items: read each file once, hash it, and compute missing chunks from those bytes.

    Chunk by chunk (the caller's ``chunk_size``): the chunk's files are read and hashed; when a
    chunk of that key exists (its header names that key and these ids) the bytes are dropped,
    else the chunk is decoded from the same bytes, embedded and written. The entry is then
    planned and checked as for texts, with every chunk present. Returns (the items' content
    digests, chunks computed).
    """
    from semalign.data.images import ImageBytes
    from semalign.store.items import read_and_digest

    space = space_key(encoder.fingerprint, items.modality)
    chunk_path(root, space, "").parent.mkdir(parents=True, exist_ok=True)
    digests = [""] * len(items)
    computed = done = 0
    groups = chunk_groups(items.ids, chunk_size)
    for c, g in enumerate(groups):
        payloads: list[Any] = []
        held = 0
        for p in g:
            data, digests[p] = read_and_digest(items.payloads[p])
            keep = data is not None and held + len(data) <= CHUNK_BYTES_BUDGET
            payloads.append(ImageBytes(items.payloads[p], data) if keep else items.payloads[p])  # type: ignore[arg-type]
            held += len(data) if keep and data is not None else 0
        ids = [items.ids[p] for p in g]
        key = chunk_key(space, ids, [digests[p] for p in g])
        path = chunk_path(root, space, key)
        done += len(g)
        if _chunk_exists(path, key, ids):
            continue
        result = compute_chunk(encoder, ChunkJob(c, 0, len(g)), ids, payloads, batch_size)
        _write_result(result, path, key, 0, on_error)
        computed += 1
        if stop_after and computed >= stop_after and c < len(groups) - 1:
            os._exit(75)
        _pause_point(computed, c < len(groups) - 1)
        if progress:
            progress(done, len(items))
    return digests, computed


def _chunk_exists(path: Path, key: str, ids: list[str]) -> bool:
    """A chunk file whose header names ``key`` and covers ``ids`` (its data is checked later)."""
    try:
        h = read_header(path)
    except FormatError:
        return False
    return h.key == key and sorted(h.ids + list(h.failures)) == sorted(ids)


def _is_stale(tmp: Path) -> bool:
    """A temporary file of ``atomic_write_bytes`` whose writer is gone (dead pid, or > 1 h old)."""
    try:
        age = time.time() - tmp.stat().st_mtime
        pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-")[0])
    except (OSError, ValueError, IndexError):
        return False
    if age > 3600:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


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
    entry: Path, encoder: Any, items: Items, key: str, chunk_size: int
) -> dict[str, Any]:
    plan_path = entry / "plan.json"
    plan: Any = None
    if plan_path.is_file():
        try:
            plan = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            plan = None  # corrupt or empty: rewritten below; chunks are checked by their headers
    if isinstance(plan, dict) and isinstance(plan.get("chunk_size"), int):
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
        "ids_sha256": hashlib.sha256("\n".join(items.ids).encode()).hexdigest(),
        "semalign_version": __version__,
    }
    atomic_write_bytes(plan_path, json.dumps(plan, indent=2).encode())
    return plan


def _write_planned(entry: Path, paths: list[Path]) -> None:
    """``planned.json``: the chunk files this job reuses or writes, which ``semalign store gc``
    keeps while the entry is unfinished."""
    files = [os.path.relpath(p, entry) for p in paths]
    atomic_write_bytes(entry / "planned.json", json.dumps({"chunks": files}).encode())


def _chunk_is_done(path: Path, key: str, ids: list[str]) -> str | None:
    """The sha256 of the chunk file when it exists intact, of this key, covering exactly these
    ids; else None (and the file is deleted). The file is read once."""
    if not path.is_file():
        return None
    try:
        blob = path.read_bytes()
        h = read_header(path)
        intact = h.file_size == len(blob) and data_is_intact(path, h, blob)
    except Exception:
        path.unlink(missing_ok=True)
        return None
    covered = h.ids + list(h.failures)
    if intact and h.key == key and sorted(covered) == sorted(ids):
        return hashlib.sha256(blob).hexdigest()
    path.unlink(missing_ok=True)
    return None


def _write_result(result: ChunkResult, path: Path, key: str, lo: int, on_error: str) -> str:
    """Check one computed chunk against ``on_error`` and write it atomically; its sha256.

    The chunk's ``rows`` are positions within the chunk (chunks are shared between entries).
    """
    if result.failures and on_error == "fail":
        item, reason = next(iter(result.failures.items()))
        raise InputError(
            f"item {item!r} cannot be embedded ({reason}): fix it, or pass --on-error skip"
        )
    return write_chunk(path, result.embeddings, result.rows - lo, result.ids, result.failures,
                       result.index, key)  # fmt: skip


def _write_manifest(
    entry: Path, plan: dict[str, Any], paths: list[Path], item_ids: list[str],
    shas: list[str | None],
) -> dict[str, Any]:  # fmt: skip
    """The entry's manifest: its chunks in chunk order and the embedded ids in item order.

    ``shas``: each chunk file's sha256 where already known (checked or written in this run).
    """
    chunks = []
    skipped: dict[str, str] = {}
    n_embedded = 0
    for path, sha in zip(paths, shas, strict=True):
        h = read_header(path)
        chunks.append(
            {
                "file": os.path.relpath(path, entry),
                "rows": h.shape[0],
                "bytes": h.file_size,
                "sha256": sha or sha256_file(path),
            }
        )
        n_embedded += h.shape[0]
        skipped.update(h.failures)
    order = [i for i in item_ids if i not in skipped]
    manifest = {**plan, "chunks": chunks, "n_embedded": n_embedded, "skipped": skipped,
                "order": order}  # fmt: skip
    atomic_write_bytes(entry / "manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest
