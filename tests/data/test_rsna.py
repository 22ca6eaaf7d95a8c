from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semalign.data.images import load_image
from semalign.data.readers.rsna import read_rsna

from .fixtures import write_dicom


@pytest.fixture(scope="module")
def labels(xrv_data: Path) -> pd.DataFrame:
    return pd.read_csv(xrv_data / "kaggle_stage_2_train_labels.csv.zip")


def test_real_labels_grouped_per_patient(xrv_data: Path, labels, tmp_path: Path) -> None:
    headers = xrv_data / "kaggle_stage_2_train_images_dicom_headers.csv.gz"
    records = list(
        read_rsna(
            tmp_path, labels=xrv_data / "kaggle_stage_2_train_labels.csv.zip", headers=headers
        )
    )
    per_patient = labels.groupby("patientId")["Target"].max()
    assert len(records) == len(per_patient) == 26684
    assert sum(r.labels["Pneumonia"] == 1.0 for r in records) == per_patient.sum() == 6012
    assert sum(len(r.meta["boxes"]) for r in records) == labels["x"].notna().sum()
    h = pd.read_csv(headers)
    truth = dict(zip(h["PatientID"], h["ViewPosition"], strict=True))
    assert all(r.view == truth[r.id] for r in records)
    assert pd.Series([r.view for r in records]).value_counts().to_dict() == {
        "PA": 14511,
        "AP": 12173,
    }


def test_kaggle_layout_reads_views_from_dicom_headers(tmp_path: Path, labels) -> None:
    ids = labels["patientId"].drop_duplicates().tolist()
    pos = labels.loc[labels["Target"] == 1, "patientId"].iloc[0]
    chosen = [ids[0], pos]
    labels[labels["patientId"].isin(chosen)].to_csv(
        tmp_path / "stage_2_train_labels.csv", index=False
    )
    pd.DataFrame({"patientId": chosen, "class": ["Normal", "Lung Opacity"]}).to_csv(
        tmp_path / "stage_2_detailed_class_info.csv", index=False
    )
    folder = tmp_path / "stage_2_train_images"
    folder.mkdir()
    for pid, view in zip(chosen, ["PA", "AP"], strict=True):
        write_dicom(folder / f"{pid}.dcm", np.arange(16, dtype=np.uint16).reshape(4, 4) * 200,
                     BitsStored=12, ViewPosition=view)  # fmt: skip
    records = {r.id: r for r in read_rsna(tmp_path)}
    assert records[chosen[0]].view == "PA" and records[pos].view == "AP"
    assert records[chosen[0]].labels == {"Pneumonia": 0.0, "No Finding": 1.0}
    assert records[pos].labels == {"Pneumonia": 1.0, "No Finding": 0.0}
    n_boxes = int(((labels["patientId"] == pos) & labels["x"].notna()).sum())
    assert len(records[pos].meta["boxes"]) == n_boxes >= 1
    img = load_image(records[pos].image_path)  # type: ignore[arg-type]
    assert img.shape == (4, 4) and img[0, 0] == 0.0 and img[3, 3] == 1.0
    assert img[1, 3] == pytest.approx(1400 / 3000)  # no window: min-max of the image


def test_zipped_label_table_in_root_is_found(tmp_path: Path, xrv_data: Path) -> None:
    with zipfile.ZipFile(xrv_data / "kaggle_stage_2_train_labels.csv.zip") as zf:
        assert zf.namelist() == ["stage_2_train_labels.csv"]
    (tmp_path / "stage_2_train_labels.csv.zip").symlink_to(
        xrv_data / "kaggle_stage_2_train_labels.csv.zip"
    )
    first = next(iter(read_rsna(tmp_path)))
    assert first.id == "0004cfab-14fd-4e49-80ba-63a80b6bddd6" and first.view is None
