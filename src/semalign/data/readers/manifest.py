"""A user's own data: a CSV or JSONL manifest with a column mapping.

Image paths in the manifest are absolute or relative to ``root`` (default: the manifest's
folder); a user's manifest may point anywhere on disk (``data.paths.user_path``). A JSON-lines file
of records as ``semalign data export`` writes them is read back as those records. Label columns
hold 1, 0, -1 or blank and are renamed to the shared vocabulary when their
name is known (``Effusion`` -> ``Pleural Effusion``); other names are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from semalign.data.labels import canonical_label, is_known_label
from semalign.data.paths import user_path
from semalign.data.readers._tables import label_rows, text_or_none
from semalign.data.records import Record
from semalign.data.sections import extract_sections, normalise_whitespace
from semalign.data.views import normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "manifest"
LAYOUT = (
    "a .csv or .jsonl file with one row per sample; name its columns with --image-column, "
    "--text-column, --label-columns (and optionally --id-column, --patient-column, "
    "--study-column, --view-column, --split-column); image paths absolute or relative to the "
    "manifest's folder"
)


RECORD_KEYS = frozenset(("id", "dataset", "image_paths", "labels"))


def _load(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """The table and the file line of each row (CSV read BOM-tolerant, ragged rows refused)."""
    import pandas as pd

    from semalign.data.ids import read_csv

    if not path.is_file():
        raise InputError(f"{DATASET}: manifest {path} does not exist; expected: {LAYOUT}")
    suffixes = "".join(path.suffixes).lower()
    if ".jsonl" in suffixes or ".ndjson" in suffixes:
        rows, lines = _json_lines(path)
        return pd.DataFrame(rows), lines
    table = read_csv(path, what=f"{DATASET} {path}", delimiter="\t" if ".tsv" in suffixes else ",")
    frame = pd.DataFrame(table.rows, columns=table.columns, dtype=object)
    return frame.where(frame != "", None), table.lines


def _json_lines(path: Path) -> tuple[list[dict[str, object]], list[int]]:
    rows, lines = [], []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{DATASET}: cannot read manifest {path} ({exc})") from exc
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{DATASET}: {path} line {n} is not JSON ({exc}): fix it") from exc
        if not isinstance(row, dict):
            raise InputError(f"{DATASET}: {path} line {n} is not a JSON object")
        rows.append(row)
        lines.append(n)
    return rows, lines


def read_manifest(
    path: Path,
    *,
    root: Path | None = None,
    image_col: str | None = None,
    text_col: str | None = None,
    label_cols: Sequence[str] = (),
    id_col: str | None = None,
    patient_col: str | None = None,
    study_col: str | None = None,
    view_col: str | None = None,
    split_col: str | None = None,
    dataset: str = DATASET,
) -> Iterator[Record]:
    """Records from a manifest. ``text_col`` holds a free-text report whose FINDINGS and
    IMPRESSION sections are extracted when it has headings. Records without ``id_col`` are
    numbered by row (``row-0``, ...). ``image_col`` defaults to an ``image`` column when the
    manifest has one; a manifest with only ``text_col`` is text-only."""
    path = Path(path)
    table, lines = _load(path)
    if len(table) and RECORD_KEYS <= set(table.columns) and image_col is None and text_col is None:
        return _exported(table, lines, path, dataset)
    if image_col is None and "image" in table.columns:
        image_col = "image"
    if image_col is None and text_col is None:
        raise InputError(f"{dataset}: give --image-column or --text-column for {path}")
    wanted = [image_col, text_col, id_col, patient_col, study_col, view_col, split_col]
    missing = [c for c in (*wanted, *label_cols) if c is not None and c not in table.columns]
    if missing:
        raise InputError(
            f"{dataset}: {path} has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(map(str, table.columns))}"
        )
    names = [canonical_label(c) if is_known_label(c) else c for c in label_cols]
    labels = label_rows(table, label_cols, source=str(path), names=names) if label_cols else None
    base = Path(root) if root is not None else path.parent
    cols: dict[str, object] = {
        "path": path,
        "base": base,
        "lines": lines,
        "id_col": id_col,
        "image_col": image_col,
        "text_col": text_col,
        "patient_col": patient_col,
        "study_col": study_col,
        "view_col": view_col,
        "split_col": split_col,
    }
    return _records(table, labels, cols, dataset)


def _records(
    table: pd.DataFrame,
    labels: list[dict[str, float]] | None,
    cols: dict[str, object],
    dataset: str,
) -> Iterator[Record]:
    def cell(row: dict[str, object], key: str) -> str | None:
        col = cols[key]
        return text_or_none(row[col]) if isinstance(col, str) else None

    lines: list[int] = cols["lines"]  # type: ignore[assignment]
    base: Path = cols["base"]  # type: ignore[assignment]
    source = f"{dataset}: {cols['path']}"
    first: dict[str, int] = {}
    for i, row in enumerate(table.to_dict("records")):
        rid = cell(row, "id_col") or f"row-{i}"
        if rid in first:
            raise InputError(
                f"{source} has id {rid!r} twice, on lines {first[rid]} and {lines[i]}: ids must "
                "be unique (drop or rename one)"
            )
        first[rid] = lines[i]
        text = cell(row, "text_col")
        image = None
        if isinstance(cols["image_col"], str) and (text is None or cell(row, "image_col")):
            image = user_path(base, cell(row, "image_col") or "", source=source, row=lines[i])
        sections = extract_sections(text) if text else None
        yield Record(
            id=rid,
            dataset=dataset,
            image_paths=(image,) if image else (),
            report=normalise_whitespace(text) if text else None,
            findings=sections.findings if sections else None,
            impression=sections.impression if sections else None,
            labels=labels[i] if labels is not None else {},
            patient_id=cell(row, "patient_col"),
            study_id=cell(row, "study_col"),
            view=normalise_view(cell(row, "view_col")),
            split=cell(row, "split_col"),
        )


def _exported(table: pd.DataFrame, lines: list[int], path: Path, dataset: str) -> Iterator[Record]:
    """Records from the JSON lines ``semalign data export`` writes (``Record.to_json_dict``)."""
    first: dict[str, int] = {}
    for i, row in enumerate(table.to_dict("records")):
        rid = str(row["id"])
        if rid in first:
            raise InputError(
                f"{dataset}: {path} has id {rid!r} twice, on lines {first[rid]} and {lines[i]}: "
                "ids must be unique"
            )
        first[rid] = lines[i]
        raw = row.get("labels") or {}
        if not isinstance(raw, dict) or not isinstance(row["image_paths"], list):
            raise InputError(
                f"{dataset}: {path} line {lines[i]} has 'labels' that is not an object or "
                "'image_paths' that is not a list: write it with `semalign data export`"
            )
        yield Record(
            id=rid,
            dataset=str(row.get("dataset") or dataset),
            image_paths=tuple(
                user_path(path.parent, str(p), source=str(path), row=lines[i])
                for p in row["image_paths"]
            ),
            report=text_or_none(row.get("report")),
            findings=text_or_none(row.get("findings")),
            impression=text_or_none(row.get("impression")),
            labels={str(k): float("nan") if v is None else float(v) for k, v in raw.items()},
            patient_id=text_or_none(row.get("patient_id")),
            study_id=text_or_none(row.get("study_id")),
            view=normalise_view(text_or_none(row.get("view"))),
            split=text_or_none(row.get("split")),
        )
