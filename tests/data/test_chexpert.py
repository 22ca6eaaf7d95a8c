from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semalign.data.images import load_image
from semalign.data.labels import CHEXPERT_COMPETITION, CHEXPERT_LABELS
from semalign.data.readers.chexpert import read_chexpert, select_5x200
from semalign.errors import InputError


@pytest.fixture(scope="module")
def table(xrv_data: Path) -> pd.DataFrame:
    return pd.read_csv(xrv_data / "chexpert_train.csv.gz")


@pytest.fixture(scope="module")
def records(xrv_data: Path, tmp_path_factory):
    root = tmp_path_factory.mktemp("chexpert")
    return list(read_chexpert(root, train_csv=xrv_data / "chexpert_train.csv.gz"))


def test_every_row_of_the_real_table_is_a_record(records, table) -> None:
    assert len(records) == len(table) == 223414
    assert len({r.id for r in records}) == len(records)
    patients = table["Path"].str.split("/").str[2]
    assert len({r.patient_id for r in records}) == patients.nunique()
    assert {r.split for r in records} == {"train"}


@pytest.mark.parametrize("name", ["Cardiomegaly", "Pleural Effusion", "No Finding", "Fracture"])
def test_label_counts_agree_with_pandas(records, table, name: str) -> None:
    col = table[name]
    got = np.array([r.labels[name] for r in records])
    assert (got == 1).sum() == (col == 1).sum()
    assert (got == 0).sum() == (col == 0).sum()
    assert (got == -1).sum() == (col == -1).sum()
    assert np.isnan(got).sum() == col.isna().sum()


def test_views_agree_with_the_two_view_columns(records, table) -> None:
    frontal = table["Frontal/Lateral"] == "Frontal"
    views = pd.Series([r.view for r in records])
    assert (views == "PA").sum() == (frontal & (table["AP/PA"] == "PA")).sum()
    assert (views == "AP").sum() == (frontal & (table["AP/PA"] == "AP")).sum()
    assert (views == "LATERAL").sum() == (~frontal).sum()
    assert (views == "FRONTAL").sum() == (frontal & ~table["AP/PA"].isin(["AP", "PA"])).sum()


def test_5x200_is_1000_distinct_single_class_frontal_images(records) -> None:
    chosen = select_5x200(records, seed=0)
    assert len(chosen) == 1000 and len({r.id for r in chosen}) == 1000
    for cls in CHEXPERT_COMPETITION:
        members = [r for r in chosen if r.meta["class"] == cls]
        assert len(members) == 200
        for r in members:
            assert r.view in ("PA", "AP", "FRONTAL")
            assert r.labels[cls] == 1.0
            assert all(r.labels[o] not in (1.0, -1.0) for o in CHEXPERT_COMPETITION if o != cls)
    again = select_5x200(records, seed=0)
    assert [r.id for r in again] == [r.id for r in chosen]
    other = select_5x200(records, seed=1)
    assert {r.id for r in other} != {r.id for r in chosen}


def _jpeg(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 10), value, np.uint8)).save(path)


def test_release_layout_with_images_valid_and_test_sets(tmp_path: Path, table) -> None:
    root = tmp_path / "CheXpert-v1.0-small"
    root.mkdir()
    train = table.head(20)
    train.to_csv(root / "train.csv", index=False)
    valid = table.iloc[20:23].copy()
    valid["Path"] = [
        f"CheXpert-v1.0-small/valid/patient6454{i}/study1/view1_frontal.jpg" for i in range(3)
    ]
    valid.to_csv(root / "valid.csv", index=False)
    for i, p in enumerate([*train["Path"], *valid["Path"]]):
        _jpeg(tmp_path / p, 10 * i)
    labels = ["Study", *CHEXPERT_LABELS]
    gt = pd.DataFrame([["test/patient64741/study1", *([0.0] * 13), 1.0]], columns=labels)
    gt.to_csv(root / "groundtruth.csv", index=False)
    _jpeg(root / "test/patient64741/study1/view1_frontal.jpg", 200)
    _jpeg(root / "test/patient64741/study1/view2_lateral.jpg", 201)

    records = list(read_chexpert(root))
    assert [r.split for r in records] == ["train"] * 20 + ["val"] * 3 + ["test"] * 2
    for i, r in enumerate(records[:23]):
        assert r.image_path.is_file()  # type: ignore[union-attr]
        assert abs(float(load_image(r.image_path).mean()) - 10 * i / 255) < 0.02  # type: ignore[arg-type]
    test = records[23:]
    assert [r.view for r in test] == ["FRONTAL", "LATERAL"]
    assert all(
        r.labels["Support Devices"] == 1.0 and r.study_id == "patient64741/study1" for r in test
    )


def test_paths_escaping_the_root_and_missing_columns_are_refused(tmp_path: Path, table) -> None:
    bad = table.head(2).copy()
    bad.loc[0, "Path"] = "CheXpert-v1.0-small/../../../etc/patient1/study1/view1_frontal.jpg"
    bad.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(InputError, match="escapes the dataset root"):
        list(read_chexpert(tmp_path, splits=("train",)))
    table.head(2).drop(columns=["Edema"]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(InputError, match="'Edema'"):
        read_chexpert(tmp_path, splits=("train",))
    with pytest.raises(InputError, match=r"train\.csv"):
        read_chexpert(tmp_path / "nowhere")
