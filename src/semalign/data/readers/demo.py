"""The offline demo datasets, read in place from installed packages (see semalign.data.packaged).

- ``iu-reports``: the 3,955 IU X-ray reports with MeSH labels (no images).
- ``kermany-mini``: 16 paediatric chest X-rays, 8 normal and 8 bacterial pneumonia, from the
  validation folder of the Kermany et al. (2018) collection shipped in pneumonia-model-package.
- ``rg1``: one real PA chest radiograph DICOM (MONOCHROME1) of pydicom-data, without labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from semalign.data import packaged
from semalign.data.labels import NEGATIVE, NO_FINDING, POSITIVE
from semalign.data.readers.iu_xray import read_iu_xray
from semalign.data.records import Record
from semalign.data.views import normalise_view
from semalign.errors import InputError

_KERMANY = re.compile(
    r"^(?:(?P<normal>NORMAL\d*-IM-\d+)-\d+|(?P<person>person\d+)_(?P<kind>bacteria|virus)_\d+)$"
)


def read_iu_reports(root: Path | None = None) -> Iterator[Record]:
    """The IU X-ray reports of the torchxrayvision wheel, one record per report."""
    source = (
        Path(root) / "NLMCXR_reports.tgz"
        if root
        else packaged.torchxrayvision_data("NLMCXR_reports.tgz")
    )
    return read_iu_xray(reports=source, by="study", dataset="iu-reports")


def kermany_record(path: Path, split: str | None = "val") -> Record:
    """A Kermany paediatric X-ray from its file name: ``NORMAL2-IM-1427-0001`` is normal,
    ``person1946_bacteria_4875`` is bacterial pneumonia of patient ``person1946``."""
    m = _KERMANY.match(path.stem)
    if m is None:
        raise InputError(
            f"kermany: file name {path.name!r} is neither NORMAL*-IM-*-* "
            "nor person*_bacteria_* / person*_virus_*"
        )
    pneumonia = m.group("person") is not None
    return Record(
        id=path.stem,
        dataset="kermany-mini",
        image_paths=(path,),
        labels={
            "Pneumonia": POSITIVE if pneumonia else NEGATIVE,
            NO_FINDING: NEGATIVE if pneumonia else POSITIVE,
        },
        patient_id=m.group("person") or m.group("normal"),
        study_id=path.stem,
        view="FRONTAL",
        split=split,
        meta={"pathogen": m.group("kind")},
    )


def read_kermany_mini(root: Path | None = None) -> Iterator[Record]:
    """The 16 labelled X-rays of pneumonia-model-package (or the ``.jpeg`` files of ``root``)."""
    folder = Path(root) if root else packaged.kermany_mini_dir()
    files = sorted(folder.glob("*.jpeg"))
    if not files:
        raise InputError(f"kermany-mini: no .jpeg files in {folder}: {packaged.SETUP_HINT}")
    return (kermany_record(p) for p in files)


def read_rg1(root: Path | None = None) -> Iterator[Record]:
    """The single RG1_UNCR.dcm chest radiograph of pydicom-data."""
    path = Path(root) / "RG1_UNCR.dcm" if root else packaged.rg1_dicom()
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    yield Record(
        id=path.stem,
        dataset="rg1",
        image_paths=(path,),
        patient_id=str(ds.get("PatientID", "")) or None,
        study_id=str(ds.get("StudyInstanceUID", "")) or None,
        view=normalise_view(ds.get("ViewPosition")),
        meta={
            "modality": str(ds.get("Modality", "")),
            "photometric": str(ds.get("PhotometricInterpretation", "")),
        },
    )
