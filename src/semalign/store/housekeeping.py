"""Store housekeeping: usage records, and the plans behind ``semalign store ls | verify | gc``.

Records under a store ``ROOT`` (JSON, written atomically, best effort: a read-only store still
reads)::

    <entry>/usage.json         created, last_used (UTC), recipes and commands that used the entry
    <entry>/planned.json       the chunk files an unfinished job reads or writes (store/build.py)
    recipes/<recipe>.json      per recipe: first and last run, the entries and step-cache units
                               its last run used

``embed`` writes an entry's usage once per command, the runner once per entry per run (at its
end), so the cost is one small write per entry per command. Each record is a read-modify-write
under a lock on its folder (``flock`` on the entry's, or ``recipes/``'s, directory), so two
processes recording at once both keep their names. Entries without a record (built through the
Python API, or by a run that crashed) fall back to their files' modification times.

Functions here only read the store and return plans or reports, except ``record_*`` and
``apply_gc``; the CLI (``cli/store.py``) prints them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from semalign.artefacts import atomic_write_bytes
from semalign.errors import FormatError, InputError
from semalign.store.fingerprints import FINGERPRINTS_DIR

STEPS_DIR = "steps"  # the experiment step cache (experiments/cache.py)
RECIPES_DIR = "recipes"
USAGE = "usage.json"
PLANNED = "planned.json"
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_FIX_ENTRY = "run the same `semalign embed` (or `semalign run`) command again to recompute it"


def _now() -> str:
    return time.strftime(_TIME, time.gmtime())


def _epoch(text: Any) -> float | None:
    try:
        return datetime.strptime(str(text), _TIME).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _names(values: Any) -> list[str]:
    return [str(v) for v in values] if isinstance(values, list) else []


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Exclusive ``flock`` on a directory itself (no lock file to litter or to delete); yields
    False, holding nothing, when the folder is gone or cannot be locked (no ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no concurrent-writer protection
        yield folder.is_dir()
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)


def record_usage(entry: Path, command: str, recipe: str | None = None) -> None:
    """Note in ``entry/usage.json`` that ``command`` (for ``recipe``) used the entry now.

    ``created`` is when the entry was started (its ``plan.json``, written before any chunk),
    ``last_used`` the time of this call (UTC, whole seconds). Read-modify-write under the entry
    folder's lock, and only while the entry exists (``gc`` deletes it under the same lock).
    Best effort: a store that cannot be written (read-only, full) is left as it is.
    """
    entry = Path(entry)
    with folder_lock(entry) as held:
        if not held or not ((entry / "manifest.json").is_file() or (entry / "plan.json").is_file()):
            return
        old = _read_json(entry / USAGE)
        old = old if isinstance(old, dict) else {}
        now = _now()
        recipes = _names(old.get("recipes"))
        commands = _names(old.get("commands"))
        if recipe is not None and recipe not in recipes:
            recipes.append(recipe)
        if command not in commands:
            commands.append(command)
        usage = {
            # the plan is written when the entry is started, before any chunk is computed
            "created": old.get("created") or _iso(_mtime(entry / "plan.json")) or now,
            "last_used": now,
            "recipes": recipes,
            "commands": commands,
        }
        try:
            atomic_write_bytes(entry / USAGE, json.dumps(usage, indent=1).encode("utf-8"))
        except OSError:
            pass


def recipe_record(root: Path, recipe: str) -> Path:
    """Path of the usage record of ``recipe`` under the store ``root``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", recipe).strip("_") or "recipe"
    return Path(root) / RECIPES_DIR / f"{safe}.json"


def record_recipe_run(
    root: Path, recipe: str, entries: Iterable[str | Path], units: Iterable[str]
) -> None:
    """Record a finished run of ``recipe``: each entry's usage and the recipe's record (the
    entry folder names and step-cache unit file names this run used). Best effort."""
    root = Path(root)
    folders = sorted({Path(e).name for e in entries})
    for name in folders:
        record_usage(root / name, "run", recipe)
    path = recipe_record(root, recipe)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    with folder_lock(path.parent) as held:
        if not held:
            return
        old = _read_json(path)
        now = _now()
        first = old.get("first_run") if isinstance(old, dict) else None
        record = {
            "recipe": recipe,
            "first_run": first or now,
            "last_run": now,
            "entries": folders,
            "units": sorted(set(units)),
        }
        try:
            atomic_write_bytes(path, json.dumps(record, indent=1).encode("utf-8"))
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# scanning


@dataclass
class Entry:
    """One entry folder: finished (manifest), unfinished (plan only) or damaged."""

    path: Path
    state: str  # "finished" | "unfinished" | "damaged"
    encoder: str | None = None
    modality: str | None = None
    n_items: int = 0
    chunks: list[Path] = field(default_factory=list)  # chunk files it references (or plans)
    space: str | None = None  # its chunk folder name (chunks/<space16>), when known
    fingerprint: str | None = None  # its encoder's fingerprint, when known
    chunks_known: bool = True  # False: unfinished or damaged with no chunk list
    created: float | None = None
    last_used: float | None = None
    recipes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    locked: bool = False
    problem: str | None = None  # damaged: why


