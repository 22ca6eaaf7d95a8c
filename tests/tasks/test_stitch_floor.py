"""Stitching rows a reviewer can check: the majority floor, balanced accuracy and per-class rows
on a planted rare class, and per-row predictions that recompute from the saved head and map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from semalign.align import load_aligner
from semalign.tasks.heads import MajorityHead, load_head
from semalign.tasks.stitching import (
    CellSetting,
    aligned_cell,
    baseline_cells,
    confusion_rows,
    label_problem,
    majority_cell,
    prediction_rows,
    stitch,
)

CLASSES = np.array(["normal", "opacity", "cardiomegaly", "effusion"])


def _rare_class_spaces(seed: int = 0, n: int = 2000, d: int = 24):
    """Four classes at 45/35/16/4 %. Target B separates all four; source A puts the rare class
    ('effusion') on top of 'normal', so no map from A can recover it: aligned stitching loses
    only ~4% accuracy but a quarter of the balanced accuracy."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.45, 0.35, 0.16, 0.04])
    centres = 2.5 * rng.normal(size=(4, d))
    seen_by_a = np.where(y == 3, 0, y)
    za = centres[seen_by_a] + rng.normal(size=(n, d))
    zb = centres[y] + rng.normal(size=(n, d))
    rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
    xa = za + 0.1 * rng.normal(size=(n, d))
    xb = 2.0 * zb @ rotation + 1.0
    test = np.arange(n - 600, n)
    return xa, xb, CLASSES[y], test


@pytest.fixture(scope="module")
def rare():
    xa, xb, y, test = _rare_class_spaces()
    preds: list[dict] = []
    tab = stitch(
        xa, xb, y, test=test, methods=("orthogonal",), anchor_counts=(400,), seeds=(0,),
        n_resamples=200, ids=[f"r{i}" for i in range(y.size)], predictions=preds,
    )  # fmt: skip
    return xa, xb, y, test, tab, preds


def test_balanced_accuracy_exposes_the_rare_class_accuracy_hides(rare) -> None:
    _, _, y, test, tab, _ = rare
    target = {m: tab.value(mode="target", metric=m) for m in ("accuracy", "balanced_accuracy")}
    aligned = {m: tab.value(mode="aligned", metric=m) for m in ("accuracy", "balanced_accuracy")}
    share = np.mean(y[test] == "effusion")
    assert 0.02 < share < 0.07
    assert target["accuracy"] > 0.97 and target["balanced_accuracy"] > 0.9
    assert aligned["accuracy"] > target["accuracy"] - share - 0.03  # accuracy barely moves
    assert aligned["balanced_accuracy"] < target["balanced_accuracy"] - 0.2  # a class is lost
    assert tab.value(mode="aligned", metric="f1[effusion]") < 0.2
    assert tab.value(mode="target", metric="f1[effusion]") > 0.8
    for c in ("normal", "opacity", "cardiomegaly"):
        assert tab.value(mode="aligned", metric=f"f1[{c}]") > 0.85


def test_every_row_recomputes_from_the_prediction_rows(rare) -> None:
    """The prediction rows are enough to recompute each setting's metrics (sklearn)."""
    _, _, _, test, tab, preds = rare
    settings = {(p["mode"], p["method"], p["anchors"]) for p in preds}
    assert settings == {("majority", None, None), ("end-to-end", None, None),
                        ("target", None, None), ("naive", None, None),
                        ("aligned", "orthogonal", 400), ("relative", "cosine", 400)}  # fmt: skip
    classes = sorted(CLASSES.tolist())
    for setting in settings:
        mode, method, anchors = setting
        rows = [
            p for p in preds if (p["mode"], p["method"], p["anchors"]) == (mode, method, anchors)
        ]
        assert [p["id"] for p in rows] == [f"r{i}" for i in test]
        t = np.array([p["y_true"] for p in rows])
        q = np.array([p["y_pred"] for p in rows])
        s = np.array([[p[f"score[{c}]"] for c in classes] for p in rows])
        where = {"mode": mode, "method": method, "anchors": anchors}
        assert tab.value(metric="accuracy", **where) == pytest.approx(np.mean(t == q))
        got = tab.value(metric="balanced_accuracy", **where)
        assert got == pytest.approx(balanced_accuracy_score(t, q))
        for j, c in enumerate(classes):
            f1 = f1_score(t == c, q == c, zero_division=0)
            assert tab.value(metric=f"f1[{c}]", **where) == pytest.approx(f1)
            if mode != "majority":
                odds = s[:, j] - logsumexp(np.delete(s, j, axis=1), axis=1)
                auc = roc_auc_score(t == c, odds)
                assert tab.value(metric=f"auroc[{c}]", **where) == pytest.approx(auc, abs=1e-12)


