from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from semalign.data.images import load_image
from semalign.data.labels import NIH_LABELS, canonical_label
from semalign.data.readers.nih import nih_labels, read_nih
from semalign.errors import InputError


@pytest.fixture(scope="module")
def table(xrv_data: Path) -> pd.DataFrame:
    return pd.read_csv(xrv_data / "Data_Entry_2017_v2020.csv.gz")


@pytest.fixture(scope="module")
def records(xrv_data: Path, tmp_path_factory):
    root = tmp_path_factory.mktemp("nih")
    return list(read_nih(root, table=xrv_data / "Data_Entry_2017_v2020.csv.gz"))


def test_counts_agree_with_an_independent_pandas_count(records, table) -> None:
    assert len(records) == len(table) == 112120
    assert len({r.patient_id for r in records}) == table["Patient ID"].nunique() == 30805
    tokens = table["Finding Labels"].str.split("|").explode()
    expected = tokens.map(canonical_label).value_counts()
    for name in [*NIH_LABELS, "No Finding"]:
        got = sum(r.labels[name] == 1.0 for r in records)
        assert got == expected.get(name, 0), name
    assert sum(r.labels["Pleural Effusion"] == 1.0 for r in records) == 13317
    views = pd.Series([r.view for r in records]).value_counts()
    assert views.to_dict() == table["View Position"].value_counts().to_dict()


def test_finding_parsing() -> None:
    labels = nih_labels("Effusion|Pleural_Thickening")
    assert labels["Pleural Effusion"] == labels["Pleural Thickening"] == 1.0
    assert labels["No Finding"] == 0.0 and labels["Hernia"] == 0.0
    assert nih_labels("No Finding")["No Finding"] == 1.0
    with pytest.raises(InputError, match="Pneumonitis"):
        nih_labels("Pneumonitis")


def test_kaggle_layout_with_images_and_official_lists(tmp_path: Path, table) -> None:
    sample = table.head(6)
    sample.to_csv(tmp_path / "Data_Entry_2017.csv", index=False)
    names = sample["Image Index"].tolist()
    (tmp_path / "train_val_list.txt").write_text("\n".join(names[:4]) + "\n")
    (tmp_path / "test_list.txt").write_text("\n".join(names[4:]) + "\n")
    folder = tmp_path / "images_001" / "images"
    folder.mkdir(parents=True)
    for i, name in enumerate(names[:5]):
        Image.fromarray(np.full((9, 9), 40 * i, np.uint8)).save(folder / name)
    records = list(read_nih(tmp_path))
    assert [r.split for r in records] == ["train"] * 4 + ["test"] * 2
    assert [r.image_path for r in records[:5]] == [folder / n for n in names[:5]]
    assert records[5].image_path == tmp_path / "images" / names[5]
    assert float(load_image(records[3].image_path).max()) == pytest.approx(120 / 255)  # type: ignore[arg-type]
    assert records[0].patient_id == "00000001" and records[1].study_id == "00000001_001"


def test_missing_table_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Data_Entry_2017"):
        read_nih(tmp_path)
