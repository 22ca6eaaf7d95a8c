"""Retrieval rows from a dataset (the paper's image -> report route), on synthetic records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semalign.data.records import Record
from semalign.errors import InputError
from semalign.experiments import parse_recipe
from semalign.experiments.inputs import retrieval_data


def _records(n: int) -> list[Record]:
    return [
        Record(
            id=f"img{i:02d}", dataset="x", image_paths=(Path(f"/d/{i}.png"),),
            impression=f"report {i}", study_id=f"s{i:02d}", view="PA",
            split="test" if i % 4 == 0 else "train",
        )
        for i in range(n)
    ]  # fmt: skip


def _spec(**kw: object):
    table = {"dataset": "d", "kind": "image-report", "section": "impression",
             "pairs": [["a", "b"]], **kw}  # fmt: skip
    data = {
        "datasets": {"d": {"name": "iu-reports"}},
        "encoders": {  # image-report needs an image source encoder (checked by the recipe)
            "a": {"model": "efficientnet-lite0" if table["kind"] == "image-report" else "minilm"},
            "b": {"model": "e5-small"},
        },
        "retrieval": [table],
    }
    return parse_recipe(data).retrieval[0]


def test_official_split_and_caps() -> None:
    data = retrieval_data(_spec(max_train=5, max_test=3), _records(20))
    assert data.images is not None and data.images.ids == data.texts.ids
    assert len(data.texts) == 8 and data.test.size == 3
    test_ids = {data.texts.ids[i] for i in data.test}
    assert all(int(s[1:]) % 4 == 0 for s in test_ids)  # pair ids are the study ids
    assert data.texts.payloads[0] == f"report {int(data.texts.ids[0][1:])}"


def test_random_split_and_missing_official_split() -> None:
    recs = [Record(id=r.id, dataset="x", impression=r.impression) for r in _records(10)]
    data = retrieval_data(_spec(kind="report-report", split="random", test_fraction=0.3), recs)
    assert data.images is None and data.test.size == 3
    assert np.array_equal(data.test, np.unique(data.test))
    with pytest.raises(InputError, match="no official test split"):
        retrieval_data(_spec(kind="report-report"), recs)


def _repeating(n: int) -> list[Record]:
    """Reports whose texts repeat (``n // 3`` distinct, changes of case and spacing)."""
    return [
        Record(
            id=f"img{i:02d}", dataset="x", image_paths=(Path(f"/d/{i}.png"),),
            impression=f"Report  {i % (n // 3)}" if i % 2 else f"report {i % (n // 3)}",
            study_id=f"s{i:02d}", view="PA", split="test" if i % 4 == 0 else "train",
        )
        for i in range(n)
    ]  # fmt: skip


def _keys(items) -> list[str]:
    from semalign.experiments.inputs import normalise_text

    return [normalise_text(t) for t in items.payloads]


@pytest.mark.parametrize("split", ["official", "random"])
def test_one_text_never_on_both_sides(split: str) -> None:
    data = retrieval_data(_spec(split=split, test_fraction=0.3, dedup="none"), _repeating(30))
    keys = np.array(_keys(data.texts))
    test = np.zeros(keys.size, bool)
    test[data.test] = True
    assert test.any() and (~test).any()
    assert not set(keys[test]) & set(keys[~test])
    assert data.dedup is None and len(set(keys[test])) < test.sum()  # duplicates kept in test


def test_report_report_rows_are_deduplicated_by_default() -> None:
    data = retrieval_data(_spec(kind="report-report", split="random"), _repeating(30))
    assert data.dedup is not None and (data.dedup.records, data.dedup.distinct) == (30, 10)
    assert len(data.texts) == 10 and len(set(_keys(data.texts))) == 10
