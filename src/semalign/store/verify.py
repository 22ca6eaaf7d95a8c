"""``semalign store verify``: every chunk checked against its manifest's sha256 or its own
header's data checksum, and every step-cache unit read, each problem with its fix."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from semalign.errors import FormatError
from semalign.store.chunks import data_is_intact, read_header
from semalign.store.reader import open_store
from semalign.store.scan import scan

__all__ = ["Problem", "VerifyReport", "verify"]

_FIX_ENTRY = "run the same `semalign embed` (or `semalign run`) command again to recompute it"


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
