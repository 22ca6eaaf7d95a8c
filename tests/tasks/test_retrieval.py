"""Retrieval through T on planted paired spaces: aligned far above the unaligned control."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.tasks.retrieval import retrieval_report, retrieve

from ._joint import planted_joint


def test_aligned_retrieval_beats_naive_both_directions() -> None:
    j = planted_joint()
    tab = retrieve(
        j.images, j.texts, test=j.test, methods=("linear",), anchor_counts=(300,),
        n_resamples=100,
    )  # fmt: skip
    for d in ("image->report", "report->image"):
        aligned = tab.value(mode="aligned", direction=d, metric="recall@10")
        naive = tab.value(mode="naive", direction=d, metric="recall@10")
        assert aligned > 0.5 and naive < 0.1
        assert tab.value(mode="aligned", direction=d, metric="mrr") > 0.2
    for r in tab:
        assert r.ci_low <= r.value <= r.ci_high and r.n == 500


def test_retrieval_report_matches_ranks_by_hand() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    k = np.array([[1.0, 0.1], [1.0, 0.0], [1.0, 1.0]])
    rep = retrieval_report(q, k, ks=(1, 2), n_resamples=0)
    # ranks: query 0 -> key 0 is 2nd (key 1 is exactly aligned); query 1 -> key 1 is 3rd;
    # query 2 -> key 2 is 1st.
    assert rep["recall@1"].value == pytest.approx(1 / 3)
    assert rep["recall@2"].value == pytest.approx(2 / 3)
    assert rep["mrr"].value == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)


def test_retrieval_errors() -> None:
    j = planted_joint(n=600)
    with pytest.raises(InputError, match="paired row by row"):
        retrieve(j.images, j.texts[:-1], test=j.test)
    over = retrieve(j.images, j.texts, test=j.test, anchor_counts=(101,), naive=False)
    assert {r.metric for r in over} == {"recall@1", "recall@5", "recall@10", "mrr"}
    assert all(np.isnan(r.value) and r.note == "skipped: only 100 train rows" for r in over)
    with pytest.raises(InputError, match="positive integer"):
        retrieval_report(j.images, j.images, ks=(0,))


def test_retrieve_with_groups_counts_duplicates_once_and_keeps_anchors_off_test_texts() -> None:
    """Duplicated reports (identical texts, near-identical embeddings): with groups any copy is
    a hit in both directions, and anchors never come from a text that has a test copy."""
    j = planted_joint(n=600)
    rng = np.random.default_rng(2)
    dup = rng.choice(600, 200, replace=False)  # 200 rows copy the text of the row before
    src = np.arange(600)
    src[dup] = np.maximum(dup - 1, 0)
    texts = j.texts[src] + 1e-6 * rng.normal(size=j.texts.shape)
    images = j.images[src] + 0.3 * rng.normal(size=j.images.shape)
    groups = np.unique(src, return_inverse=True)[1]
    test = j.test
    n_train = int(np.count_nonzero(~np.isin(groups, groups[test])))
    kw = dict(test=test, methods=("linear",), n_resamples=0, naive=False)
    grouped = retrieve(images, texts, groups=groups, anchor_counts=(n_train,), **kw)
    plain = retrieve(images, texts, anchor_counts=(n_train,), **kw)
    for d in ("image->report", "report->image"):
        g = grouped.value(mode="aligned", direction=d, metric="recall@1")
        p = plain.value(mode="aligned", direction=d, metric="recall@1")
        assert g > p  # copies are no longer counted as misses
    over = retrieve(images, texts, groups=groups, anchor_counts=(n_train + 1,), **kw)
    assert all(r.note == f"skipped: only {n_train} train rows" for r in over)
