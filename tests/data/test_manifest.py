from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semalign.data.readers.manifest import read_manifest
from semalign.errors import InputError


def _images(root: Path, names: list[str]) -> None:
    (root / "img").mkdir()
    for n in names:
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "img" / n)


def test_csv_manifest_with_column_mapping(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "m.csv").write_text(
        "sid,path,report,Effusion,my_score,pid,view\n"
        'x1,img/a.png,"FINDINGS: Small effusion. IMPRESSION: Effusion.",1,0,P1,PA\n'
        "x2,img/b.png,Normal chest.,,-1,P2,lat\n"
    )
    records = list(
        read_manifest(
            tmp_path / "m.csv",
            image_col="path",
            text_col="report",
            label_cols=("Effusion", "my_score"),
            id_col="sid",
            patient_col="pid",
            view_col="view",
        )
    )
    a, b = records
    assert a.id == "x1" and a.image_path == tmp_path / "img" / "a.png"
    assert (a.findings, a.impression) == ("Small effusion.", "Effusion.")
    assert a.labels == {"Pleural Effusion": 1.0, "my_score": 0.0}
    assert math.isnan(b.labels["Pleural Effusion"]) and b.labels["my_score"] == -1.0
    assert b.findings is None and b.report == "Normal chest."
    assert (a.view, b.view, b.patient_id) == ("PA", "LATERAL", "P2")


def test_jsonl_manifest_and_row_ids(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png"])
    rows = [{"image": "img/a.png", "text": "Clear lungs."}, {"image": "img/a.png", "text": "Ok."}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records = list(read_manifest(tmp_path / "m.jsonl", text_col="text"))
    assert [r.id for r in records] == ["row-0", "row-1"]
    assert records[1].report == "Ok."


def test_text_only_manifest(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,report,Pneumonia\na,Consolidation.,1\nb,Clear.,0\n")
    records = list(
        read_manifest(tmp_path / "t.csv", id_col="id", text_col="report", label_cols=("Pneumonia",))
    )
    assert [(r.id, r.report, r.image_paths) for r in records] == [
        ("a", "Consolidation.", ()),
        ("b", "Clear.", ()),
    ]
    assert [r.labels["Pneumonia"] for r in records] == [1.0, 0.0]
    with pytest.raises(InputError, match="--image-column or --text-column"):
        read_manifest(tmp_path / "t.csv")


def test_manifest_errors_name_the_column_or_path(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("image,y\n../outside.png,1\n")
    # a user's manifest may point anywhere on disk (one path policy: data.paths.user_path)
    (record,) = read_manifest(tmp_path / "m.csv")
    assert record.image_paths == (tmp_path.parent / "outside.png",)
    with pytest.raises(InputError, match="'label'"):
        read_manifest(tmp_path / "m.csv", label_cols=("label",))
    (tmp_path / "n.csv").write_text("image,y\na.png,yes\n")
    with pytest.raises(InputError, match=r"'y'.*'yes'"):
        read_manifest(tmp_path / "n.csv", label_cols=("y",))
    (tmp_path / "d.csv").write_text("image,id\na.png,1\nb.png,1\n")
    with pytest.raises(InputError, match="twice"):
        list(read_manifest(tmp_path / "d.csv", id_col="id"))


def test_manifest_csv_with_bom_and_ragged_rows(tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes("\ufeffid,report\na,Clear.\nb,Effusion.\n".encode())
    assert [r.id for r in read_manifest(tmp_path / "bom.csv", id_col="id", text_col="report")] == [
        "a",
        "b",
    ]
    (tmp_path / "ragged.csv").write_text("id,report\na,Clear.,extra\n")
    with pytest.raises(InputError, match="line 2 has 3 fields but the header has 2"):
        read_manifest(tmp_path / "ragged.csv", id_col="id", text_col="report")
    (tmp_path / "dup.csv").write_text("id,report\na,x\nb,y\na,z\n")
    with pytest.raises(InputError, match="id 'a' twice, on lines 2 and 4"):
        list(read_manifest(tmp_path / "dup.csv", id_col="id", text_col="report"))
