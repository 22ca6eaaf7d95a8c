"""A scan of a store: its entries (finished, unfinished or damaged, with their chunks, usage and
lock), chunk files, step-cache units, recipe records and fingerprint records; and ``listing``,
what ``semalign store ls`` shows. Reads only."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semalign.errors import InputError
from semalign.store.build import space_key
from semalign.store.fingerprints import FINGERPRINTS_DIR
from semalign.store.usage import (
    PLANNED,
    RECIPES_DIR,
    STEPS_DIR,
    USAGE,
    format_time,
    mtime,
    parse_time,
    read_json,
    str_list,
)

__all__ = ["Entry", "Recipe", "Scan", "check_root", "is_locked", "listing", "scan"]


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
        doc = read_json(p)
        fp = doc.get("fingerprint") if isinstance(doc, dict) else None
        fingerprints[p] = fp if isinstance(fp, str) else None
    for p in sorted((path / RECIPES_DIR).glob("*.json")):
        r = read_json(p)
        if isinstance(r, dict) and isinstance(r.get("recipe"), str):
            recipes[r["recipe"]] = Recipe(
                p,
                r["recipe"],
                parse_time(r.get("first_run")),
                parse_time(r.get("last_run")),
                str_list(r.get("entries")),
                str_list(r.get("units")),
            )
    return Scan(path, entries, chunk_files, units, recipes, fingerprints)


def _entry(folder: Path) -> Entry:
    e = Entry(folder, "finished" if (folder / "manifest.json").is_file() else "unfinished")
    e.locked = is_locked(folder)
    doc = read_json(folder / ("manifest.json" if e.state == "finished" else "plan.json"))
    if e.state == "finished":
        try:
            files = [folder / str(c["file"]) for c in doc["chunks"]]
            e.n_items = int(doc["n_embedded"])
        except (TypeError, KeyError, ValueError):
            e.state, e.problem = "damaged", "manifest.json is unreadable"
            doc = read_json(folder / "plan.json")
    if e.state != "finished":
        planned = read_json(folder / PLANNED)
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
    usage = read_json(folder / USAGE)
    usage = usage if isinstance(usage, dict) else {}
    e.created = parse_time(usage.get("created")) or mtime(folder / "plan.json", folder)
    e.last_used = parse_time(usage.get("last_used")) or mtime(folder / "manifest.json", folder)
    e.recipes = str_list(usage.get("recipes"))
    e.commands = str_list(usage.get("commands"))
    return e


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
                "created": format_time(e.created),
                "last_used": format_time(e.last_used),
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
                "last_run": format_time(r.last_run),
                "entries": len(r.entries),
                "units": len(r.units),
            }
            for r in s.recipes.values()
        ],
    }
