"""RSNA Pneumonia Detection Challenge (Kaggle, stage 2).

Layout under ``root`` (https://www.kaggle.com/c/rsna-pneumonia-detection-challenge):

    stage_2_train_labels.csv            patientId,x,y,width,height,Target (one row per box)
    stage_2_detailed_class_info.csv     optional: patientId,class
    stage_2_train_images/<patientId>.dcm
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from semalign.data.labels import NAN, NEGATIVE, NO_FINDING, POSITIVE
from semalign.data.paths import RootResolver, find_first
from semalign.data.readers._tables import read_table
from semalign.data.records import Record
from semalign.data.views import normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "rsna-pneumonia"
LAYOUT = (
    "ROOT/stage_2_train_labels.csv (patientId,x,y,width,height,Target), optional "
    "ROOT/stage_2_detailed_class_info.csv (patientId,class), images "
    "ROOT/stage_2_train_images/<patientId>.dcm; views from the DICOM headers or a headers CSV "
    "(columns patientId or PatientID, and ViewPosition)"
)
LABEL_TABLES = ("stage_2_train_labels.csv", "stage_2_train_labels.csv.zip")
IMAGE_DIR = "stage_2_train_images"


def dicom_view(path: Path) -> str | None:
    """The ViewPosition of a DICOM header (pixels are not read); None when absent."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["ViewPosition"])
    return normalise_view(ds.get("ViewPosition"))


def _header_views(path: Path) -> dict[str, str | None]:
    import pandas as pd

    table = pd.read_csv(path, dtype=str)
    key = next((c for c in ("patientId", "PatientID") if c in table.columns), None)
    if key is None or "ViewPosition" not in table.columns:
        raise InputError(
            f"{DATASET}: headers table {path} needs columns patientId (or PatientID) and "
            f"ViewPosition; found {', '.join(table.columns[:15])}"
        )
    return {
        str(k): normalise_view(v) for k, v in zip(table[key], table["ViewPosition"], strict=True)
    }


def read_rsna(
    root: Path,
    *,
    labels: Path | None = None,
    headers: Path | None = None,
    dataset: str = DATASET,
) -> Iterator[Record]:
    """RSNA records, one per patient (one image each): Pneumonia = Target, boxes in meta.

    ``meta["boxes"]`` lists (x, y, width, height) in pixels. With the detailed class table,
    ``Normal`` sets No Finding to 1 and the two other classes to 0 (NaN without the table).
    The view comes from ``headers`` when given, else from each DICOM header when the file
    exists, else None. ``split`` is None: the Kaggle test labels were never published.
    """
    root = Path(root)
    path = (
        Path(labels)
        if labels is not None
        else find_first(root, LABEL_TABLES, dataset=dataset, layout=LAYOUT)
    )
    table = read_table(
        path, ["patientId", "x", "y", "width", "height", "Target"], dataset=dataset, layout=LAYOUT
    )
    classes: dict[str, str] = {}
    detail = root / "stage_2_detailed_class_info.csv"
    if detail.is_file():
        info = read_table(detail, ["patientId", "class"], dataset=dataset, layout=LAYOUT)
        classes = dict(zip(info["patientId"].astype(str), info["class"].astype(str), strict=True))
    views = _header_views(Path(headers)) if headers is not None else None
    return _records(root, path, table, classes, views, dataset)


def _records(
    root: Path,
    path: Path,
    table: pd.DataFrame,
    classes: dict[str, str],
    views: dict[str, str | None] | None,
    dataset: str,
) -> Iterator[Record]:
    import pandas as pd

    resolve = RootResolver(root / IMAGE_DIR, source=str(path))
    grouped: dict[str, tuple[set[int], list[tuple[float, float, float, float]]]] = {}
    for pid_raw, x, y, w, h, target in zip(
        *(table[c].tolist() for c in ("patientId", "x", "y", "width", "height", "Target")),
        strict=True,
    ):
        targets, boxes = grouped.setdefault(str(pid_raw), (set(), []))
        targets.add(int(target))
        if pd.notna(x):
            boxes.append((float(x), float(y), float(w), float(h)))
    for pid, (targets, boxes) in grouped.items():
        if not targets <= {0, 1}:
            raise InputError(f"{dataset}: Target of {pid} in {path} is {targets}, not 0 or 1")
        image = resolve(f"{pid}.dcm")
        if views is not None:
            view = views.get(pid)
        else:
            view = dicom_view(image) if image.is_file() else None
        cls = classes.get(pid)
        no_finding = NAN if cls is None else (POSITIVE if cls == "Normal" else NEGATIVE)
        yield Record(
            id=pid,
            dataset=dataset,
            image_paths=(image,),
            labels={"Pneumonia": POSITIVE if 1 in targets else NEGATIVE, NO_FINDING: no_finding},
            patient_id=pid,
            study_id=pid,
            view=view,
            meta={"boxes": boxes, "class": cls},
        )
