"""Store usage records: when each entry was created and last used, and by which recipes and
commands; and the store's layout names and the record helpers the other housekeeping parts read.

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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from semalign.artefacts import atomic_write_bytes

__all__ = [
    "PLANNED",
    "RECIPES_DIR",
    "STEPS_DIR",
    "USAGE",
    "folder_lock",
    "format_time",
    "mtime",
    "now_utc",
    "parse_time",
    "read_json",
    "recipe_record",
    "record_recipe_run",
    "record_usage",
    "str_list",
]

STEPS_DIR = "steps"  # the experiment step cache (experiments/cache.py)
RECIPES_DIR = "recipes"
USAGE = "usage.json"
PLANNED = "planned.json"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def now_utc() -> str:
    """The time now, UTC, whole seconds (``2026-11-01T12:00:00Z``)."""
    return time.strftime(TIME_FORMAT, time.gmtime())


def parse_time(text: Any) -> float | None:
    """A record's UTC time as a POSIX time; None when it is not one."""
    try:
        return datetime.strptime(str(text), TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def str_list(values: Any) -> list[str]:
    """A record's list of names as strings; empty when it is not a list."""
    return [str(v) for v in values] if isinstance(values, list) else []


def format_time(t: float | None) -> str | None:
    """A POSIX time as a record's UTC time; None stays None."""
    return None if t is None else time.strftime(TIME_FORMAT, time.gmtime(t))


def mtime(*paths: Path) -> float | None:
    """The modification time of the first of ``paths`` that exists; None when none does."""
    for p in paths:
        try:
            return p.stat().st_mtime
        except OSError:
            continue
    return None


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
        old = read_json(entry / USAGE)
        old = old if isinstance(old, dict) else {}
        now = now_utc()
        recipes = str_list(old.get("recipes"))
        commands = str_list(old.get("commands"))
        if recipe is not None and recipe not in recipes:
            recipes.append(recipe)
        if command not in commands:
            commands.append(command)
        usage = {
            # the plan is written when the entry is started, before any chunk is computed
            "created": old.get("created") or format_time(mtime(entry / "plan.json")) or now,
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
        old = read_json(path)
        now = now_utc()
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
