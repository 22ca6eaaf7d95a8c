"""Reading the CLI's row sets and checking them against each other before any work.

Embeddings come from an array file (with the ``X.ids.txt`` that ``semalign embed --npy`` writes
beside ``X.npy``, when present) or a store; every command that meets two row sets pairs them
through :func:`semalign.data.ids.pair_rows`. Encoder ids recorded in stores, maps and heads are
cross-checked where two of them meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from semalign.errors import InputError

INTERSECT = typer.Option(
    False,
    "--intersect-ids",
    help="Keep only the ids every input has (a one-line notice says how many were dropped).",
)
ALLOW_MISMATCH = typer.Option(
    False,
    "--allow-encoder-mismatch",
    help="Proceed although the encoder ids recorded in the inputs' headers disagree.",
)


@dataclass(frozen=True)
class Rows:
    """An (n, d) float64 array, its ids (None for a bare array), and the recorded encoder."""

    x: Any
    ids: list[str] | None
    encoder: str | None
    modality: str | None
    name: str  # the role and file, e.g. "source a.npy"

    def take(self, index: Any) -> Rows:
        ids = None if self.ids is None else [self.ids[i] for i in index]
        return Rows(self.x[index], ids, self.encoder, self.modality, self.name)


def read_rows(path: Path, name: str) -> Rows:
    """Embeddings from a store folder or an array file (its ``.ids.txt`` read when present)."""
    import numpy as np

    if path.is_dir():
        from semalign.store import open_store

        store = open_store(path)
        ids, arr = store.read()
        x = np.asarray(arr, np.float64)
        return Rows(x, list(ids), store.encoder, store.modality, f"{name} store {path}")
    from semalign.align.files import read_array
    from semalign.data.ids import ids_path_for, read_ids

    arr = np.asarray(read_array(path, name), dtype=np.float64)
    ids_file = ids_path_for(path)
    ids_or_none = read_ids(ids_file, arr.shape[0]) if ids_file.is_file() else None
    return Rows(arr, ids_or_none, None, None, f"{name} {path.name}")


def pair(rows: list[Rows], labels: Path | None, intersect: bool) -> tuple[list[Rows], Any]:
    """``rows`` (and the labels CSV's rows, keyed by its ``id`` column) paired by id.

    Returns the row sets restricted and reordered to the shared ids, and the labels ``Table`` in
    the same order, or None without ``labels``. Notices
    (order pairing, intersection) go to stderr as one line each.
    """
    from semalign.data.ids import Side, check_unique, pair_rows, read_csv

    sides = [Side(r.name, r.ids, r.x.shape[0]) for r in rows]
    table = None
    if labels is not None:
        counts = {r.x.shape[0] for r in rows}
        table = _trim_trailing_blanks(read_csv(labels, blank_values=True), counts)
        ids = None
        if "id" in table.columns:
            ids = [row["id"].strip() for row in table.rows]
            check_unique(ids, f"labels file {labels}", table.lines)
        sides.append(Side(f"labels file {labels}", ids, len(table.rows)))
    pairing = pair_rows(sides, intersect=intersect)
    for note in pairing.notices:
        typer.echo(note, err=True)
    out = [r.take(i) for r, i in zip(rows, pairing.index, strict=False)]
    if table is None:
        return out, None
    return out, Table(table, pairing.index[-1])


def _trim_trailing_blanks(table: Any, counts: set[int]) -> Any:
    """A one-column labels file reads every empty line as a blank label; empty lines at its very
    end that make it longer than the embeddings (all of one row count) are an editor's trailing
    newlines instead: dropped, with a notice."""
    from dataclasses import replace

    extra = len(table.rows) - next(iter(counts)) if len(counts) == 1 else 0
    if not 0 < extra <= table.trailing_blank:
        return table
    typer.echo(
        f"note: labels file {table.path}: its last {extra} line(s) are empty: read as the end "
        f"of the file, not as blank labels",
        err=True,
    )
    keep = len(table.rows) - extra
    return replace(table, rows=table.rows[:keep], lines=table.lines[:keep], trailing_blank=0)


def paired_arrays(
    paths: tuple[Path, Path], names: tuple[str, str], intersect: bool
) -> tuple[Any, Any, tuple[Any, int]]:
    """Two array files (memory-mapped when possible) with their rows paired by id, and
    ``(kept, n)``: the source rows kept (an index into the first file's ``n`` rows, for per-row
    side files such as labels).

    Rows are reordered only when the files' ``.ids.txt`` say so; in file order they stay
    memory-mapped.
    """
    import numpy as np

    from semalign.align.files import read_array
    from semalign.data.ids import Side, ids_path_for, pair_rows, read_ids

    arrays = [read_array(p, n) for p, n in zip(paths, names, strict=True)]
    sides = []
    for p, n, arr in zip(paths, names, arrays, strict=True):
        ids_file = ids_path_for(p)
        ids = read_ids(ids_file, arr.shape[0]) if ids_file.is_file() else None
        sides.append(Side(f"{n} {p.name}", ids, arr.shape[0]))
    pairing = pair_rows(sides, intersect=intersect)
    for note in pairing.notices:
        typer.echo(note, err=True)
    out = []
    for arr, index in zip(arrays, pairing.index, strict=True):
        in_order = index.size == arr.shape[0] and np.array_equal(index, np.arange(arr.shape[0]))
        out.append(arr if in_order else arr[index])
    return out[0], out[1], (pairing.index[0], arrays[0].shape[0])


def same_encoder(a: str, b: str) -> bool:
    """Whether two recorded encoder ids name the same model (a registry name and its hub id)."""
    from semalign.encoders.registry import REGISTRY

    def canon(name: str) -> str:
        base = name.rsplit(":", 1)[0] if name.endswith((":text", ":image")) else name
        spec = REGISTRY.get(base)
        return spec.model if spec is not None else base

    return a == b or canon(a) == canon(b)


def check_encoders(
    first: str, a: str | None, second: str, b: str | None, allow: bool, fix: str
) -> None:
    """Refuse two recorded encoder ids that differ (unless ``allow``); unknown ids pass."""
    if allow or not a or not b or same_encoder(a, b):
        return
    raise InputError(
        f"{first} is encoder {a!r} but {second} is {b!r}: {fix}, or pass "
        "--allow-encoder-mismatch if this is deliberate"
    )


def at_least(value: int | None, minimum: int, flag: str, meaning: str = "") -> None:
    """Refuse an integer option below ``minimum`` (None means "not given" and passes)."""
    if value is not None and value < minimum:
        extra = f" ({meaning})" if meaning else ""
        raise InputError(f"{flag} {value} must be an integer >= {minimum}{extra}")


class Table:
    """The labels CSV's rows in the order of the paired embedding rows (``index`` into it)."""

    def __init__(self, table: Any, index: Any) -> None:
        self.path: Path = table.path
        self.columns: list[str] = table.columns
        self.rows: list[dict[str, str]] = [table.rows[i] for i in index]
        self.lines: list[int] = [table.lines[i] for i in index]

    def column(self, name: str) -> list[str]:
        if name not in self.columns:
            raise InputError(
                f"labels file {self.path} has no column {name!r}: its columns are "
                f"{', '.join(self.columns)}"
            )
        return [r[name] for r in self.rows]

    def classes(self, name: str) -> Any:
        import numpy as np

        values = self.column(name)
        blank = [i for i, v in enumerate(values) if not v.strip()]
        if blank:
            raise InputError(
                f"labels file {self.path}: column {name!r} is blank on line "
                f"{self.lines[blank[0]]}: give every row a class"
            )
        return np.array([v.strip() for v in values])

    def check_classes(self, name: str, y: Any, test: Any | None = None) -> None:
        """Refuse a class column a head cannot learn from: one class only, or (with the test
        rows) a class whose every row is a test row. Names the file, column, class and counts."""
        import numpy as np

        values = [str(v) for v in np.asarray(y).tolist()]
        classes = sorted(set(values))
        where = f"labels file {self.path}: column {name!r}"
        if len(classes) < 2:
            only = f"{classes[0]!r} on all {len(values)} rows" if classes else "no rows"
            raise InputError(
                f"{where} holds one class only ({only}): a classifier needs two or more; "
                f"pass a column with several classes (--label-column) or add rows of another"
            )
        if test is None:
            return
        in_test = np.zeros(len(values), bool)
        in_test[np.asarray(test, dtype=np.int64)] = True
        for c in classes:
            rows = [i for i, v in enumerate(values) if v == c]
            n_test = int(in_test[rows].sum())
            if n_test == len(rows):
                line = self.lines[rows[0]]
                raise InputError(
                    f"{where}: class {c!r} has {len(rows)} row(s) (first on line {line}), all in "
                    f"the test split and none in training, so the head cannot learn it: give it "
                    f"training rows (another --split-seed / --test-fraction, or the split "
                    f"column), merge it into another class, or drop its rows"
                )

    def multilabel(self, names: list[str], uncertain: str, missing: str) -> tuple[Any, Any]:
        import numpy as np

        from semalign.data.labels import parse_value
        from semalign.metrics.classification import mask_labels

        raw = np.empty((len(self.rows), len(names)))
        for j, name in enumerate(names):
            for i, v in enumerate(self.column(name)):
                try:
                    raw[i, j] = parse_value(v)
                except InputError:
                    raise InputError(
                        f"labels file {self.path}: column {name!r} line {self.lines[i]} holds "
                        f"{v!r}: use 1, 0, -1 (uncertain) or blank (not mentioned)"
                    ) from None
        return mask_labels(raw, uncertain=uncertain, missing=missing)

    def test_rows(
        self, split_column: str | None, test_value: str, fraction: float, seed: int
    ) -> Any:
        import numpy as np

        n = len(self.rows)
        column = split_column or ("split" if "split" in self.columns else None)
        if column is not None:
            wanted = {v.strip() for v in test_value.split(",") if v.strip()}
            test = np.array([v.strip() in wanted for v in self.column(column)])
            if not test.any() or test.all():
                raise InputError(
                    f"labels file {self.path}: column {column!r} marks {int(test.sum())} of {n} "
                    f"rows as {test_value!r}: both test and non-test rows are needed"
                )
            return np.flatnonzero(test)
        return random_test(n, fraction, seed)


def random_test(n: int, fraction: float, seed: int) -> Any:
    """A seeded random test split: sorted row indices, ``fraction`` of ``n`` (at least one)."""
    import numpy as np

    if not 0.0 < fraction < 1.0:
        raise InputError(f"--test-fraction {fraction} must lie strictly between 0 and 1")
    k = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])
