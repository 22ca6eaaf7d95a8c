from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semalign.data.images import load_image
from semalign.data.labels import CHEXPERT_LABELS
from semalign.data.readers.mimic import read_mimic_cxr
from semalign.errors import InputError

LABEL_COLUMNS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other",
    "Pneumonia", "Pneumothorax", "Support Devices",
]  # fmt: skip
META_COLUMNS = [
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
]  # fmt: skip
IMAGES = [  # dicom_id, subject, study, view, split
    ("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", 10000032, 50414267, "PA", "train"),
    ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", 10000032, 50414267, "LATERAL", "train"),
    ("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", 10000032, 53189527, "AP", "train"),
    ("68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714", 10000764, 57375967, "AP", "validate"),
    ("096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4", 10000764, 57375967, "", "validate"),
]
REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.

 IMPRESSION:

 No acute cardiopulmonary process.
"""


def _write_tree(root: Path, reports_zip: bool = False) -> None:
    meta = pd.DataFrame(
        [[d, s, t, "CHEST (PA AND LAT)", v, 3056, 2544, 21800506, 213014.531, "CHEST", "", ""]
         for d, s, t, v, _ in IMAGES],
        columns=META_COLUMNS,
    )  # fmt: skip
    meta.to_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    split = pd.DataFrame(
        [[d, t, s, sp] for d, s, t, _, sp in IMAGES],
        columns=["dicom_id", "study_id", "subject_id", "split"],
    )
    split.to_csv(root / "mimic-cxr-2.0.0-split.csv.gz", index=False)
    for name, edema in (("chexpert", -1.0), ("negbio", 1.0)):
        rows = []
        for s, t in ((10000032, 50414267), (10000032, 53189527), (10000764, 57375967)):
            values = dict.fromkeys(LABEL_COLUMNS, np.nan)
            if t == 50414267:
                values["No Finding"] = 1.0
            else:
                values.update({"Edema": edema, "Pleural Effusion": 0.0, "Cardiomegaly": 1.0})
            rows.append({"subject_id": s, "study_id": t, **values})
        pd.DataFrame(rows).to_csv(root / f"mimic-cxr-2.0.0-{name}.csv.gz", index=False)
    for i, (d, s, t, _, _) in enumerate(IMAGES):
        folder = root / "files" / f"p{str(s)[:2]}" / f"p{s}" / f"s{t}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((6, 5), 50 * i, np.uint8)).save(folder / f"{d}.jpg")
    texts = {(10000032, 50414267): REPORT, (10000764, 57375967): "FINDINGS AND IMPRESSION: Edema."}
    if reports_zip:
        with zipfile.ZipFile(root / "mimic-cxr-reports.zip", "w") as zf:
            for (s, t), text in texts.items():
                zf.writestr(f"files/p{str(s)[:2]}/p{s}/s{t}.txt", text)
        return
    for (s, t), text in texts.items():
        (root / "files" / f"p{str(s)[:2]}" / f"p{s}" / f"s{t}.txt").write_text(text)


@pytest.mark.parametrize("reports_zip", [False, True])
def test_records_join_images_labels_splits_and_reports(tmp_path: Path, reports_zip: bool) -> None:
    _write_tree(tmp_path, reports_zip)
    records = list(read_mimic_cxr(tmp_path))
    assert [r.id for r in records] == [i[0] for i in IMAGES]
    assert [r.view for r in records] == ["PA", "LATERAL", "AP", "AP", None]
    assert [r.split for r in records] == ["train", "train", "train", "val", "val"]
    assert [r.patient_id for r in records] == ["10000032"] * 3 + ["10000764"] * 2
    for i, r in enumerate(records):
        assert set(r.labels) == set(CHEXPERT_LABELS)
        assert float(load_image(r.image_path).mean()) == pytest.approx(50 * i / 255, abs=0.01)  # type: ignore[arg-type]
    first = records[0]
    assert first.findings == "There is no focal consolidation, pleural effusion or pneumothorax."
    assert first.impression == "No acute cardiopulmonary process."
    assert first.report is not None and first.report.startswith("FINAL REPORT EXAMINATION:")
    assert first.labels["No Finding"] == 1.0 and math.isnan(first.labels["Edema"])
    assert records[2].report is None and records[2].findings is None  # study without a report
    assert records[3].findings == records[3].impression == "Edema."
    assert records[3].labels["Edema"] == -1.0 and records[3].labels["Pleural Effusion"] == 0.0


def test_negbio_labeler_and_missing_files(tmp_path: Path) -> None:
    _write_tree(tmp_path)
    records = list(read_mimic_cxr(tmp_path, labeler="negbio", with_reports=False))
    assert records[3].labels["Edema"] == 1.0 and records[0].report is None
    (tmp_path / "mimic-cxr-2.0.0-split.csv.gz").unlink()
    with pytest.raises(InputError, match=r"mimic-cxr-2\.0\.0-split\.csv\.gz"):
        read_mimic_cxr(tmp_path)
