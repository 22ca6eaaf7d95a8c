"""Stitching on planted spaces: B's head through T(A -> B) reaches A's end-to-end accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.tasks.relative import relative_representation
from semalign.tasks.stitching import StitchedModel, naive_stitch, stitch

from ._planted import planted_spaces


@pytest.fixture(scope="module")
def table():
    s = planted_spaces(separation=0.4, noise=0.5)
    tab = stitch(
        s.source, s.target, s.y, test=s.test,
        methods=("orthogonal", "affine"), anchor_counts=(8, 32, 128, 400), seeds=(0, 1),
        n_resamples=100, source_name="A", target_name="B",
    )  # fmt: skip
    return s, tab


def acc(tab, **where) -> float:
    return np.mean([r.value for r in tab.select(metric="accuracy", **where)])


def test_aligned_reaches_end_to_end_and_naive_stays_near_chance(table) -> None:
    s, tab = table
    e2e = tab.value(mode="end-to-end", metric="accuracy")
    assert e2e > 0.75
    majority = np.bincount(s.y[s.test]).max() / s.test.size
    assert tab.value(mode="naive", metric="accuracy") < majority + 0.1
    for method in ("orthogonal", "affine"):
        assert acc(tab, mode="aligned", method=method, anchors=400) > e2e - 0.03


def test_accuracy_grows_with_anchors(table) -> None:
    _, tab = table
    curve = [acc(tab, mode="aligned", method="orthogonal", anchors=k) for k in (8, 32, 128)]
    assert curve[0] + 0.1 < curve[1] < curve[2]


def test_underdetermined_method_is_reported_not_fitted(table) -> None:
    _, tab = table
    rows = tab.select(mode="aligned", method="affine", anchors=8)
    assert rows.rows and all(np.isnan(r.value) for r in rows)
    assert rows.rows[0].note == "skipped: needs >= 33 anchors" and rows.rows[0].skipped


def test_relative_sits_between_naive_and_end_to_end(table) -> None:
    _, tab = table
    naive = tab.value(mode="naive", metric="accuracy")
    e2e = tab.value(mode="end-to-end", metric="accuracy")
    rel = acc(tab, mode="relative", anchors=128)
    assert naive + 0.2 < rel < e2e + 0.03


def test_cis_bracket_values_and_rows_are_keyed(table) -> None:
    _, tab = table
    for r in tab.select(mode="aligned", anchors=400):
        assert r.ci_low <= r.value <= r.ci_high and r.n == 400
        assert (r.source, r.target, r.task) == ("A", "B", "stitch")
    per_class = {f"{m}[{c}]" for m in ("f1", "auroc") for c in range(4)}
    expected = {"accuracy", "balanced_accuracy", "macro_f1", "macro_auroc"} | per_class
    assert {r.metric for r in tab} == expected
    for key in {r.key() for r in tab}:  # skipped settings carry every metric too
        assert {r.metric for r in tab if r.key() == key} == expected


def test_anchors_never_come_from_test_rows() -> None:
    """Changing the test rows' embeddings cannot change the aligned map or the target head."""
    s = planted_spaces(n=600, separation=0.4, noise=0.5)
    kw = dict(methods=("orthogonal",), anchor_counts=(300,), modes=("aligned", "relative"))
    a = stitch(s.source, s.target, s.y, test=s.test, n_resamples=0, **kw)
    poisoned = s.target.copy()
    poisoned[s.test] = 1e3 * np.random.default_rng(0).normal(size=(s.test.size, 32))
    b = stitch(s.source, poisoned, s.y, test=s.test, n_resamples=0, **kw)
    assert [r.value for r in a] == [r.value for r in b]
    over = stitch(s.source, s.target, s.y, test=s.test, anchor_counts=(401,), modes=("aligned",))
    assert {r.note for r in over} == {"skipped: only 400 train rows"}  # an n/a row, no abort
    assert all(np.isnan(r.value) for r in over)


def test_multilabel_stitching_with_masked_labels() -> None:
    s = planted_spaces(separation=0.5, noise=0.3)
    labels = np.stack([s.y == 0, s.y == 1, s.y >= 2], axis=1).astype(float)
    mask = np.random.default_rng(0).random(labels.shape) > 0.1
    tab = stitch(
        s.source, s.target, labels, mask=mask, test=s.test, label_names=["a", "b", "c"],
        anchor_counts=(200,), n_resamples=50, modes=("end-to-end", "naive", "aligned"),
    )  # fmt: skip
    e2e = tab.value(mode="end-to-end", metric="macro_auroc")
    assert e2e > 0.9
    assert tab.value(mode="aligned", metric="macro_auroc") > e2e - 0.03
    assert tab.value(mode="naive", metric="macro_auroc") < 0.7
    assert tab.select(metric="auroc[b]").rows


def test_naive_pads_and_truncates() -> None:
    x = np.arange(6.0).reshape(2, 3)
    assert naive_stitch(x, 5).tolist() == [[0, 1, 2, 0, 0], [3, 4, 5, 0, 0]]
    assert naive_stitch(x, 2).tolist() == [[0, 1], [3, 4]]


