"""Balanced accuracy, per-class F1 / AUROC and the confusion matrix against scikit-learn, and
their bootstrapped rows in the classification report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    roc_auc_score,
)
from sklearn.metrics import (
    confusion_matrix as sk_confusion_matrix,
)

from semalign.errors import InputError
from semalign.metrics import (
    balanced_accuracy,
    bootstrap_ci,
    class_log_odds,
    classification_report,
    confusion_matrix,
    per_class_auroc,
    per_class_f1,
)


def _imbalanced(seed: int, n: int = 400, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn 60/25/12/3 %, scores with some signal (and rounding ties)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.6, 0.25, 0.12, 0.03])
    s = rng.normal(size=(n, 4)) + 1.2 * np.eye(4)[y]
    return y, np.round(s, 1) if ties else s


@pytest.mark.parametrize("seed", range(4))
def test_point_metrics_match_sklearn(seed: int) -> None:
    y, s = _imbalanced(seed)
    pred = s.argmax(1)
    assert balanced_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred))
    np.testing.assert_allclose(
        per_class_f1(y, pred, labels=range(4)),
        f1_score(y, pred, labels=range(4), average=None, zero_division=0),
    )
    expected = [roc_auc_score(y == c, s[:, c]) for c in range(4)]
    np.testing.assert_allclose(per_class_auroc(y, s), expected, atol=1e-12)


def test_confusion_matrix_follows_the_given_label_order() -> None:
    rng = np.random.default_rng(1)
    names = np.array(["opacity", "normal", "cardiomegaly", "effusion"])
    y = names[rng.integers(0, 4, 150)]
    pred = names[rng.integers(0, 4, 150)]
    order = ["effusion", "normal", "opacity", "cardiomegaly"]
    got = confusion_matrix(y, pred, labels=order)
    np.testing.assert_array_equal(got, sk_confusion_matrix(y, pred, labels=order))
    assert got.sum() == 150 and got.dtype == np.int64
    with pytest.raises(InputError, match=r"'effusion'.*not in labels"):
        confusion_matrix(y, pred, labels=["opacity", "normal", "cardiomegaly"])
    with pytest.raises(InputError, match="distinct"):
        confusion_matrix(y, pred, labels=["opacity", "opacity"])


def test_majority_answer_scores_one_over_k_balanced() -> None:
    """Planted: always answering the most frequent class has accuracy = its frequency but
    balanced accuracy 1/K and F1 zero for every other class."""
    y, _ = _imbalanced(0)
    pred = np.zeros_like(y)  # class 0 is the 60% class
    assert balanced_accuracy(y, pred) == pytest.approx(0.25)
    assert np.mean(y == pred) == pytest.approx(np.mean(y == 0))
    f1 = per_class_f1(y, pred, labels=range(4))
    assert f1[1:].tolist() == [0.0, 0.0, 0.0] and f1[0] > 0.7


def test_balanced_accuracy_skips_classes_without_true_rows() -> None:
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    assert balanced_accuracy(y, pred, labels=[0, 1, 2]) == pytest.approx(0.75)
    assert np.isnan(balanced_accuracy([], []))


@pytest.mark.parametrize("seed", range(3))
def test_report_rows_equal_per_resample_evaluation(seed: int) -> None:
    """The vectorised bootstrap of balanced accuracy and the per-class rows equals resampling
    rows one resample at a time with the same draws (sklearn computes each resample). No ties
    in the scores: the report predicts the argmax of the log-odds, which breaks ties by rounding
    where the argmax of the logits takes the first class."""
    y, s = _imbalanced(seed, n=120, ties=False)
    names = ["opacity", "normal", "cardiomegaly", "effusion"]
    odds = class_log_odds(s)

    def stat(idx: np.ndarray) -> dict[str, float]:
        t, p = y[idx], s[idx].argmax(1)
        out = {
            "balanced_accuracy": balanced_accuracy_score(t, p) if t.size else np.nan,
        }
        f1 = f1_score(t, p, labels=range(4), average=None, zero_division=0)
        for c, name in enumerate(names):
            out[f"f1[{name}]"] = f1[c]
            both = 0 < np.count_nonzero(t == c) < t.size
            out[f"auroc[{name}]"] = roc_auc_score(t == c, odds[idx, c]) if both else np.nan
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on resamples missing a class
        slow = bootstrap_ci(stat, y.size, n_resamples=150, seed=seed)
    fast = classification_report(y, s, logits=True, label_names=names, n_resamples=150, seed=seed)
    for key, est in slow.items():
        got = fast[key]
        for a, b in ((got.value, est.value), (got.low, est.low), (got.high, est.high)):
            assert a == pytest.approx(b, abs=1e-12), key


def test_report_names_every_class_or_refuses() -> None:
    y, s = _imbalanced(0, n=60)
    rep = classification_report(y, s, n_resamples=0)
    assert "balanced_accuracy" in rep and not any("[" in k for k in rep)
    with pytest.raises(InputError, match="label_names has 3 names for 4"):
        classification_report(y, s, label_names=["a", "b", "c"])


def test_multilabel_report_has_per_label_f1() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(150, 2)).astype(float)
    s = rng.normal(size=(150, 2)) + y
    rep = classification_report(
        y, s, task="multilabel", logits=True, label_names=["Edema", "Effusion"], n_resamples=0
    )
    for j, name in enumerate(["Edema", "Effusion"]):
        assert rep[f"f1[{name}]"].value == pytest.approx(f1_score(y[:, j], s[:, j] >= 0))
