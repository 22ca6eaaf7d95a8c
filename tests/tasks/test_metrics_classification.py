"""Classification metrics against scikit-learn, masking policies, and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from semalign.errors import InputError
from semalign.metrics import (
    accuracy,
    average_precision,
    binary_auroc,
    bootstrap_ci,
    classification_report,
    macro_auroc,
    macro_f1,
    mask_labels,
    multiclass_auroc,
    per_label_auprc,
    per_label_auroc,
)


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_match_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes many ties
    assert binary_auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = p.argmax(1)
    assert accuracy(y, pred) == pytest.approx(accuracy_score(y, pred))
    assert macro_f1(y, pred) == pytest.approx(f1_score(y, pred, average="macro"))
    assert multiclass_auroc(y, p) == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="macro")
    )


def test_macro_f1_counts_absent_classes_as_zero_when_listed() -> None:
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])
    expected = f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=0)
    assert macro_f1(y, pred, labels=[0, 1, 2]) == pytest.approx(expected)


def test_masked_multilabel_matches_sklearn_on_kept_rows() -> None:
    rng = np.random.default_rng(7)
    raw = rng.choice([1.0, 0.0, -1.0, np.nan], p=[0.3, 0.4, 0.15, 0.15], size=(400, 3))
    scores = rng.normal(size=(400, 3)) + np.nan_to_num(raw == 1.0)
    t, m = mask_labels(raw, uncertain="ignore", missing="ignore")
    per = per_label_auroc(t, scores, m)
    for j in range(3):
        keep = ~np.isnan(raw[:, j]) & (raw[:, j] != -1)
        assert per[j] == pytest.approx(roc_auc_score(raw[keep, j], scores[keep, j]))
        ap = average_precision_score(raw[keep, j], scores[keep, j])
        assert per_label_auprc(t, scores, m)[j] == pytest.approx(ap)
    assert macro_auroc(t, scores, m) == pytest.approx(per.mean())


def test_uncertainty_policies() -> None:
    raw = np.array([[1.0, -1.0, np.nan, 0.0]])
    t, m = mask_labels(raw, uncertain="ones", missing="zeros")
    assert t.tolist() == [[1, 1, 0, 0]] and m.all()
    t, m = mask_labels(raw, uncertain="zeros", missing="ignore")
    assert t.tolist() == [[1, 0, 0, 0]] and m.tolist() == [[True, True, False, True]]
    t, m = mask_labels(raw, uncertain="ignore")
    assert m.tolist() == [[True, False, True, True]]
    with pytest.raises(InputError, match="label values contain 2"):
        mask_labels(np.array([2.0]))
    with pytest.raises(InputError, match="uncertain policy"):
        mask_labels(raw, uncertain="maybe")


def test_single_class_label_is_nan_and_left_out_of_macro() -> None:
    y = np.array([[1, 0], [1, 1], [1, 0], [1, 1]])
    s = np.array([[0.1, 0.2], [0.3, 0.9], [0.5, 0.1], [0.7, 0.8]])
    per = per_label_auroc(y, s)
    assert np.isnan(per[0]) and per[1] == 1.0
    assert macro_auroc(y, s) == 1.0


def test_bootstrap_matches_hand_computation() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    pred = np.array([0, 1, 0, 0, 1, 1, 1, 1])
    n, b, seed = y.size, 50, 3
    idx = np.random.default_rng(seed).integers(0, n, size=(b, n))
    by_hand = np.array([np.mean(y[i] == pred[i]) for i in idx])
    lo, hi = np.percentile(by_hand, [2.5, 97.5])
    est = bootstrap_ci(lambda i: {"acc": accuracy(y[i], pred[i])}, n, n_resamples=b, seed=seed)
    assert est["acc"].value == pytest.approx(np.mean(y == pred))
    assert (est["acc"].low, est["acc"].high) == (pytest.approx(lo), pytest.approx(hi))


def test_bootstrap_is_seeded() -> None:
    y = np.arange(40) % 2
    s = np.linspace(0, 1, 40) + 0.3 * (np.arange(40) % 3)
    a = classification_report(y, s, task="binary", n_resamples=100, seed=1)
    b = classification_report(y, s, task="binary", n_resamples=100, seed=1)
    c = classification_report(y, s, task="binary", n_resamples=100, seed=2)
    assert a == b and a["macro_auroc"].low != c["macro_auroc"].low


def test_bootstrap_ci_covers_the_true_accuracy() -> None:
    """About 95 % of percentile CIs from independent samples contain the true accuracy."""
    true_acc, n, trials = 0.8, 200, 120
    rng = np.random.default_rng(11)
    hits = 0
    for t in range(trials):
        correct = rng.random(n) < true_acc
        y = np.zeros(n, dtype=int)
        pred = np.where(correct, 0, 1)
        est = bootstrap_ci(
            lambda i, y=y, pred=pred: {"acc": accuracy(y[i], pred[i])},
            n,
            n_resamples=300,
            seed=t,
        )["acc"]
        hits += est.low <= true_acc <= est.high
    assert 0.88 <= hits / trials <= 0.99


def test_report_multiclass_keys_and_errors() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    s = rng.normal(size=(90, 3)) + 2 * np.eye(3)[y]
    rep = classification_report(y, s, n_resamples=50)
    assert set(rep) == {"accuracy", "balanced_accuracy", "macro_f1", "macro_auroc"}
    for est in rep.values():
        assert est.low <= est.value <= est.high
    with pytest.raises(InputError, match="class indices"):
        classification_report(y + 5, s)
    with pytest.raises(InputError, match="task"):
        classification_report(y, s, task="regression")


def test_report_multilabel_has_per_label_auroc() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(120, 2)).astype(float)
    y[0, 0] = np.nan
    s = rng.random((120, 2)) + y * 0.5
    rep = classification_report(y, s, task="multilabel", label_names=["Edema", "Atelectasis"])
    assert {"auroc[Edema]", "auroc[Atelectasis]", "macro_auprc"} <= set(rep)
    keep = ~np.isnan(y[:, 0])
    assert rep["auroc[Edema]"].value == pytest.approx(roc_auc_score(y[keep, 0], s[keep, 0]))


# -- issue 10: scores that keep their order, the field's multi-label macro-F1 ------------------


def _saturating_logits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and logits of magnitude ~1e6 whose order carries the signal: every
    sigmoid is exactly 0 or 1 in float64, but the logits rank positives mostly higher."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    z = 1e6 * (rng.normal(size=300) + 0.8 * y) + 5e6
    return y, z


def test_saturated_probabilities_lose_the_ranking_logits_keep_it() -> None:
    y, z = _saturating_logits(0)
    p = 1.0 / (1.0 + np.exp(-z))
    assert set(np.unique(p)) <= {0.0, 1.0}  # planted: probabilities are one-hot
    with pytest.warns(RuntimeWarning, match="logits=True"):
        from_p = classification_report(y, p, task="binary", n_resamples=0)
    from_z = classification_report(y, z, task="binary", logits=True, n_resamples=0)
    assert from_z["macro_auroc"].value == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    assert from_z["macro_auprc"].value == pytest.approx(average_precision_score(y, z), abs=1e-12)
    assert from_z["macro_auroc"].value > 0.65
    assert from_p["macro_auroc"].value != pytest.approx(roc_auc_score(y, z), abs=0.05)
    # the decision at probability 0.5 is the decision at logit 0: accuracy and F1 agree
    pred = (z >= 0).astype(int)
    assert from_z["accuracy"].value == pytest.approx(accuracy_score(y, pred))
    assert from_z["macro_f1"].value == pytest.approx(f1_score(y, pred))


def test_multiclass_logits_rank_by_log_odds_without_saturation() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 240)
    logits = 1e4 * (rng.normal(size=(240, 3)) + 1.2 * np.eye(3)[y])
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert np.mean((p == 0.0) | (p == 1.0)) > 0.9  # planted saturation
    rep = classification_report(y, logits, task="multiclass", logits=True, n_resamples=0)
    # oracle: one-vs-rest AUROC of each class on its log-odds z_c - logsumexp_{j != c} z_j,
    # written here with scipy's logsumexp, then macro-averaged
    from scipy.special import logsumexp

    expected = []
    for c in range(3):
        odds = logits[:, c] - logsumexp(np.delete(logits, c, axis=1), axis=1)
        expected.append(roc_auc_score(y == c, odds))
    assert rep["macro_auroc"].value == pytest.approx(np.mean(expected), abs=1e-12)
    assert rep["accuracy"].value == pytest.approx(accuracy_score(y, logits.argmax(1)))


def test_class_log_odds_orders_rows_like_the_probabilities() -> None:
    from semalign.metrics import class_log_odds

    rng = np.random.default_rng(4)
    z = rng.normal(size=(50, 4)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(class_log_odds(z), np.log(p / (1 - p)), rtol=1e-10, atol=1e-12)
    for c in range(4):  # same AUROC as the (unsaturated) probabilities, sklearn's ovr way
        y = rng.integers(0, 2, 50)
        assert roc_auc_score(y, class_log_odds(z)[:, c]) == pytest.approx(
            roc_auc_score(y, p[:, c]), abs=1e-12
        )


def test_multilabel_macro_f1_is_sklearns_positive_class_macro() -> None:
    from semalign.metrics import multilabel_macro_f1

    rng = np.random.default_rng(11)
    y = (rng.random((200, 4)) < 0.25).astype(int)
    s = np.clip(0.4 * y + 0.6 * rng.random((200, 4)), 0.01, 0.99)
    pred = (s >= 0.5).astype(int)
    pred[:, 3] = 0  # a label never predicted positive scores F1 = 0 (sklearn's zero_division)
    expected = f1_score(y, pred, average="macro", zero_division=0.0)
    assert multilabel_macro_f1(y, pred) == pytest.approx(expected, abs=1e-12)
    s[:, 3] = 0.2
    rep = classification_report(y, s, task="multilabel", n_resamples=0)
    assert rep["macro_f1"].value == pytest.approx(expected, abs=1e-12)
    assert "macro_f1_both_classes" not in rep


def test_both_class_f1_only_under_its_own_name() -> None:
    from semalign.metrics import multilabel_macro_f1

    rng = np.random.default_rng(12)
    y = (rng.random((150, 3)) < 0.3).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random((150, 3)), 0.01, 0.99)
    pred = (s >= 0.5).astype(int)
    per_label = [
        np.mean(f1_score(y[:, j], pred[:, j], average=None, labels=[0, 1])) for j in range(3)
    ]
    both = multilabel_macro_f1(y, pred, average="both-classes")
    assert both == pytest.approx(np.mean(per_label), abs=1e-12)
    rep = classification_report(y, s, task="multilabel", f1_both_classes=True, n_resamples=0)
    assert rep["macro_f1_both_classes"].value == pytest.approx(both, abs=1e-12)
    assert rep["macro_f1"].value == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    assert rep["macro_f1"].value != pytest.approx(both, abs=1e-3)
    with pytest.raises(InputError, match="average 'micro' is unknown"):
        multilabel_macro_f1(y, pred, average="micro")
