"""The vectorised bootstrap equals resampling rows one resample at a time (same seed/draws)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from semalign.metrics.classification import (
    accuracy,
    average_precision,
    binary_auroc,
    bootstrap_ci,
    classification_report,
    macro_f1,
    multiclass_auroc,
)


def _close(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_matches_per_resample_evaluation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 90, 4
    t = rng.integers(0, k, n)
    s = np.round(rng.normal(size=(n, k)) + np.eye(k)[t], 1)  # rounding plants ties
    pred = s.argmax(1)

    def stat(idx: np.ndarray) -> dict[str, float]:
        return {
            "accuracy": accuracy(t[idx], pred[idx]),
            "macro_f1": macro_f1(t[idx], pred[idx], labels=np.arange(k)),
            "macro_auroc": multiclass_auroc(t[idx], s[idx], k),
        }

    slow = bootstrap_ci(stat, n, n_resamples=200, seed=seed)
    fast = classification_report(t, s, task="multiclass", n_resamples=200, seed=seed)
    for key, est in slow.items():
        got = fast[key]
        assert _close(got.value, est.value) and _close(got.low, est.low), key
        assert _close(got.high, est.high), key


def test_multilabel_with_masks_matches_per_resample_evaluation() -> None:
    rng = np.random.default_rng(5)
    n, n_labels = 70, 3
    t = (rng.random((n, n_labels)) < 0.3).astype(float)
    t[rng.random((n, n_labels)) < 0.2] = np.nan  # masked entries
    t[:, 2] = np.where(np.isnan(t[:, 2]), np.nan, 1.0)  # a label with one class: undefined AUROC
    s = np.round(rng.random((n, n_labels)) * 0.5 + 0.5 * np.nan_to_num(t), 2)
    m = ~np.isnan(t)
    y = np.nan_to_num(t).astype(int)
    pred = (s >= 0.5).astype(int)

    def stat(idx: np.ndarray) -> dict[str, float]:
        ti, si, mi, pi = y[idx], s[idx], m[idx], pred[idx]
        au = [binary_auroc(ti[mi[:, j], j], si[mi[:, j], j]) for j in range(n_labels)]
        ap = [average_precision(ti[mi[:, j], j], si[mi[:, j], j]) for j in range(n_labels)]
        f1 = [
            f1_score(ti[mi[:, j], j], pi[mi[:, j], j], zero_division=0.0)
            if mi[:, j].any()
            else np.nan
            for j in range(n_labels)
        ]
        out = {
            "accuracy": float(np.mean(ti[mi] == pi[mi])),
            "macro_f1": float(np.nanmean(f1)),
            "macro_auroc": float(np.nanmean(au)),
            "macro_auprc": float(np.nanmean(ap)),
        }
        out.update({f"f1[{name}]": f for name, f in zip("abc", f1, strict=True)})
        out.update({f"auroc[{name}]": a for name, a in zip("abc", au, strict=True)})
        return out

    slow = bootstrap_ci(stat, n, n_resamples=150, seed=3)
    fast = classification_report(
        t, s, task="multilabel", label_names=list("abc"), n_resamples=150, seed=3
    )
    assert set(fast) == set(slow)
    for key, est in slow.items():
        got = fast[key]
        assert _close(got.value, est.value), (key, got, est)
        assert _close(got.low, est.low) and _close(got.high, est.high), (key, got, est)


@pytest.mark.parametrize("block", [1 << 22, 1000])  # one block of resamples, or several
def test_mean_bootstrap_equals_resampling_one_at_a_time(monkeypatch, block: int) -> None:
    import semalign.metrics.classification as cls

    monkeypatch.setattr(cls, "BOOTSTRAP_BLOCK", block)
    rng = np.random.default_rng(3)
    n = 137
    values = {
        "recall@1": (rng.random(n) < 0.4).astype(float),
        "mrr": 1.0 / rng.integers(1, 50, n),
        "halves": np.where(rng.random(n) < 0.5, 0.5, 0.0),  # ties: expected hits
    }

    def stat(idx: np.ndarray) -> dict[str, float]:
        return {k: float(np.mean(v[idx])) for k, v in values.items()}

    for seed in (0, 7):
        slow = bootstrap_ci(stat, n, n_resamples=300, level=0.9, seed=seed)
        fast = cls.bootstrap_mean_ci(values, n_resamples=300, level=0.9, seed=seed)
        assert list(fast) == list(slow)
        for k in values:  # the same draws, so the same numbers, not merely close ones
            assert (fast[k].value, fast[k].low, fast[k].high) == (
                slow[k].value,
                slow[k].low,
                slow[k].high,
            ), k
    point = cls.bootstrap_mean_ci(values, n_resamples=0)
    assert np.isnan(point["mrr"].low) and point["mrr"].value == pytest.approx(values["mrr"].mean())


def test_resample_blocks_change_no_value(monkeypatch) -> None:
    """Block-wise resampling (memory bounded by BOOTSTRAP_BLOCK) gives the one-block values
    exactly: the same draws, each resample scored on its own."""
    import semalign.metrics.classification as cls

    rng = np.random.default_rng(11)
    n, k = 400, 3
    t = rng.integers(0, k, n)
    s = np.round(rng.normal(size=(n, k)) + np.eye(k)[t], 1)
    y = (rng.random((n, 2)) < 0.3).astype(float)
    y[rng.random((n, 2)) < 0.1] = np.nan
    mask = rng.random((n, 2)) < 0.9
    ml = np.round(rng.normal(size=(n, 2)), 2)

    def reports() -> list[dict]:
        return [
            cls.classification_report(t, s, logits=True, n_resamples=250, seed=2,
                                      label_names=["a", "b", "c"]),
            cls.classification_report(y, ml, task="multilabel", mask=mask, logits=True,
                                      n_resamples=250, seed=5, f1_both_classes=True),
        ]  # fmt: skip

    monkeypatch.setattr(cls, "BOOTSTRAP_BLOCK", 1 << 30)
    whole = reports()
    monkeypatch.setattr(cls, "BOOTSTRAP_BLOCK", 7 * n)  # 7 resamples a block, the last short
    blocked = reports()
    for a, b in zip(whole, blocked, strict=True):
        assert list(a) == list(b)
        for key in a:
            x, z = a[key], b[key]
            assert np.array_equal([x.value, x.low, x.high], [z.value, z.low, z.high],
                                  equal_nan=True), key  # fmt: skip
