from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semalign.data.readers.iu_xray import mesh_labels, read_iu_xray


@pytest.fixture(scope="module")
def raw_reports(xrv_data: Path) -> dict[str, str]:
    """Independent view of the archive: member name -> raw XML text."""
    out = {}
    with tarfile.open(xrv_data / "NLMCXR_reports.tgz") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".xml"):
                out[m.name] = tar.extractfile(m).read().decode("utf-8")  # type: ignore[union-attr]
    return out


@pytest.fixture(scope="module")
def iu_records(xrv_data: Path):
    return list(read_iu_xray(reports=xrv_data / "NLMCXR_reports.tgz"))


def _majors(xml: str) -> list[str]:
    return re.findall(r"<major>([^<]*)</major>", xml)


def test_all_3955_reports_are_read(iu_records, raw_reports) -> None:
    assert len(iu_records) == len(raw_reports) == 3955
    assert len({r.id for r in iu_records}) == 3955
    assert all(r.image_paths == () and r.view is None for r in iu_records)


def test_sections_match_a_regex_count_of_the_xml(iu_records, raw_reports) -> None:
    def has(label: str, xml: str) -> bool:
        m = re.search(rf'<AbstractText Label="{label}">([^<]*)</AbstractText>', xml)
        return bool(m and m.group(1).strip())

    n_findings = sum(has("FINDINGS", x) for x in raw_reports.values())
    n_impression = sum(has("IMPRESSION", x) for x in raw_reports.values())
    assert sum(r.findings is not None for r in iu_records) == n_findings == 3425
    assert sum(r.impression is not None for r in iu_records) == n_impression == 3921


def test_label_counts_match_mesh_terms(iu_records, raw_reports) -> None:
    majors = [_majors(x) for x in raw_reports.values()]
    normal = sum(m == ["normal"] for m in majors)
    cardio = sum(
        any(t.startswith("Cardiomegaly") or t.startswith("Cardiac Shadow/enlarged") for t in m)
        for m in majors
    )
    effusion = sum(any(t.split("/")[0] == "Pleural Effusion" for t in m) for m in majors)
    unindexed = sum(m == ["No Indexing"] for m in majors)
    pos = {
        name: sum(r.labels[name] == 1.0 for r in iu_records)
        for name in ("No Finding", "Cardiomegaly", "Pleural Effusion")
    }
    assert pos == {"No Finding": normal, "Cardiomegaly": cardio, "Pleural Effusion": effusion}
    assert normal == 1391
    assert sum(np.isnan(r.labels["Cardiomegaly"]) for r in iu_records) == unindexed == 95


def test_mesh_label_rules() -> None:
    labels = mesh_labels(["Pleural Effusion/right/mild", "Thickening/pleura/right"])
    assert labels["Pleural Effusion"] == 1.0 and labels["Pleural Thickening"] == 1.0
    assert labels["No Finding"] == 0.0 and labels["Cardiomegaly"] == 0.0
    assert mesh_labels(["normal"])["No Finding"] == 1.0
    assert mesh_labels(["Thickening/bronchi"])["Pleural Thickening"] == 0.0
    assert all(np.isnan(v) for v in mesh_labels(["No Indexing"]).values())


def test_image_level_records_with_png_and_views(tmp_path: Path, xrv_data: Path) -> None:
    root = tmp_path / "iu"
    (root / "NLMCXR_png").mkdir(parents=True)
    with tarfile.open(xrv_data / "NLMCXR_reports.tgz") as tar:
        xml = tar.extractfile("ecgen-radiology/1.xml").read()  # type: ignore[union-attr]
    (root / "ecgen-radiology").mkdir()
    (root / "ecgen-radiology" / "1.xml").write_bytes(xml)
    for name in ("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "NLMCXR_png" / f"{name}.png")
    records = list(read_iu_xray(root, metadata=xrv_data / "nlmcxr_dicom_metadata.csv.gz"))
    meta = pd.read_csv(
        xrv_data / "nlmcxr_dicom_metadata.csv.gz", usecols=["imageid", "View Position"]
    )
    truth = dict(zip(meta["imageid"], meta["View Position"], strict=True))
    assert [r.id for r in records] == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]
    assert all(r.study_id == "CXR1" and r.image_path.is_file() for r in records)  # type: ignore[union-attr]
    for r in records:
        expected = truth.get(r.id)
        assert r.view == (None if pd.isna(expected) else expected)
    study = list(read_iu_xray(root, by="study"))
    assert len(study) == 1 and len(study[0].image_paths) == 2
