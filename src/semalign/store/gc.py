"""``semalign store gc``: ``plan_gc`` says what to delete (unreferenced chunks, entries unused
since a date, or all but what named recipes need), ``apply_gc`` deletes it in an order that
keeps the store consistent at every moment."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from semalign.errors import InputError
from semalign.store.build import SPACE_LOCK
from semalign.store.scan import Entry, scan
from semalign.store.usage import folder_lock, mtime

__all__ = ["GcPlan", "GcResult", "apply_gc", "parse_date", "plan_gc"]


@dataclass
class GcPlan:
    """What ``store gc`` deletes: entry folders (every file in them), step units, recipe
    records, encoder fingerprint records, chunks."""

    root: Path
    entries: list[Path] = field(default_factory=list)
    units: list[Path] = field(default_factory=list)
    records: list[Path] = field(default_factory=list)
    fingerprints: list[Path] = field(default_factory=list)
    chunks: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def files(self) -> dict[Path, int]:
        """Every file to delete -> bytes, in deletion order (entries' manifests first)."""
        out: dict[Path, int] = {}
        for e in self.entries:
            for p in _entry_files(e):
                out[p] = _size(p)
        for p in [*self.units, *self.records, *self.fingerprints, *self.chunks]:
            out[p] = _size(p)
        return out


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _entry_files(entry: Path) -> list[Path]:
    """The entry's files, its manifest first (so no manifest outlives a chunk it names)."""
    files = sorted(Path(d) / f for d, _, names in os.walk(entry) for f in names)
    manifest = entry / "manifest.json"
    return ([manifest] if manifest in files else []) + [f for f in files if f != manifest]


def parse_date(text: str) -> float:
    """UTC midnight of ``YYYY-MM-DD`` as a POSIX time; InputError naming the value otherwise."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise InputError(
            f"--unused-since {text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01"
        ) from exc
    if day.timestamp() > time.time():
        raise InputError(
            f"--unused-since {text} is in the future, so every entry would go: pass today's "
            f"date or an earlier one"
        )
    return day.timestamp()


def plan_gc(
    root: str | os.PathLike[str],
    *,
    unreferenced: bool = False,
    unused_since: float | None = None,
    keep_recipes: Iterable[str] = (),
) -> GcPlan:
    """What to delete, without deleting anything.

    - ``unreferenced`` (the default when no other criterion is given): chunk files that no entry
      references, plans (unfinished entries: ``planned.json``) or may be writing (a locked entry,
      or an unfinished one without a chunk list, keeps every chunk of its encoder space);
    - ``unused_since``: entries last used before that time, then the chunks only they
      referenced; recipe records whose last run was before it; step-cache units that no recipe
      run since then used and that were written before it; fingerprint records of encoders no
      kept entry uses, written (or refreshed) before it;
    - ``keep_recipes``: every entry and step-cache unit except those the named recipes' last
      runs used (and the other recipes' records), the fingerprint records of encoders no kept
      entry uses, then the chunks only the deleted entries referenced.
    An entry whose lock is held is never deleted (a notice says so).
    """
    keep = list(dict.fromkeys(keep_recipes))
    if keep and unused_since is not None:
        raise InputError(
            "--keep-recipe and --unused-since choose entries differently: pass one of them"
        )
    s = scan(root)
    plan = GcPlan(s.root)
    unknown = [r for r in keep if r not in s.recipes]
    if unknown:
        known = ", ".join(sorted(s.recipes)) or "none"
        raise InputError(
            f"recipe {unknown[0]!r} was never run in store {str(s.root)!r} (recipes run here: "
            f"{known}): check the name, or run it first so that gc knows what it needs"
        )
    if not keep and unused_since is None:
        unreferenced = True
    doomed: list[Entry] = []
    if keep:
        kept_names = {n for r in keep for n in s.recipes[r].entries}
        doomed = [
            e for e in s.entries if e.path.name not in kept_names and not set(keep) & set(e.recipes)
        ]
        needed = {n for r in keep for n in s.recipes[r].units}
        plan.units = [p for p in s.units if p.name not in needed]
        plan.records = [r.path for r in s.recipes.values() if r.name not in keep]
    elif unused_since is not None:
        doomed = [e for e in s.entries if (e.last_used or 0.0) < unused_since]
        recent = {u for r in s.recipes.values() if (r.last_run or 0.0) >= unused_since
                  for u in r.units}  # fmt: skip
        plan.units = [p for p in s.units
                      if p.name not in recent and (mtime(p) or 0.0) < unused_since]  # fmt: skip
        plan.records = [r.path for r in s.recipes.values() if (r.last_run or 0.0) < unused_since]
    for e in [e for e in doomed if e.locked]:
        plan.notices.append(
            f"kept store entry {str(e.path)!r}: another process is writing it (its lock is held)"
        )
    doomed = [e for e in doomed if not e.locked]
    plan.entries = [e.path for e in doomed]
    gone = {e.path for e in doomed}
    if keep or unused_since is not None:
        used = {e.fingerprint for e in s.entries if e.path not in gone}
        plan.fingerprints = [
            p for p, fp in s.fingerprints.items()
            if fp not in used and fp is not None
            and (unused_since is None or (mtime(p) or 0.0) < unused_since)
        ]  # fmt: skip
    protected = s.referenced(e for e in s.entries if e.path not in gone)
    candidates = set(s.chunk_files) if unreferenced else set()
    candidates.update(p for e in doomed for p in e.chunks if p in s.chunk_files)
    plan.chunks = sorted(candidates - protected)
    for e in s.entries:
        if e.path not in gone and not e.chunks_known and not e.locked:
            where = f"its encoder space chunks/{e.space}" if e.space else "every chunk"
            plan.notices.append(
                f"kept {where}: store entry {str(e.path)!r} is unfinished and lists no chunks "
                f"(resume it with the same `semalign embed`, or remove it with --unused-since)"
            )
    return plan


@dataclass
class GcResult:
    deleted: dict[Path, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def apply_gc(plan: GcPlan) -> GcResult:
    """Delete what ``plan`` lists, in an order that keeps the store consistent at every moment.

    Entries go first, each under its lock and its manifest first (a crash leaves at most an
    unfinished entry, which ``embed`` resumes); then step units and records; chunks last, one
    encoder space at a time under that space's exclusive writer lock (``build.SPACE_LOCK``:
    no build is between its first chunk check and its manifest there), each re-checked
    against the entries as they are then (a chunk an entry started using since the plan was
    made is kept). A space with a build running keeps its chunks (a notice says so).
    """
    res = GcResult()
    for entry in plan.entries:
        _delete_entry(entry, res)
    for p in [*plan.units, *plan.records, *plan.fingerprints]:
        _unlink(p, res)
    by_space: dict[Path, list[Path]] = {}
    for p in plan.chunks:
        by_space.setdefault(p.parent, []).append(p)
    for folder, files in by_space.items():
        with _space_exclusive(folder) as free:
            if not free:
                res.notices.append(
                    f"kept {len(files)} chunk(s) in {str(folder)!r}: an embed is writing into "
                    f"that encoder space; run gc again once it is done"
                )
                continue
            protected = scan(plan.root).referenced()
            for p in files:
                if p in protected:
                    res.notices.append(f"kept chunk {str(p)!r}: an entry uses it since gc looked")
                else:
                    _unlink(p, res)
    return res


@contextlib.contextmanager
def _space_exclusive(folder: Path) -> Iterator[bool]:
    """Try the exclusive writer lock of a space folder; yields whether gc may delete there (no
    build holds it; also True when locking is impossible, as builds then cannot lock either)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield True
        return
    try:
        fh = (folder / SPACE_LOCK).open("a")
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        fh.close()


def _unlink(p: Path, res: GcResult) -> None:
    size = _size(p)
    try:
        p.unlink()
    except FileNotFoundError:
        return
    res.deleted[p] = size


def _delete_entry(entry: Path, res: GcResult) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        fcntl = None  # type: ignore[assignment]
    lock = entry / ".lock"
    fh = lock.open("rb") if lock.is_file() else None
    try:
        if fh is not None and fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                res.notices.append(
                    f"kept store entry {str(entry)!r}: another process started writing it"
                )
                return
        with folder_lock(entry):  # no usage record is written meanwhile (record_usage)
            for p in _entry_files(entry):
                _unlink(p, res)
            for d, _, _ in sorted(os.walk(entry), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    res.notices.append(f"left folder {d!r}: it is not empty")
    finally:
        if fh is not None:
            fh.close()
