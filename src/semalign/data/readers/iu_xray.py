"""IU X-ray (Indiana University / OpenI): NLMCXR XML reports, MeSH labels, PNG images.

Layout under ``root`` (as downloaded from https://openi.nlm.nih.gov/faq):

    NLMCXR_reports.tgz          or  ecgen-radiology/<n>.xml
    NLMCXR_png/CXR<n>_<k>_IM-<...>.png      (optional)
    nlmcxr_dicom_metadata.csv[.gz]           (optional: ``imageid``, ``View Position``)
"""

from __future__ import annotations

import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from semalign.data.labels import NAN, NEGATIVE, NO_FINDING, POSITIVE, VOCABULARY
from semalign.data.records import Record
from semalign.data.views import normalise_view
from semalign.errors import InputError

DATASET = "iu-xray"
LAYOUT = (
    "ROOT/NLMCXR_reports.tgz (or ROOT/ecgen-radiology/*.xml), optional images "
    "ROOT/NLMCXR_png/*.png and optional ROOT/nlmcxr_dicom_metadata.csv[.gz] for views"
)

MESH_TO_LABEL: dict[str, str] = {
    "normal": NO_FINDING,
    "Cardiomegaly": "Cardiomegaly",
    "Cardiac Shadow/enlarged": "Cardiomegaly",
    "Pleural Effusion": "Pleural Effusion",
    "Pneumonia": "Pneumonia",
    "Opacity": "Lung Opacity",
    "Airspace Disease": "Lung Opacity",
    "Infiltrate": "Infiltration",
    "Pulmonary Atelectasis": "Atelectasis",
    "Consolidation": "Consolidation",
    "Pulmonary Edema": "Edema",
    "Pneumothorax": "Pneumothorax",
    "Nodule": "Nodule",
    "Mass": "Mass",
    "Emphysema": "Emphysema",
    "Pulmonary Emphysema": "Emphysema",
    "Pulmonary Fibrosis": "Fibrosis",
    "Fractures, Bone": "Fracture",
    "Hernia, Hiatal": "Hernia",
    "Hernia, Diaphragmatic": "Hernia",
    "Thickening/pleura": "Pleural Thickening",
    "Catheters, Indwelling": "Support Devices",
    "Tube, Inserted": "Support Devices",
    "Implanted Medical Device": "Support Devices",
}
"""MeSH major term (``Term`` or ``Term/first qualifier``) -> canonical label."""

NO_INDEXING = "No Indexing"


def mesh_labels(major_terms: list[str]) -> dict[str, float]:
    """Labels from a report's MeSH major terms.

    ``normal`` -> No Finding 1 and every other label 0. ``No Indexing`` -> every label NaN.
    Otherwise a mapped term is 1, every other vocabulary label 0 (MeSH indexes every abnormal
    finding of the report), and No Finding 0.
    """
    terms = [t.strip() for t in major_terms if t.strip()]
    if not terms or all(t == NO_INDEXING for t in terms):
        return dict.fromkeys(VOCABULARY, NAN)
    labels = dict.fromkeys(VOCABULARY, NEGATIVE)
    for term in terms:
        parts = [p.strip() for p in term.split("/")]
        for key in ("/".join(parts[:2]), parts[0]):
            name = MESH_TO_LABEL.get(key)
            if name is not None:
                labels[name] = POSITIVE
                break
    if labels[NO_FINDING] == POSITIVE and any(
        v == POSITIVE for k, v in labels.items() if k != NO_FINDING
    ):
        labels[NO_FINDING] = NEGATIVE
    return labels


def parse_report(xml: bytes | str) -> dict[str, object]:
    """The fields of one NLMCXR XML report: uid, sections, MeSH terms and image ids."""
    try:
        tree = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InputError(f"IU X-ray report is not valid XML ({exc})") from exc
    uid_el = tree.find("uId")
    uid = uid_el.get("id") if uid_el is not None else None
    if not uid:
        raise InputError("IU X-ray report has no <uId id=...>: is this an NLMCXR report?")
    sections: dict[str, str] = {}
    for el in tree.iter("AbstractText"):
        label = (el.get("Label") or "").upper()
        text = " ".join("".join(el.itertext()).split())
        if label and text:
            sections[label] = text
    return {
        "uid": uid,
        "sections": sections,
        "major": [el.text or "" for el in tree.iter("major")],
        "automatic": [el.text or "" for el in tree.iter("automatic")],
        "images": [el.get("id") or "" for el in tree.iter("parentImage") if el.get("id")],
    }


