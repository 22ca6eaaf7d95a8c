from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semalign.data.filters import (
    check_patient_disjoint,
    frontal_only,
    one_per_study,
    patient_split,
)
from semalign.data.labels import positive_set
from semalign.data.pairing import label_matched_pairs, study_pairs, write_pairs
from semalign.data.readers.demo import read_iu_reports, read_kermany_mini
from semalign.data.records import Record
from semalign.errors import InputError


def _rec(i: str, study: str, view: str | None, patient: str = "p", **kw) -> Record:
    return Record(id=i, dataset="t", image_paths=(Path(f"/x/{i}.png"),), study_id=study,
                  view=view, patient_id=patient, **kw)  # fmt: skip


def test_frontal_and_one_per_study_prefer_pa() -> None:
    recs = [_rec("b", "s1", "LATERAL"), _rec("c", "s1", "AP"), _rec("a", "s1", "PA"),
            _rec("d", "s2", "AP"), _rec("e", "s2", "AP"), _rec("f", "s3", None)]  # fmt: skip
    assert [r.id for r in frontal_only(recs)] == ["c", "a", "d", "e"]
    assert [r.id for r in one_per_study(recs)] == ["a", "d", "f"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=120),
    st.integers(0, 2**32 - 1),
)
def test_patient_split_never_puts_a_patient_in_two_splits(patients: list[int], seed: int) -> None:
    recs = [_rec(f"r{i}", f"s{i}", "PA", patient=f"P{p}") for i, p in enumerate(patients)]
    out = patient_split(recs, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=seed)
    assert [r.id for r in out] == [r.id for r in recs]
    check_patient_disjoint(out)
    by_split: dict[str, set[str]] = {}
    for r in out:
        by_split.setdefault(r.split, set()).add(r.patient_id)  # type: ignore[arg-type]
    n = len(set(patients))
    assert abs(len(by_split.get("train", set())) - round(0.6 * n)) <= 1
    assert [
        r.split for r in patient_split(recs, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=seed)
    ] == [r.split for r in out]


def test_split_errors_and_planted_leak() -> None:
    leak = [_rec("a", "s", "PA", "P1", split="train"), _rec("b", "t", "PA", "P1", split="test")]
    with pytest.raises(InputError, match="P1"):
        check_patient_disjoint(leak)
    with pytest.raises(InputError, match="sum"):
        patient_split(leak, {"train": 0.5})
    with pytest.raises(InputError, match="patient id"):
        patient_split([Record(id="x", dataset="t")])


def test_study_pairs_choose_a_frontal_image_with_text() -> None:
    recs = [
        _rec("lat", "s1", "LATERAL", findings="F1"),
        _rec("ap", "s1", "AP", findings="F1"),
        _rec("pa", "s1", "PA", findings="F1"),
        _rec("x", "s2", "PA"),
        _rec("y", "s3", "LATERAL", impression="I3"),
    ]
    pairs = study_pairs(recs, section="findings+impression")
    assert [(p.id, p.image_id, p.text) for p in pairs] == [("s1", "pa", "F1")]
    pairs = study_pairs(recs, section="impression", frontal=False)
    assert [(p.id, p.image_id, p.text) for p in pairs] == [("s3", "y", "I3")]


def test_label_matched_pairs_on_the_demo_data(tmp_path: Path) -> None:
    images = list(read_kermany_mini())
    reports = {r.id: r for r in read_iu_reports()}
    labels = ["Pneumonia"]
    pairs = label_matched_pairs(images, reports.values(), labels, seed=3)
    assert len(pairs) == 16 and len({p.report_id for p in pairs}) == 16
    by_id = {r.id: r for r in images}
    for p in pairs:
        assert positive_set(reports[p.report_id].labels, labels) == positive_set(
            by_id[p.image_id].labels, labels
        )
        assert p.text == reports[p.report_id].text("findings+impression")
    again = label_matched_pairs(images, reports.values(), labels, seed=3)
    assert [p.report_id for p in again] == [p.report_id for p in pairs]
    other = label_matched_pairs(images, reports.values(), labels, seed=4)
    assert [p.report_id for p in other] != [p.report_id for p in pairs]

    write_pairs(pairs, tmp_path / "p.csv")
    rows = list(csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8")))
    assert [r["report_id"] for r in rows] == [p.report_id for p in pairs]
    assert {r["label:Pneumonia"] for r in rows} == {"1.0", "0.0"}
    write_pairs(pairs, tmp_path / "p.jsonl")
    lines = [json.loads(x) for x in open(tmp_path / "p.jsonl", encoding="utf-8")]
    assert [x["text"] for x in lines] == [p.text for p in pairs]
    with pytest.raises(InputError, match=r"\.csv or \.jsonl"):
        write_pairs(pairs, tmp_path / "p.txt")


def test_kermany_mini_labels_and_patients() -> None:
    recs = list(read_kermany_mini())
    assert len(recs) == 16
    assert sum(r.labels["Pneumonia"] == 1.0 for r in recs) == 8
    assert all(
        (r.labels["Pneumonia"] == 1.0) == r.id.startswith("person")
        and r.labels["No Finding"] == 1.0 - r.labels["Pneumonia"]
        for r in recs
    )
    assert {r.patient_id for r in recs if r.id.startswith("person1946")} == {"person1946"}