def test_relative_representation_is_rotation_invariant() -> None:
    rng = np.random.default_rng(0)
    x, anchors = rng.normal(size=(20, 6)), rng.normal(size=(5, 6))
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    r1 = relative_representation(x, anchors)
    r2 = relative_representation(3 * x @ q + 1, 3 * anchors @ q + 1)
    np.testing.assert_allclose(r1, r2, atol=1e-12)
    assert r1.shape == (20, 5) and np.abs(r1).max() <= 1 + 1e-12


def test_stitched_model_predicts_through_the_map() -> None:
    from semalign.align import Aligner
    from semalign.tasks.heads import LogisticHead

    s = planted_spaces(separation=0.5, noise=0.3)
    tr = np.setdiff1d(np.arange(len(s.y)), s.test)
    model = StitchedModel(
        Aligner("orthogonal").fit(s.source[tr], s.target[tr]),
        LogisticHead().fit(s.target[tr], s.y[tr]),
    )
    assert np.mean(model.predict(s.source[s.test]) == s.y[s.test]) > 0.85


def test_input_errors() -> None:
    s = planted_spaces(n=120)
    with pytest.raises(InputError, match="paired row by row"):
        stitch(s.source, s.target[:-1], s.y, test=s.test)
    with pytest.raises(InputError, match="overlap"):
        stitch(s.source, s.target, s.y, test=s.test, train=s.test)
    with pytest.raises(InputError, match="unknown modes"):
        stitch(s.source, s.target, s.y, test=s.test, modes=("magic",))


def test_metrics_rank_logits_where_probabilities_saturate() -> None:
    """A head whose logits reach ~1e6 has one-hot probabilities; the stitching metrics must rank
    its logits (here: per-class log-odds), as scikit-learn's roc_auc_score on them does."""
    from scipy.special import logsumexp
    from sklearn.metrics import roc_auc_score

    from semalign.tasks.heads import LogisticHead
    from semalign.tasks.stitching import evaluate_head, label_problem

    sp = planted_spaces(n=600, d=8, separation=0.6, seed=4)
    tr = np.setdiff1d(np.arange(600), sp.test)
    head = LogisticHead().fit(sp.target[tr], sp.y[tr])
    head.layers_ = [(w * 1e5, b * 1e5) for w, b in head.layers_]  # planted saturation
    feats = sp.target[sp.test]
    assert np.mean(head.predict_proba(feats).max(1) == 1.0) > 0.9
    rep = evaluate_head(head, feats, label_problem(sp.y), sp.test, n_resamples=0,
                        ci_seed=0, level=0.95)  # fmt: skip
    z = head.decision_function(feats)
    truth = head.class_index(sp.y[sp.test])
    expected = np.mean([
        roc_auc_score(truth == c, z[:, c] - logsumexp(np.delete(z, c, axis=1), axis=1))
        for c in range(z.shape[1])
    ])  # fmt: skip
    assert rep["macro_auroc"].value == pytest.approx(expected, abs=1e-12)
    assert 0.6 < expected < 0.99


def test_groups_never_straddle_the_split() -> None:
    from semalign.tasks.stitching import group_split, split_rows

    rng = np.random.default_rng(5)
    groups = rng.integers(0, 40, 200)  # duplicated texts: ~5 rows per group
    y = groups % 3
    tr, te = group_split(groups, 0.25, y=y, seed=1)
    assert np.intersect1d(groups[tr], groups[te]).size == 0
    assert np.union1d(tr, te).size == 200
    assert 0.2 < te.size / 200 < 0.35
    for c in range(3):  # stratified: each class keeps roughly its share in test
        assert 0.1 < np.mean(y[te] == c) / np.mean(y == c) * te.size / 200 < 0.45
    tr2, te2 = split_rows(200, np.arange(10), groups=groups)  # default train drops test groups
    assert np.intersect1d(groups[tr2], groups[te2]).size == 0
    assert tr2.size == np.count_nonzero(~np.isin(groups, groups[:10]))
    with pytest.raises(InputError, match="share a group"):
        split_rows(200, np.arange(10), np.arange(10, 200), groups=groups)


def test_stitch_with_groups_keeps_a_text_off_both_sides() -> None:
    sp = planted_spaces(n=300, d=6, seed=6)
    groups = np.arange(300) // 3  # every text three times
    test = np.arange(0, 300, 7)  # cuts across groups
    tab = stitch(sp.source, sp.target, sp.y, test=test, groups=groups, modes=("aligned",),
                 anchor_counts=(150,), n_resamples=0)  # fmt: skip
    assert tab.value(mode="aligned", metric="accuracy") > 0.5
    n_train = np.count_nonzero(~np.isin(groups, groups[test]))
    over = stitch(sp.source, sp.target, sp.y, test=test, groups=groups, modes=("aligned",),
                  anchor_counts=(n_train + 1,), n_resamples=0)  # fmt: skip
    assert {r.note for r in over} == {f"skipped: only {n_train} train rows"}