def _iter_xml(source: Path) -> Iterator[tuple[str, bytes]]:
    if source.is_dir():
        for path in sorted(source.glob("*.xml"), key=lambda p: (len(p.stem), p.stem)):
            yield path.name, path.read_bytes()
        return
    with tarfile.open(source, mode="r:*") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".xml"):
                fh = tar.extractfile(member)
                if fh is not None:
                    yield member.name, fh.read()


def _find_reports(root: Path) -> Path:
    for candidate in (root / "NLMCXR_reports.tgz", root / "ecgen-radiology"):
        if candidate.exists():
            return candidate
    if root.is_file() and root.suffix in (".tgz", ".gz", ".tar"):
        return root
    raise InputError(f"{DATASET}: no reports found in {root}; expected layout: {LAYOUT}")


def read_views(metadata_csv: Path) -> dict[str, str | None]:
    """``imageid`` -> normalised view from ``nlmcxr_dicom_metadata.csv[.gz]``."""
    import pandas as pd

    try:
        table = pd.read_csv(metadata_csv, usecols=["imageid", "View Position"], dtype=str)
    except ValueError as exc:
        raise InputError(
            f"{metadata_csv} lacks column imageid or 'View Position' ({exc}); expected layout: "
            f"{LAYOUT}"
        ) from exc
    return {
        str(i): normalise_view(v)
        for i, v in zip(table["imageid"], table["View Position"], strict=True)
    }


def read_iu_xray(
    root: Path | None = None,
    *,
    reports: Path | None = None,
    images: Path | None = None,
    metadata: Path | None = None,
    by: Literal["study", "image"] | None = None,
    dataset: str = DATASET,
) -> Iterator[Record]:
    """IU X-ray records: one per report (``by="study"``) or one per image (``by="image"``).

    ``reports`` (tgz or folder of XML), ``images`` (folder of PNGs) and ``metadata`` (views) default
    to their places under ``root``. ``by`` defaults to ``image`` when an image folder exists.
    Study ids, patient ids and record ids of studies are the report uid (``CXR<n>``); OpenI
    publishes no patient identifier, so each report counts as one patient.
    """
    if root is None and reports is None:
        raise InputError(f"{DATASET}: give the dataset root; expected layout: {LAYOUT}")
    base = Path(root) if root is not None else None
    source = Path(reports) if reports is not None else _find_reports(base)  # type: ignore[arg-type]
    if not source.exists():
        raise InputError(f"{DATASET}: reports {source} not found; expected layout: {LAYOUT}")
    image_dir = images
    if image_dir is None and base is not None and (base / "NLMCXR_png").is_dir():
        image_dir = base / "NLMCXR_png"
    if metadata is None and base is not None:
        for name in ("nlmcxr_dicom_metadata.csv.gz", "nlmcxr_dicom_metadata.csv"):
            if (base / name).is_file():
                metadata = base / name
                break
    level = by or ("image" if image_dir is not None else "study")
    if level not in ("study", "image"):
        raise InputError(f"{DATASET}: by={level!r} is not 'study' or 'image'")
    views = read_views(metadata) if metadata is not None else {}
    index = {p.stem: p for p in Path(image_dir).rglob("*.png")} if image_dir else {}
    return _records(source, level, index, views, dataset)


def _records(
    source: Path,
    level: str,
    index: Mapping[str, Path],
    views: Mapping[str, str | None],
    dataset: str,
) -> Iterator[Record]:
    for name, xml in _iter_xml(source):
        try:
            fields = parse_report(xml)
        except InputError as exc:
            raise InputError(f"{source}:{name}: {exc}") from exc
        uid = str(fields["uid"])
        sections: dict[str, str] = fields["sections"]  # type: ignore[assignment]
        report = " ".join(f"{k}: {v}" for k, v in sections.items()) or None
        labels = mesh_labels(fields["major"])  # type: ignore[arg-type]
        image_ids: list[str] = fields["images"]  # type: ignore[assignment]
        meta = {"mesh": fields["major"], "automatic": fields["automatic"], "image_ids": image_ids}
        common = dict(
            dataset=dataset,
            report=report,
            findings=sections.get("FINDINGS"),
            impression=sections.get("IMPRESSION"),
            labels=labels,
            patient_id=uid,
            study_id=uid,
            meta=meta,
        )
        if level == "study":
            paths = tuple(index[i] for i in image_ids if i in index)
            yield Record(id=uid, image_paths=paths, **common)  # type: ignore[arg-type]
            continue
        for image_id in image_ids:
            if image_id not in index:
                continue
            yield Record(
                id=image_id,
                image_paths=(index[image_id],),
                view=views.get(image_id),
                **common,  # type: ignore[arg-type]
            )
