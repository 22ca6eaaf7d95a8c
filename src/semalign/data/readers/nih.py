"""NIH ChestX-ray14.

Layout under ``root`` (https://nihcc.app.box.com/v/ChestXray-NIHCC, or the Kaggle mirror):

    Data_Entry_2017.csv        (or Data_Entry_2017_v2020.csv[.gz]) with ``Image Index``,
                               ``Finding Labels`` (``|``-separated), ``Patient ID``,
                               ``Follow-up #``, ``View Position``
    train_val_list.txt, test_list.txt   optional official patient-level split
    images*/[images/]<Image Index>.png  (images_001/images/... on Kaggle, images/ on Box)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from semalign.data.labels import NAN, NEGATIVE, NIH_LABELS, NO_FINDING, POSITIVE, canonical_label
from semalign.data.paths import RootResolver, find_first
from semalign.data.readers._tables import read_table, text_or_none
from semalign.data.records import Record
from semalign.data.views import normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "nih"
LAYOUT = (
    "ROOT/Data_Entry_2017.csv (or Data_Entry_2017_v2020.csv[.gz]) with columns Image Index, "
    "Finding Labels, Patient ID, View Position; optional ROOT/train_val_list.txt and "
    "ROOT/test_list.txt; images ROOT/images*/[images/]<Image Index>.png"
)
TABLES = (
    "Data_Entry_2017_v2020.csv",
    "Data_Entry_2017.csv",
    "Data_Entry_2017_v2020.csv.gz",
    "Data_Entry_2017.csv.gz",
)
REQUIRED = ("Image Index", "Finding Labels", "Patient ID", "View Position")


def nih_labels(finding_labels: str) -> dict[str, float]:
    """``Cardiomegaly|Effusion`` -> the 14 findings and No Finding (unlisted findings are 0).

    NIH labels were mined for all 14 findings in every report, so absence means negative.
    """
    names = {canonical_label(t) for t in str(finding_labels).split("|") if t.strip()}
    unknown = names - set(NIH_LABELS) - {NO_FINDING}
    if unknown:
        raise InputError(f"{DATASET}: unexpected finding(s) {sorted(unknown)} in Finding Labels")
    labels = {n: (POSITIVE if n in names else NEGATIVE) for n in NIH_LABELS}
    labels[NO_FINDING] = POSITIVE if names <= {NO_FINDING} and names else NEGATIVE
    return labels


def _index_images(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for folder in sorted(p for p in root.glob("images*") if p.is_dir()):
        for path in folder.rglob("*.png"):
            index.setdefault(path.name, path)
    return index


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def read_nih(root: Path, *, table: Path | None = None, dataset: str = DATASET) -> Iterator[Record]:
    """NIH ChestX-ray14 records, one per image (study = the image's follow-up visit).

    ``split`` is ``train`` (train_val_list.txt) or ``test`` (test_list.txt) when the lists exist,
    else None. An image absent from the image folders gets its expected path
    ``ROOT/images/<Image Index>``.
    """
    root = Path(root)
    path = (
        Path(table)
        if table is not None
        else find_first(root, TABLES, dataset=dataset, layout=LAYOUT)
    )
    frame = read_table(path, REQUIRED, dataset=dataset, layout=LAYOUT, dtype={"Patient ID": str})
    splits: dict[str, str] = {}
    for name, split in (("train_val_list.txt", "train"), ("test_list.txt", "test")):
        if (root / name).is_file():
            splits.update(dict.fromkeys(_read_list(root / name), split))
    index = _index_images(root)
    return _records(root, path, frame, splits, index, dataset)


def _records(
    root: Path,
    path: Path,
    frame: pd.DataFrame,
    splits: dict[str, str],
    index: dict[str, Path],
    dataset: str,
) -> Iterator[Record]:
    followups = frame["Follow-up #"].tolist() if "Follow-up #" in frame else [None] * len(frame)
    resolve = RootResolver(root / "images", source=str(path))
    parsed: dict[str, dict[str, float]] = {}
    for name, findings, patient, view, follow in zip(
        frame["Image Index"].tolist(),
        frame["Finding Labels"].tolist(),
        frame["Patient ID"].tolist(),
        frame["View Position"].tolist(),
        followups,
        strict=True,
    ):
        image = index.get(name) or resolve(name)
        key = text_or_none(findings) or ""
        if key not in parsed:
            parsed[key] = nih_labels(key) if key else dict.fromkeys(NIH_LABELS, NAN)
        patient_id = str(patient).strip().zfill(8)
        yield Record(
            id=name,
            dataset=dataset,
            image_paths=(image,),
            labels=dict(parsed[key]),
            patient_id=patient_id,
            study_id=name.rsplit(".", 1)[0],
            view=normalise_view(view),
            split=splits.get(name),
            meta={"follow_up": follow},
        )
