"""One split per seed: the API's group_split is what recipes use; dedup by text is one rule."""

from __future__ import annotations

import numpy as np
import pytest

from planted_records import CLASSES, planted_records
from semalign.errors import InputError
from semalign.experiments import parse_recipe
from semalign.experiments.inputs import retrieval_data, stitch_data
from semalign.metrics import text_groups
from semalign.metrics.space import normalise_text
from semalign.tasks.splits import dedup_by_text, group_split


def _recipe(section: str, table: dict[str, object]):
    data = {
        "datasets": {"d": {"name": "iu-reports"}},
        "encoders": {"a": {"model": "minilm"}, "b": {"model": "e5-small"}},
        section: [{"dataset": "d", "section": "impression", "pairs": [["a", "b"]], **table}],
    }
    return parse_recipe(data)


@pytest.mark.parametrize("seed", [0, 3])
def test_one_seed_one_split_for_stitching(seed: int) -> None:
    spec = _recipe(
        "stitch", {"classes": CLASSES, "dedup": "none", "split_seed": seed, "test_fraction": 0.3}
    ).stitch[0]
    data = stitch_data(spec, planted_records())
    groups = text_groups(data.items.payloads)
    _, test = group_split(groups, 0.3, y=data.y, seed=seed)
    assert np.array_equal(data.test, test)


@pytest.mark.parametrize("seed", [0, 3])
def test_one_seed_one_split_for_retrieval(seed: int) -> None:
    spec = _recipe(
        "retrieval",
        {"kind": "report-report", "split": "random", "split_seed": seed, "test_fraction": 0.3,
         "dedup": "none"},
    ).retrieval[0]  # fmt: skip
    recs = planted_records()
    data = retrieval_data(spec, recs)
    keys = [normalise_text(r.impression or "") for r in sorted(recs, key=lambda r: r.id)]
    _, test = group_split(keys, 0.3, seed=seed)
    # retrieval drops the training rows that share a test row's text: map test rows back by id
    ids = sorted(r.study_id or r.id for r in recs)  # report-report rows are studies
    assert [data.texts.ids[i] for i in data.test] == [ids[i] for i in test]


def test_group_split_rules() -> None:
    # a group counts for its most common class; the tie goes to the class seen first
    groups = np.array(["a", "a", "a", "b", "b", "c", "d", "e", "f"])
    y = np.array(["x", "y", "y", "y", "x", "x", "x", "y", "y"])
    tr, te = group_split(groups, 0.4, y=y, seed=1)
    assert np.intersect1d(groups[tr], groups[te]).size == 0
    assert np.union1d(tr, te).size == groups.size
    rng = np.random.default_rng(1)
    assert np.array_equal(group_split(groups, 0.4, y=y, seed=rng)[1], te)
    with pytest.raises(InputError, match="one group"):
        group_split(["a", "a"], 0.5)


def test_dedup_by_text_keeps_the_lowest_id_and_drops_conflicts() -> None:
    ids = ["r3", "r1", "r2", "r0", "r4"]
    texts = ["Same  text.", "same text.", "Other.", "other.", "Lone."]
    rows, counts = dedup_by_text(ids, texts)
    assert [ids[i] for i in rows] == ["r0", "r1", "r4"]
    assert (counts.records, counts.distinct, counts.dropped_duplicates) == (5, 3, 2)
    rows, counts = dedup_by_text(ids, texts, ["a", "a", "a", "b", "a"])
    assert [ids[i] for i in rows] == ["r1", "r4"]  # "other." disagrees on the class
    assert (counts.dropped_duplicates, counts.dropped_conflicts) == (1, 2)
