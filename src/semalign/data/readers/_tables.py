"""Reading dataset tables with errors that name the file, the column and the layout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semalign.data.labels import canonical_label, parse_value
from semalign.data.paths import require_file
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def read_table(
    path: Path,
    required: Iterable[str],
    *,
    dataset: str,
    layout: str,
    dtype: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.zip``) and check that ``required`` columns exist."""
    import pandas as pd

    require_file(path, dataset=dataset, layout=layout)
    try:
        table = pd.read_csv(path, dtype=dtype)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{dataset}: cannot read {path} as CSV ({exc})") from exc
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(
            f"{dataset}: {path} lacks column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(str, table.columns[:20]))}; expected layout: {layout}"
        )
    return table


def label_dict(row: Mapping[str, object], columns: Iterable[str]) -> dict[str, float]:
    """Canonical label name -> parsed value for ``columns`` of one table row."""
    return {canonical_label(c): parse_value(row[c]) for c in columns}


def text_or_none(value: object) -> str | None:
    """A table cell as a stripped string, None for blank or NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def label_rows(
    table: pd.DataFrame,
    columns: Iterable[str],
    *,
    source: str = "",
    names: Sequence[str] | None = None,
) -> list[dict[str, float]]:
    """Per row, canonical label name -> value (1, 0, -1, NaN), parsed for the whole table at once.

    ``names`` renames the columns (default: their canonical vocabulary names).
    Raises InputError naming the column and the first bad value when a cell is not 1, 0, -1
    or blank.
    """
    import numpy as np
    import pandas as pd

    cols = list(columns)
    names = list(names) if names is not None else [canonical_label(c) for c in cols]
    values = np.empty((len(table), len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        numeric = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=np.float64)
        nan = np.isnan(numeric)
        bad = ~nan & ~np.isin(numeric, (1.0, 0.0, -1.0))
        suspect = np.flatnonzero(nan & table[c].notna().to_numpy())
        if suspect.size:
            cells = table[c].to_numpy()[suspect]
            bad[suspect] = [str(v).strip() != "" for v in cells]
        if bad.any():
            first = table[c].to_numpy()[np.argmax(bad)]
            where = f" of {source}" if source else ""
            raise InputError(
                f"column {c!r}{where} holds {first!r}: label values must be 1, 0, -1 or blank"
            )
        values[:, j] = numeric
    return [dict(zip(names, row, strict=True)) for row in values.tolist()]
