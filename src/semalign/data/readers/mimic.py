"""MIMIC-CXR-JPG 2.x images and labels, with the free-text reports of MIMIC-CXR.

Layout under ``root`` (https://physionet.org/content/mimic-cxr-jpg/):

    mimic-cxr-2.0.0-metadata.csv.gz    dicom_id,subject_id,study_id,ViewPosition,...
    mimic-cxr-2.0.0-chexpert.csv.gz    subject_id,study_id,<14 CheXpert observations>
    mimic-cxr-2.0.0-negbio.csv.gz      same columns, NegBio labeler
    mimic-cxr-2.0.0-split.csv.gz       dicom_id,study_id,subject_id,split (train/validate/test)
    files/p10/p10000032/s50414267/<dicom_id>.jpg

Reports (https://physionet.org/content/mimic-cxr/) under ``reports_root`` (default ``root``):
``files/p10/p10000032/s50414267.txt`` or ``mimic-cxr-reports.zip``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from semalign.data.labels import CHEXPERT_LABELS, NAN
from semalign.data.paths import RootResolver
from semalign.data.readers._tables import label_rows, read_table
from semalign.data.records import Record
from semalign.data.sections import ReportSections, extract_sections, normalise_whitespace
from semalign.data.views import normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "mimic-cxr"
PREFIX = "mimic-cxr-2.0.0-"
LAYOUT = (
    "ROOT/mimic-cxr-2.0.0-{metadata,chexpert,negbio,split}.csv.gz, images "
    "ROOT/files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg; reports REPORTS/files/pXX/pSUBJECT/sSTUDY.txt "
    "or REPORTS/mimic-cxr-reports.zip (REPORTS defaults to ROOT)"
)
SPLITS = {"train": "train", "validate": "val", "test": "test"}


def study_folder(subject_id: str, study_id: str) -> str:
    """``files/p10/p10000032/s50414267``: the relative folder of a study."""
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}"


def _table(root: Path, name: str, required: list[str], dataset: str) -> pd.DataFrame:
    for candidate in (root / f"{PREFIX}{name}.csv.gz", root / f"{PREFIX}{name}.csv"):
        if candidate.is_file():
            return read_table(candidate, required, dataset=dataset, layout=LAYOUT)
    raise InputError(
        f"{dataset}: missing file {root / f'{PREFIX}{name}.csv.gz'}; expected layout: {LAYOUT}"
    )


class ReportSource:
    """Reads MIMIC-CXR report texts from the ``files/`` tree or ``mimic-cxr-reports.zip``."""

    def __init__(self, reports_root: Path) -> None:
        self.root = Path(reports_root)
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        archive = self.root / "mimic-cxr-reports.zip"
        if archive.is_file():
            self._zip = zipfile.ZipFile(archive)
            for name in self._zip.namelist():
                if name.endswith(".txt"):
                    key = "/".join(name.split("/")[-3:])
                    self._names[key] = name
        self._resolve = RootResolver(self.root)

    def read(self, subject_id: str, study_id: str) -> str | None:
        """The report text of a study, or None when the study has no report file."""
        rel = f"{study_folder(subject_id, study_id)}.txt"
        if self._zip is not None:
            name = self._names.get("/".join(rel.split("/")[-3:]))
            return self._zip.read(name).decode("utf-8") if name else None
        path = self._resolve(rel)
        return path.read_text(encoding="utf-8") if path.is_file() else None


def read_mimic_cxr(
    root: Path,
    *,
    reports_root: Path | None = None,
    labeler: Literal["chexpert", "negbio"] = "chexpert",
    with_reports: bool = True,
    dataset: str = DATASET,
) -> Iterator[Record]:
    """MIMIC-CXR-JPG records, one per image, with the study's report and labels.

    ``labeler`` picks the CheXpert or NegBio label table. Reports are read lazily, one file per
    study; a study without a report gets None texts. ``split`` is train, val or test.
    """
    root = Path(root)
    meta = _table(root, "metadata", ["dicom_id", "subject_id", "study_id", "ViewPosition"], dataset)
    if labeler not in ("chexpert", "negbio"):
        raise InputError(f"{dataset}: labeler {labeler!r} is not 'chexpert' or 'negbio'")
    labels_table = _table(root, labeler, ["subject_id", "study_id"], dataset)
    split_table = _table(root, "split", ["dicom_id", "split"], dataset)
    columns = [c for c in CHEXPERT_LABELS if c in labels_table.columns]
    rows = label_rows(labels_table, columns, source=f"{PREFIX}{labeler}.csv.gz")
    by_study = {str(s): r for s, r in zip(labels_table["study_id"].tolist(), rows, strict=True)}
    splits = {
        str(d): SPLITS.get(str(s), str(s))
        for d, s in zip(split_table["dicom_id"], split_table["split"], strict=True)
    }
    source = ReportSource(reports_root or root) if with_reports else None
    return _records(root, meta, by_study, splits, source, columns, dataset)


def _records(
    root: Path,
    meta: pd.DataFrame,
    by_study: dict[str, dict[str, float]],
    splits: dict[str, str],
    source: ReportSource | None,
    columns: list[str],
    dataset: str,
) -> Iterator[Record]:
    resolve = RootResolver(root, source=f"{PREFIX}metadata.csv.gz")
    cache: dict[str, tuple[str | None, ReportSections | None]] = {}
    missing = dict.fromkeys(columns, NAN)
    for dicom, subject, study, view in zip(
        meta["dicom_id"].tolist(),
        meta["subject_id"].tolist(),
        meta["study_id"].tolist(),
        meta["ViewPosition"].tolist(),
        strict=True,
    ):
        subject_id, study_id, dicom_id = str(subject), str(study), str(dicom)
        if source is not None and study_id not in cache:
            if len(cache) > 4096:
                cache.clear()
            text = source.read(subject_id, study_id)
            cache[study_id] = (text, extract_sections(text) if text else None)
        text, sections = cache.get(study_id, (None, None))
        yield Record(
            id=dicom_id,
            dataset=dataset,
            image_paths=(resolve(f"{study_folder(subject_id, study_id)}/{dicom_id}.jpg"),),
            report=normalise_whitespace(text) if text else None,
            findings=sections.findings if sections else None,
            impression=sections.impression if sections else None,
            labels=dict(by_study.get(study_id, missing)),
            patient_id=subject_id,
            study_id=study_id,
            view=normalise_view(view),
            split=splits.get(dicom_id),
        )
