"""fit_head fits a logistic head once per distinct (settings, features, labels) in a process:
the stitching units' rows equal, bit for bit, those of the former fit-every-time code (kept here
as the oracle), with 2 fits per pair where there were 4 (baseline, then 2 methods)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import semalign.tasks.stitching as stitching
from semalign.experiments.units import stitch_baseline, stitch_method
from semalign.tasks.heads import LogisticHead
from semalign.tasks.stitching import LabelProblem, label_problem


def fit_head_oracle(make_head, x, prob: LabelProblem, rows):  # type: ignore[no-untyped-def]
    """The former fit_head: a fresh fit on every call."""
    head = make_head()
    if prob.task == "multiclass":
        return head.fit(x, prob.y[rows])
    return head.fit(x, prob.y[rows], mask=prob.mask[rows], label_names=prob.label_names)


def _pair(multilabel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(240, 4))
    xa = (latent @ rng.normal(size=(4, 20)) + 0.5 * rng.normal(size=(240, 20))).astype(np.float32)
    xb = latent @ rng.normal(size=(4, 12)) + 0.5 * rng.normal(size=(240, 12))
    if multilabel:
        y = (latent[:, :3] > 0).astype(float)
    else:
        y = np.where(latent[:, 0] > 0, "pos", np.where(latent[:, 1] > 0, "mid", "neg"))
    return xa, xb, y, np.arange(180, 240)


def _units(xa, xb, y, test):  # type: ignore[no-untyped-def]
    kw = {"names": ("a", "b"), "bootstrap": 20}
    outs = [stitch_baseline(xa, xb, y, test, ("end-to-end", "target", "naive"), **kw)]
    for method in ("orthogonal", "affine"):
        outs.append(
            stitch_method(
                xa,
                xb,
                y,
                test,
                method=method,
                scaling="standard",
                anchors=[30, 90],
                seeds=[0, 1],
                strategy="random",
                **kw,
            )
        )
    return [(o.table.to_records(), o.extras) for o in outs]


@pytest.mark.parametrize("multilabel", [False, True])
def test_units_with_the_memo_equal_the_fit_every_time_code(
    monkeypatch: pytest.MonkeyPatch, multilabel: bool
) -> None:
    xa, xb, y, test = _pair(multilabel)
    monkeypatch.setattr(stitching, "_FITTED", type(stitching._FITTED)())
    fits = []
    real_fit = LogisticHead.fit

    def counted(self, *a, **k):  # type: ignore[no-untyped-def]
        fits.append(1)
        return real_fit(self, *a, **k)

    monkeypatch.setattr(LogisticHead, "fit", counted)
    got = _units(xa, xb, y, test)
    assert len(fits) == 2  # head of a, head of b: once each
    monkeypatch.setattr(stitching, "fit_head", fit_head_oracle)
    want = _units(xa, xb, y, test)
    assert len(fits) == 2 + 4
    assert repr(got) == repr(want)
    for (g, _), (w, _) in zip(got, want, strict=True):
        assert g == w


def test_a_memoised_head_is_a_copy_with_the_same_coefficients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stitching, "_FITTED", type(stitching._FITTED)())
    xa, _, y, _ = _pair(False)
    prob, rows = label_problem(y), np.arange(150)
    first = stitching.fit_head(LogisticHead, xa[rows], prob, rows)
    again = stitching.fit_head(LogisticHead, xa[rows], prob, rows)
    fresh = fit_head_oracle(LogisticHead, xa[rows], prob, rows)
    assert again is not first
    assert pickle.dumps(again) == pickle.dumps(first) == pickle.dumps(fresh)  # same state
    other = stitching.fit_head(lambda: LogisticHead(C=0.1), xa[rows], prob, rows)
    assert other.C == 0.1 and len(stitching._FITTED) == 2
    assert stitching.fit_head(LogisticHead, xa[rows] * 2, prob, rows) is not None
    assert len(stitching._FITTED) == 3
