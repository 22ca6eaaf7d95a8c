from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from semalign.data.labels import (
    CHEXPERT_LABELS,
    NIH_LABELS,
    VOCABULARY,
    canonical_label,
    canonical_labels,
    derive_no_finding,
    label_matrix,
    merge_value,
    parse_value,
)
from semalign.errors import InputError

NAN = float("nan")


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("Effusion", "Pleural Effusion"),
        ("Pleural_Thickening", "Pleural Thickening"),
        ("pleural effusion", "Pleural Effusion"),
        ("No Finding", "No Finding"),
        ("Infiltrate", "Infiltration"),
        ("CARDIOMEGALY", "Cardiomegaly"),
    ],
)
def test_synonyms_fold_to_one_vocabulary(raw: str, canon: str) -> None:
    assert canonical_label(raw) == canon


def test_vocabulary_covers_chexpert_and_nih_without_duplicates() -> None:
    assert len(set(VOCABULARY)) == len(VOCABULARY)
    assert set(CHEXPERT_LABELS) | set(NIH_LABELS) == set(VOCABULARY)
    assert len(VOCABULARY) == 21


def test_unknown_label_names_the_input() -> None:
    with pytest.raises(InputError, match="Pneumonitis"):
        canonical_label("Pneumonitis")


def test_merge_prefers_positive_then_uncertain_then_negative() -> None:
    assert merge_value(0.0, 1.0) == 1.0
    assert merge_value(-1.0, 0.0) == -1.0
    assert merge_value(NAN, 0.0) == 0.0
    assert math.isnan(merge_value(NAN, NAN))
    merged = canonical_labels({"Effusion": 0.0, "Pleural Effusion": 1.0})
    assert merged == {"Pleural Effusion": 1.0}


def test_parse_value_refuses_other_values() -> None:
    assert math.isnan(parse_value(""))
    assert parse_value("-1.0") == -1.0
    with pytest.raises(InputError):
        parse_value(2)


def test_label_matrix_policies_on_planted_values() -> None:
    rows = [
        {"Cardiomegaly": 1.0, "Edema": -1.0},
        {"Cardiomegaly": 0.0, "Edema": NAN},
        {"Cardiomegaly": -1.0},
    ]
    names = ["Cardiomegaly", "Edema"]
    y, m = label_matrix(rows, names, uncertain="ignore", missing="zeros")
    np.testing.assert_array_equal(y, [[1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(m, [[1, 0], [1, 1], [0, 1]])
    y, m = label_matrix(rows, names, uncertain="ones", missing="ignore")
    np.testing.assert_array_equal(y, [[1, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(m, [[1, 1], [1, 0], [1, 0]])
    y, m = label_matrix(rows, names, uncertain="zeros")
    np.testing.assert_array_equal(y, [[1, 0], [0, 0], [0, 0]])
    assert m.all()
    assert y.dtype == np.float32 and m.dtype == bool
    with pytest.raises(InputError, match="policy"):
        label_matrix(rows, names, uncertain="maybe")


def test_no_finding_rule_agrees_with_the_real_chexpert_table(xrv_data) -> None:
    table = pd.read_csv(xrv_data / "chexpert_train.csv.gz", nrows=20000)
    names = list(table.columns[5:])
    positives = table[table["No Finding"] == 1.0]
    assert len(positives) > 1000
    for row in positives[names].itertuples(index=False):
        assert derive_no_finding(dict(zip(names, row, strict=True))) == 1.0
    sick = table[(table[names[1:-1]] == 1.0).any(axis=1)]
    for row in sick[names].head(500).itertuples(index=False):
        assert derive_no_finding(dict(zip(names, row, strict=True))) == 0.0
