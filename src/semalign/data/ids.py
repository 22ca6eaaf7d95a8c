"""One way to read id-keyed tables and to pair row sets by id, for every command.

``read_csv`` reads a labels CSV or a manifest (BOM-tolerant, ragged rows refused, line numbers
kept); ``read_ids`` reads the ``.ids.txt`` that ``semalign embed --npy`` writes beside an array;
``pair_rows`` lines up any number of row sets: by id when they carry ids, by order only when
none does. Every refusal is an ``InputError`` naming the file, the id and the fix.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semalign.errors import InputError

INTERSECT_FLAG = "--intersect-ids"


@dataclass(frozen=True)
class CsvTable:
    """A CSV's header, its rows as dicts, and the file line on which each row starts."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    #: one-column tables: how many of the last rows came from empty lines at the end of the file
    #: (a blank value, or an editor's trailing newline: the caller decides by the row count)
    trailing_blank: int = 0


#: The longest field ``read_csv`` accepts (Python's csv module stops at 131,072 characters by
#: default; a long report is a legitimate field).
FIELD_LIMIT = 1 << 30


def read_csv(
    path: str | Path,
    *,
    what: str = "labels file",
    delimiter: str = ",",
    blank_values: bool = False,
) -> CsvTable:
    """All rows of a CSV (or TSV with ``delimiter="\\t"``); a UTF-8 BOM is ignored.

    A row with more or fewer fields than the header is an error naming its line. Empty lines
    are skipped, except with ``blank_values`` in a one-column table (a labels column), where an
    empty line is a row whose value is blank: a missing label is not a missing row. Fields up
    to ``FIELD_LIMIT`` characters.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist: check the path")
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    trailing = 0
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, FIELD_LIMIT))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise InputError(f"{what} {path} is empty: write a CSV with a header row")
            columns = [h.strip() for h in header]
            dup = _first_duplicate(columns)
            if dup is not None:
                raise InputError(f"{what} {path} names column {dup!r} twice: rename one")
            start = reader.line_num + 1
            for fields in reader:
                line, start = start, reader.line_num + 1
                if not fields:
                    if not blank_values or len(columns) != 1:
                        continue
                    fields, trailing = [""], trailing + 1
                else:
                    trailing = 0
                if len(fields) != len(columns):
                    raise InputError(
                        f"{what} {path} line {line} has {len(fields)} fields but the header has "
                        f"{len(columns)}: quote values that contain {delimiter!r} or fix the row"
                    )
                rows.append(dict(zip(columns, fields, strict=True)))
                lines.append(line)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as "
            f"UTF-8 CSV"
        ) from exc
    except csv.Error as exc:
        if "field limit" in str(exc):
            where = f"line {reader.line_num}"
            raise InputError(
                f"{what} {path} {where} holds a field over {FIELD_LIMIT:,} characters: shorten "
                f"it, or split the file"
            ) from exc
        raise InputError(
            f"{what} {path} cannot be parsed near line {reader.line_num} ({exc}): check its "
            f"quotes (a value with {delimiter!r}, a quote or a line break must be quoted)"
        ) from exc
    finally:
        csv.field_size_limit(limit)
    return CsvTable(path, columns, rows, lines, trailing)


def _first_duplicate(values: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def check_unique(ids: Sequence[str], source: str, lines: Sequence[int] | None = None) -> None:
    """Refuse a repeated or blank id, naming it and both line numbers (1-based)."""
    first: dict[str, int] = {}
    for i, key in enumerate(ids):
        line = lines[i] if lines is not None else i + 1
        if not key.strip():
            raise InputError(f"{source} line {line} has a blank id: give every row an id")
        if key in first:
            raise InputError(
                f"{source} has id {key!r} twice, on lines {first[key]} and {line}: ids must be "
                "unique (drop or rename one)"
            )
        first[key] = line


def ids_path_for(array_path: str | Path) -> Path:
    """Where ``semalign embed --npy X.npy`` writes the ids of ``X.npy``: ``X.ids.txt``."""
    return Path(array_path).with_suffix(".ids.txt")


def read_ids(path: str | Path, n_rows: int | None = None) -> list[str]:
    """The ids of an ``.ids.txt`` file, one per line; unique, and ``n_rows`` of them if given."""
    path = Path(path)
    try:
        ids = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"ids file {path} cannot be read ({exc}): write one id per line") from exc
    while ids and not ids[-1].strip():
        ids.pop()
    check_unique(ids, f"ids file {path}")
    if n_rows is not None and len(ids) != n_rows:
        raise InputError(
            f"ids file {path} lists {len(ids)} ids but its array has {n_rows} rows: re-export "
            "both with `semalign embed --npy`, or delete the ids file to pair by order"
        )
    return ids


@dataclass(frozen=True)
class Side:
    """One row set a command meets: a name for messages, its ids (None: none), its row count."""

    name: str
    ids: Sequence[str] | None
    n: int


@dataclass(frozen=True)
class Pairing:
    """Row indices into each side (same length, same order), the shared ids, and notices."""

    index: list[np.ndarray]
    ids: list[str] | None
    notices: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.index[0].size) if self.index else 0


def pair_rows(sides: Sequence[Side], *, intersect: bool = False) -> Pairing:
    """Pair the rows of ``sides``: by id whenever a side carries ids, never silently by order.

    Sides with ids are matched on their ids, in the order of the first such side; ids missing
    on some side are an error (counts and three examples) unless ``intersect``, which keeps the
    ids every side has and says how many rows were dropped. A side without ids is paired by
    order with the first side that has them (same row count required). Only when no side has
    ids are all rows paired by order; a notice says so.
    """
    keyed = [s for s in sides if s.ids is not None]
    if not keyed:
        counts = {s.n for s in sides}
        if len(counts) != 1:
            rows = ", ".join(f"{s.name} {s.n}" for s in sides)
            raise InputError(
                f"row counts differ ({rows}) and no side has ids to pair by: give them the same "
                "rows, or ids (a store, an .ids.txt beside the .npy, an id column)"
            )
        names = " and ".join(s.name for s in sides)
        note = f"note: no ids on {names}: rows are paired by order"
        return Pairing([np.arange(sides[0].n) for _ in sides], None, [note])
    for s in keyed:
        check_unique(list(s.ids or ()), s.name)
    ref = keyed[0]
    ref_ids = list(ref.ids or ())
    sets = {s.name: set(s.ids or ()) for s in keyed}
    common_set = set.intersection(*sets.values())
    notices: list[str] = []
    dropped = {s.name: len(sets[s.name]) - len(common_set) for s in keyed}
    if any(dropped.values()):
        if not intersect:
            raise InputError(_mismatch(keyed, sets))
        lost = ", ".join(f"{k} {v}" for k, v in dropped.items() if v)
        notices.append(
            f"note: {INTERSECT_FLAG}: kept the {len(common_set)} ids every side has; dropped {lost}"
        )
    common = [i for i in ref_ids if i in common_set]
    if not common:
        raise InputError(
            f"{' and '.join(s.name for s in keyed)} share no id: pass files that describe the "
            "same items"
        )
    positions = {s.name: {key: j for j, key in enumerate(s.ids or ())} for s in keyed}
    ref_index = np.array([positions[ref.name][i] for i in common], dtype=np.intp)
    index: list[np.ndarray] = []
    for s in sides:
        if s.ids is not None:
            index.append(np.array([positions[s.name][i] for i in common], dtype=np.intp))
            continue
        if s.n != ref.n:
            raise InputError(
                f"{s.name} has {s.n} rows and no ids, {ref.name} has {ref.n}: give {s.name} an "
                f"id column (or ids file) so rows can be matched"
            )
        index.append(ref_index)
        notices.append(f"note: {s.name} has no ids: its rows are paired by order with {ref.name}")
    return Pairing(index, common, notices)


def _mismatch(keyed: Sequence[Side], sets: dict[str, set[str]]) -> str:
    """One sentence: which side lacks which ids (counts and three examples), and the fix."""
    parts = []
    for a in keyed:
        for b in keyed:
            if a is b:
                continue
            only = [i for i in (a.ids or ()) if i not in sets[b.name]]
            if only:
                examples = ", ".join(repr(i) for i in only[:3])
                parts.append(
                    f"{len(only)} of {a.name}'s {a.n} ids are not in {b.name} (e.g. {examples})"
                )
    return (
        f"{'; '.join(parts)}: embed and label the same items, or pass {INTERSECT_FLAG} to keep "
        "only the shared ids"
    )