@dataclass
class Recipe:
    """A recipe's usage record."""

    path: Path
    name: str
    first_run: float | None
    last_run: float | None
    entries: list[str]
    units: list[str]


@dataclass
class Scan:
    """Everything under a store root that housekeeping knows about."""

    root: Path
    entries: list[Entry]
    chunk_files: dict[Path, int]  # every chunk file under chunks/ -> bytes
    units: dict[Path, int]  # every step-cache unit file -> bytes
    recipes: dict[str, Recipe]
    fingerprints: dict[Path, str | None] = field(default_factory=dict)  # record -> fingerprint

    def referenced(self, entries: Iterable[Entry] | None = None) -> set[Path]:
        """Chunk files that ``entries`` (default: all) reference, plan or may be writing."""
        keep: set[Path] = set()
        for e in self.entries if entries is None else entries:
            keep.update(e.chunks)
            if e.locked or not e.chunks_known:
                folder = self.root / "chunks" / e.space if e.space else None
                keep.update(p for p in self.chunk_files if folder is None or p.parent == folder)
        return keep


def check_root(root: str | os.PathLike[str]) -> Path:
    """The store root as an absolute path; InputError when the folder does not exist."""
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise InputError(
            f"store folder {str(path)!r} does not exist: pass --store with the folder that "
            f"`semalign embed --out` or `semalign run --store` wrote"
        )
    return path


def scan(root: str | os.PathLike[str]) -> Scan:
    """Read the store's entries, chunk files, step-cache units and recipe records."""
    path = check_root(root)
    entries = [
        _entry(d)
        for d in sorted(path.iterdir())
        if d.is_dir() and ((d / "manifest.json").is_file() or (d / "plan.json").is_file())
    ]
    chunk_files = {p: p.stat().st_size for p in sorted(path.glob("chunks/*/*.safetensors"))}
    units = {p: p.stat().st_size for p in sorted((path / STEPS_DIR).glob("*.json"))}
    recipes: dict[str, Recipe] = {}
    fingerprints: dict[Path, str | None] = {}
    for p in sorted((path / FINGERPRINTS_DIR).glob("*.json")):
        doc = _read_json(p)
        fp = doc.get("fingerprint") if isinstance(doc, dict) else None
        fingerprints[p] = fp if isinstance(fp, str) else None
    for p in sorted((path / RECIPES_DIR).glob("*.json")):
        r = _read_json(p)
        if isinstance(r, dict) and isinstance(r.get("recipe"), str):
            recipes[r["recipe"]] = Recipe(
                p,
                r["recipe"],
                _epoch(r.get("first_run")),
                _epoch(r.get("last_run")),
                _names(r.get("entries")),
                _names(r.get("units")),
            )
    return Scan(path, entries, chunk_files, units, recipes, fingerprints)


def _entry(folder: Path) -> Entry:
    from semalign.store.build import space_key

    e = Entry(folder, "finished" if (folder / "manifest.json").is_file() else "unfinished")
    e.locked = is_locked(folder)
    doc = _read_json(folder / ("manifest.json" if e.state == "finished" else "plan.json"))
    if e.state == "finished":
        try:
            files = [folder / str(c["file"]) for c in doc["chunks"]]
            e.n_items = int(doc["n_embedded"])
        except (TypeError, KeyError, ValueError):
            e.state, e.problem = "damaged", "manifest.json is unreadable"
            doc = _read_json(folder / "plan.json")
    if e.state != "finished":
        planned = _read_json(folder / PLANNED)
        try:
            files = [folder / str(f) for f in planned["chunks"]]
        except (TypeError, KeyError):
            files, e.chunks_known = [], False
    e.chunks = [Path(os.path.normpath(f)) for f in files]
    if isinstance(doc, dict):
        e.encoder = doc.get("encoder")
        e.modality = doc.get("modality")
        if e.state != "finished":
            e.n_items = int(doc.get("n_items") or 0)
        if isinstance(doc.get("fingerprint"), str):
            e.fingerprint = doc["fingerprint"]
            if isinstance(e.modality, str):
                e.space = space_key(doc["fingerprint"], e.modality)[:16]
    usage = _read_json(folder / USAGE)
    usage = usage if isinstance(usage, dict) else {}
    e.created = _epoch(usage.get("created")) or _mtime(folder / "plan.json", folder)
    e.last_used = _epoch(usage.get("last_used")) or _mtime(folder / "manifest.json", folder)
    e.recipes = _names(usage.get("recipes"))
    e.commands = _names(usage.get("commands"))
    return e


def _mtime(*paths: Path) -> float | None:
    for p in paths:
        try:
            return p.stat().st_mtime
        except OSError:
            continue
    return None