def test_majority_is_the_training_mode_scored_on_the_test_rows() -> None:
    """Planted: the training rows' most frequent class is not the test rows' one."""
    y = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + ["a"] * 5 + ["b"] * 15 + ["c"] * 10)
    train, test = np.arange(100), np.arange(100, 130)
    cell = majority_cell(label_problem(y), train, test, setting=CellSetting(n_resamples=100))
    tab = cell.table
    assert tab.value(metric="accuracy") == pytest.approx(5 / 30)  # 'a' on the test rows
    assert tab.value(metric="balanced_accuracy") == pytest.approx(1 / 3)
    assert tab.value(metric="macro_auroc") == 0.5
    assert tab.value(metric="f1[b]") == 0.0
    assert {p["y_pred"] for p in cell.predictions} == {"a"}
    assert {r.mode for r in tab} == {"majority"}
    head = MajorityHead().fit(np.zeros((100, 1)), y[train])
    np.testing.assert_allclose(head.predict_proba(np.zeros((1, 1)))[0], [0.5, 0.3, 0.2])


def test_majority_head_multilabel_takes_each_labels_majority() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [1, np.nan]])
    head = MajorityHead().fit(np.zeros((4, 3)), y, label_names=["x", "z"])
    assert head.predict(np.zeros((2, 3))).tolist() == [[1, 0], [1, 0]]


def test_prediction_rows_round_trip_through_the_saved_head_and_map(tmp_path, rare) -> None:
    """The prediction rows equal what the saved target head and map give when loaded again."""
    xa, xb, y, test, _, _ = rare
    prob = label_problem(y)
    train = np.setdiff1d(np.arange(y.size), test)
    ids = tuple(f"r{i}" for i in range(y.size))
    setting = CellSetting("A", "B", n_resamples=0, ids=ids)
    _, head = baseline_cells(xa, xb, prob, train, test, modes=(), setting=setting)
    cell = aligned_cell(xa, xb, prob, train, test, head, method="orthogonal",
                        scaling="standard", anchors=300, seed=1, setting=setting)  # fmt: skip
    assert cell.aligner is not None
    head.save(tmp_path / "head.safetensors")
    cell.aligner.save(tmp_path / "map.safetensors")
    head2 = load_head(tmp_path / "head.safetensors")
    mapped = load_aligner(tmp_path / "map.safetensors").transform(xa[test])
    logits = head2.decision_function(mapped)
    assert [p["y_pred"] for p in cell.predictions] == head2.predict(mapped).tolist()
    assert [p["y_true"] for p in cell.predictions] == y[test].tolist()
    names = head2.label_names_
    got = np.array([[p[f"score[{c}]"] for c in names] for p in cell.predictions])
    np.testing.assert_allclose(got, logits, rtol=1e-9, atol=1e-9)
    p0 = cell.predictions[0]
    assert (p0["source"], p0["target"], p0["mode"], p0["method"], p0["anchors"], p0["seed"]) == (
        "A", "B", "aligned", "orthogonal", 300, 1
    )  # fmt: skip


def test_confusion_rows_count_one_setting() -> None:
    y = np.array(["a", "b", "a", "c", "b", "a"])
    prob = label_problem(y)
    head = MajorityHead().fit(np.zeros((3, 1)), y[:3])
    scores = np.array([[0.0, 2.0], [3.0, 1.0], [0.0, 1.0]])
    head.classes_ = np.array(["a", "b"])
    head.label_names_ = ["a", "b"]
    rows = prediction_rows(head, scores, prob, np.array([1, 3, 5]), mode="target")
    conf = confusion_rows(
        [{**r, "y_true": t} for r, t in zip(rows, ["b", "c", "a"], strict=True)], ["a", "b", "c"]
    )
    counts = {(r["true"], r["predicted"]): r["count"] for r in conf}
    assert len(conf) == 9 and sum(counts.values()) == 3
    assert counts[("b", "b")] == 1 and counts[("c", "a")] == 1 and counts[("a", "b")] == 1
    assert conf[0]["mode"] == "target"
    with pytest.raises(Exception, match="2 settings"):
        confusion_rows([rows[0], {**rows[1], "mode": "naive"}], ["a", "b", "c"])
