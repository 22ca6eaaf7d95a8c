"""A user's own data: a CSV or JSONL manifest with a column mapping.

Image paths in the manifest are relative to ``root`` (default: the manifest's folder) and must stay
inside it. Label columns hold 1, 0, -1 or blank and are renamed to the shared vocabulary when their
name is known (``Effusion`` -> ``Pleural Effusion``); other names are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from semalign.data.labels import canonical_label, is_known_label
from semalign.data.paths import RootResolver
from semalign.data.readers._tables import label_rows, text_or_none
from semalign.data.records import Record
from semalign.data.sections import extract_sections, normalise_whitespace
from semalign.data.views import normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "manifest"
LAYOUT = (
    "a .csv or .jsonl file with one row per sample; name its columns with --image-col, "
    "--text-col, --label-cols (and optionally --id-col, --patient-col, --study-col, "
    "--view-col, --split-col); image paths relative to the manifest's folder"
)


def _load(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise InputError(f"{DATASET}: manifest {path} does not exist; expected: {LAYOUT}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if ".jsonl" in suffixes or ".ndjson" in suffixes:
            lines = path.read_text(encoding="utf-8").splitlines()
            return pd.DataFrame([json.loads(line) for line in lines if line.strip()])
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError) as exc:
        raise InputError(
            f"{DATASET}: cannot read manifest {path} ({exc}); expected: {LAYOUT}"
        ) from exc


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
    table = _load(path)
    if image_col is None and "image" in table.columns:
        image_col = "image"
    if image_col is None and text_col is None:
        raise InputError(f"{dataset}: give --image-col or --text-col for {path}")
    wanted = [image_col, text_col, id_col, patient_col, study_col, view_col, split_col]
    missing = [c for c in (*wanted, *label_cols) if c is not None and c not in table.columns]
    if missing:
        raise InputError(
            f"{dataset}: {path} has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(map(str, table.columns))}"
        )
    names = [canonical_label(c) if is_known_label(c) else c for c in label_cols]
    labels = label_rows(table, label_cols, source=str(path), names=names) if label_cols else None
    resolver = RootResolver(Path(root) if root is not None else path.parent, source=str(path))
    cols: dict[str, object] = {
        "path": path,
        "id_col": id_col,
        "image_col": image_col,
        "text_col": text_col,
        "patient_col": patient_col,
        "study_col": study_col,
        "view_col": view_col,
        "split_col": split_col,
    }
    return _records(table, resolver, labels, cols, dataset)


def _records(
    table: pd.DataFrame,
    resolve: RootResolver,
    labels: list[dict[str, float]] | None,
    cols: dict[str, object],
    dataset: str,
) -> Iterator[Record]:
    def cell(row: dict[str, object], key: str) -> str | None:
        col = cols[key]
        return text_or_none(row[col]) if isinstance(col, str) else None

    ids: set[str] = set()
    for i, row in enumerate(table.to_dict("records")):
        rid = cell(row, "id_col") or f"row-{i}"
        if rid in ids:
            raise InputError(f"{dataset}: id {rid!r} appears twice in {cols['path']}")
        ids.add(rid)
        image = cell(row, "image_col")
        text = cell(row, "text_col")
        sections = extract_sections(text) if text else None
        yield Record(
            id=rid,
            dataset=dataset,
            image_paths=(resolve(image),) if image else (),
            report=normalise_whitespace(text) if text else None,
            findings=sections.findings if sections else None,
            impression=sections.impression if sections else None,
            labels=labels[i] if labels is not None else {},
            patient_id=cell(row, "patient_col"),
            study_id=cell(row, "study_col"),
            view=normalise_view(cell(row, "view_col")),
            split=cell(row, "split_col"),
        )