def is_locked(entry: Path) -> bool:
    """Another process holds the entry's write lock (``embed`` is writing it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock files
        return False
    try:
        fh = (entry / ".lock").open("rb")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


# ---------------------------------------------------------------------------------------------
# ls


def listing(root: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``store ls`` shows: one row per entry, totals, step cache, unreferenced chunks."""
    s = scan(root)
    rows = []
    for e in s.entries:
        present = [p for p in e.chunks if p in s.chunk_files]
        rows.append(
            {
                "entry": e.path.name,
                "state": e.state,
                "encoder": e.encoder,
                "modality": e.modality,
                "items": e.n_items,
                "chunks": len(e.chunks),
                "bytes": sum(s.chunk_files[p] for p in present),
                "created": _iso(e.created),
                "last_used": _iso(e.last_used),
                "recipes": e.recipes,
                "commands": e.commands,
            }
        )
    referenced = {p for e in s.entries for p in e.chunks if p in s.chunk_files}
    unreferenced = [p for p in s.chunk_files if p not in s.referenced()]
    return {
        "store": str(s.root),
        "entries": rows,
        "total": {
            "entries": len(rows),
            "chunks": len(referenced),
            "bytes": sum(s.chunk_files[p] for p in referenced),
        },
        "steps": {"units": len(s.units), "bytes": sum(s.units.values())},
        "unreferenced": {
            "chunks": len(unreferenced),
            "bytes": sum(s.chunk_files[p] for p in unreferenced),
        },
        "recipes": [
            {
                "recipe": r.name,
                "last_run": _iso(r.last_run),
                "entries": len(r.entries),
                "units": len(r.units),
            }
            for r in s.recipes.values()
        ],
    }


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime(_TIME, time.gmtime(t))


# ---------------------------------------------------------------------------------------------
# verify


@dataclass
class Problem:
    """One bad file: where, what is wrong, and the fix."""

    path: Path
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}: {self.fix}"


@dataclass
class VerifyReport:
    entries: int = 0
    chunks: int = 0
    bytes: int = 0
    units: int = 0
    problems: list[Problem] = field(default_factory=list)


def verify(
    root: str | os.PathLike[str], check_unit: Callable[[Path], None] | None = None
) -> VerifyReport:
    """Check every finished entry's chunks (sha256 against its manifest, presence), every other
    chunk against the data checksum in its own header, and each step-cache unit with
    ``check_unit(path)`` (raises on a bad unit)."""
    from semalign.store.chunks import data_is_intact, read_header
    from semalign.store.reader import open_store

    s = scan(root)
    rep = VerifyReport(entries=len(s.entries), units=len(s.units))
    digests: dict[Path, str] = {}
    checked: set[Path] = set()
    users: dict[tuple[Path, str], list[str]] = {}  # bad chunk file, why -> entries that use it
    for e in s.entries:
        if e.state == "damaged":
            rep.problems.append(Problem(e.path / "manifest.json", str(e.problem), _FIX_ENTRY))
        if e.state != "finished":
            continue
        try:
            bad = open_store(e.path, verify=False).bad_chunks(full=True, digests=digests)
        except (FormatError, KeyError, TypeError, ValueError) as exc:
            rep.problems.append(
                Problem(e.path / "manifest.json", f"unreadable ({_why(exc)})", _FIX_ENTRY)
            )
            continue
        checked.update(e.chunks)
        for name, why in bad.items():
            users.setdefault((Path(os.path.normpath(e.path / name)), why), []).append(e.path.name)
    for (where, why), names in users.items():
        rep.problems.append(Problem(where, f"{why} (entries {', '.join(names)})", _FIX_ENTRY))
    in_use = s.referenced()
    for p in s.chunk_files:
        if p in checked:
            continue
        why = "its data does not match the checksum in its header"
        try:
            intact = data_is_intact(p, read_header(p))
        except FormatError:
            intact, why = False, "its header does not parse (truncated or overwritten)"
        except OSError:
            continue  # removed since the scan
        checked.add(p)
        if not intact:
            fix = _FIX_ENTRY if p in in_use else "no entry uses it: `semalign store gc` removes it"
            rep.problems.append(Problem(p, f"corrupted ({why})", fix))
    present = checked & set(s.chunk_files)
    rep.chunks = len(present)
    rep.bytes = sum(s.chunk_files[p] for p in present)
    for p in s.units:
        try:
            if check_unit is not None:
                check_unit(p)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fix = "`semalign run` recomputes it"
            rep.problems.append(Problem(p, f"step-cache unit is unreadable ({_why(exc)})", fix))
    return rep


def _why(exc: Exception) -> str:
    """An exception in words: a missing key as a missing field, never a bare repr."""
    if isinstance(exc, KeyError) and exc.args:
        return f"it has no {str(exc.args[0])!r} field"
    if isinstance(exc, TypeError):
        return "a field holds a value of the wrong type"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# gc


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
                      if p.name not in recent and (_mtime(p) or 0.0) < unused_since]  # fmt: skip
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
            and (unused_since is None or (_mtime(p) or 0.0) < unused_since)
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
    from semalign.store.build import SPACE_LOCK

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
