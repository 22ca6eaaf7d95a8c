"""Paired differences between settings scored on the same rows: stitching map against map and
against relative representations (from the prediction rows), retrieval T against other maps
and against its refinement, zero-shot T against ASIF and the comparators over every seed.
Checked against the cells' own rows, direct numpy recomputation and scipy's binomial test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from tests.tasks._planted import planted_spaces

from semalign.tasks.comparisons import (
    refined_comparisons,
    retrieval_comparisons,
    score_differences,
    stitch_method_differences,
)
from semalign.tasks.heads import LogisticHead
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import (
    CellSetting,
    aligned_cell,
    fit_head,
    label_problem,
    relative_cell,
)

SEEDS = (0, 1, 2)
K = 64
HEADLINE = {"method": "orthogonal", "scaling": "standard", "anchors": K}


def _one(table: ResultTable, **where):
    rows = table.select(**where).rows
    assert len(rows) == 1, where
    return rows[0]


def _mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> tuple[int, int, float]:
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    return b, c, 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue


# --------------------------------------------------------------------------- stitching


@pytest.fixture(scope="module")
def stitched():
    sp = planted_spaces(n=360, d=12, k=3, noise=0.6, seed=4)
    xa, xb = sp.source.astype(np.float64), sp.target.astype(np.float64)
    prob = label_problem(sp.y)
    tr, te = split_rows(xa.shape[0], sp.test)
    head = fit_head(LogisticHead, xb[tr], prob, tr)
    setting = CellSetting("a", "b", 0)
    cells = {
        method: [
            aligned_cell(
                xa, xb, prob, tr, te, head, method=method, scaling="standard", anchors=K,
                seed=s, setting=setting, n_resamples=0,
            )
            for s in SEEDS
        ]
        for method in ("orthogonal", "affine")
    }  # fmt: skip
    relative = relative_cell(xa, xb, prob, tr, te, anchors=K, seed=0, setting=setting)
    preds = [p for cs in cells.values() for c in cs for p in c.predictions]
    preds += relative.predictions
    table = stitch_method_differences(preds, headline=HEADLINE, n_resamples=300, setting="t")
    return xa, prob, te, head, cells, relative, preds, table


def test_map_against_map_is_the_difference_of_the_seed_means(stitched):
    xa, prob, te, head, cells, _, _, table = stitched
    label = "paired: aligned orthogonal - aligned affine"
    assert {r.variant for r in table} == {label, "paired: aligned orthogonal - relative"}
    for metric in ("accuracy", "balanced_accuracy", "macro_auroc"):
        a = np.mean([c.table.value(metric=metric) for c in cells["orthogonal"]])
        b = np.mean([c.table.value(metric=metric) for c in cells["affine"]])
        row = _one(table, variant=label, metric=metric)
        assert (row.task, row.mode, row.method, row.scaling, row.anchors, row.seed) == (
            "stitch", "aligned", "orthogonal", "standard", K, None)  # fmt: skip
        assert (row.source, row.target, row.setting) == ("a", "b", "t")
        assert row.value == pytest.approx(a - b, abs=1e-12)
        assert row.ci_low <= row.value <= row.ci_high
    # McNemar on the first seed, from the maps themselves (not from the prediction rows)
    truth = head.class_index(prob.y[te])
    right = {
        m: head.decision_function(cs[0].aligner.transform(xa[te])).argmax(axis=1) == truth
        for m, cs in cells.items()
    }
    b, c, p = _mcnemar(right["orthogonal"], right["affine"])
    row = _one(table, variant=label, metric="accuracy:mcnemar-p")
    assert row.value == pytest.approx(p)
    counts = f"b={b} (A only right), c={c} (B only right)"
    assert row.note == f"seeds 0, 1, 2 paired; McNemar on the first seed: {counts}"


def test_relative_uses_the_first_seed_only_and_says_so(stitched):
    *_, cells, relative, preds, table = stitched
    label = "paired: aligned orthogonal - relative"
    for metric in ("accuracy", "macro_f1"):
        a = cells["orthogonal"][0].table.value(metric=metric)
        row = _one(table, variant=label, metric=metric)
        assert row.value == pytest.approx(a - relative.table.value(metric=metric), abs=1e-12)
    # McNemar from the predicted classes the relative cell wrote
    ours = {p["id"]: p for p in preds if p["mode"] == "aligned" and p["method"] == "orthogonal"
            and p["seed"] == 0}  # fmt: skip
    theirs = [p for p in relative.predictions]
    right_a = np.array([ours[p["id"]]["y_pred"] == p["y_true"] for p in theirs])
    right_b = np.array([p["y_pred"] == p["y_true"] for p in theirs])
    b, c, pv = _mcnemar(right_a, right_b)
    row = _one(table, variant=label, metric="accuracy:mcnemar-p")
    assert row.value == pytest.approx(pv)
    assert row.note.startswith("seed 0 (relative runs the first seed only); ")
    assert f"b={b} " in row.note and f"c={c} " in row.note


def test_seeds_are_paired_a_copy_of_the_map_differs_by_exactly_zero(stitched):
    """Seeds differ (their accuracies do), so only resampling them together gives a zero-width
    interval for a map against a copy of itself."""
    *_, cells, _, preds, _ = stitched
    per_seed = [c.table.value(metric="accuracy") for c in cells["orthogonal"]]
    assert np.ptp(per_seed) > 0
    copy = [{**p, "method": "copy"} for p in preds if p["method"] == "orthogonal"]
    table = stitch_method_differences(
        [p for p in preds if p["method"] == "orthogonal"] + copy, headline=HEADLINE,
        n_resamples=200,
    )  # fmt: skip
    row = _one(table, variant="paired: aligned orthogonal - aligned copy", metric="accuracy")
    assert (row.value, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0)


def test_a_setting_without_predictions_at_the_headline_gives_no_row(stitched):
    *_, preds, _ = stitched
    kept = [p for p in preds if p["method"] != "affine"]
    table = stitch_method_differences(kept, headline={**HEADLINE, "anchors": 16},
                                      n_resamples=0)  # fmt: skip
    assert not table.rows


# --------------------------------------------------------------------------- retrieval


@pytest.fixture(scope="module")
def retrieval_data():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(240, 8))
    t = x @ np.linalg.qr(rng.normal(size=(8, 8)))[0] + 0.5 * rng.normal(size=(240, 8))
    test = np.arange(180, 240)
    distractors = (rng.normal(size=(30, 8)), rng.normal(size=(30, 8)))
    return x, t, test, distractors


def _retrieve_means(rows, mode, method, scoring, k, d, metric, seeds=SEEDS):
    values = [
        r.value for r in rows
        if (r.mode, r.method, r.scoring, r.anchors, r.direction, r.metric)
        == (mode, method, scoring, k, d, metric) and r.seed in seeds
    ]  # fmt: skip
    assert len(values) == len(seeds)
    return float(np.mean(values))


def test_retrieval_t_against_another_map_on_the_same_anchors(retrieval_data):
    from semalign.tasks.retrieval import retrieve

    x, t, test, distractors = retrieval_data
    kw = dict(seeds=list(SEEDS), ks=[1, 5], csls_k=5, distractors=distractors)
    rows = retrieve(
        x, t, test=test, methods=["orthogonal", "affine"], scalings=["standard"], n_resamples=0,
        anchor_counts=[40], naive=False, **kw,
    )  # fmt: skip
    comp = retrieval_comparisons(
        x, t, test, method="orthogonal", scaling="standard", anchors=[40], headline=40,
        n_resamples=100, others=[("affine", "standard"), ("affine", "none")], **kw,
    )  # fmt: skip
    for d in ("image->report", "report->image"):
        for metric in ("recall@1", "mrr"):
            row = _one(comp, variant="paired: aligned orthogonal (cosine) - aligned affine "
                       "(cosine)", direction=d, metric=metric)  # fmt: skip
            a = _retrieve_means(rows, "aligned", "orthogonal", "cosine", 40, d, metric)
            b = _retrieve_means(rows, "aligned", "affine", "cosine", 40, d, metric)
            assert row.value == pytest.approx(a - b, abs=1e-12)
            assert row.ci_low <= row.value <= row.ci_high
            assert (row.mode, row.method, row.scoring, row.anchors) == (
                "aligned", "orthogonal", "cosine", 40)  # fmt: skip
            assert row.note == "seeds 0, 1, 2 paired"
    # a scaling other than the headline's is named with the method
    assert comp.select(variant="paired: aligned orthogonal (cosine) - aligned affine/none "
                       "(cosine)").rows  # fmt: skip


def test_retrieval_t_against_its_refinement_reuses_the_fitted_maps(retrieval_data):
    from semalign.tasks.retrieval import retrieve
    from semalign.tasks.retrieval_refined import refined_cell

    x, t, test, distractors = retrieval_data
    refined_rows, maps = ResultTable(), []
    for s in SEEDS:
        refined_rows.extend(
            refined_cell(
                x, t, test, method="orthogonal", scaling="standard", anchors=40, seed=s,
                ks=[1, 5], scorings=("cosine", "csls"), csls_k=5, iterations=3,
                n_resamples=0, distractors=distractors, fitted=maps,
            )
        )  # fmt: skip
    assert [m[0] for m in maps] == list(SEEDS)
    rows = retrieve(
        x, t, test=test, methods=["orthogonal"], scalings=["standard"], n_resamples=0,
        anchor_counts=[40], naive=False, seeds=list(SEEDS), ks=[1, 5], csls_k=5,
        distractors=distractors,
    )  # fmt: skip
    comp = refined_comparisons(
        x, t, test, maps, method="orthogonal", scaling="standard", anchors=40, ks=[1, 5],
        scorings=("cosine", "csls"), csls_k=5, distractors=distractors, n_resamples=100,
    )  # fmt: skip
    for d in ("image->report", "report->image"):
        for sc in ("cosine", "csls@5"):
            for metric in ("recall@1", "recall@5", "mrr"):
                row = _one(comp, variant=f"paired: aligned (cosine) - refined ({sc})",
                           direction=d, metric=metric)  # fmt: skip
                a = _retrieve_means(rows, "aligned", "orthogonal", "cosine", 40, d, metric)
                b = _retrieve_means(refined_rows, "refined", "orthogonal", sc, 40, d, metric)
                assert row.value == pytest.approx(a - b, abs=1e-12)
                assert row.ci_low <= row.value <= row.ci_high
                assert row.note == "seeds 0, 1, 2 paired"


# --------------------------------------------------------------------------- zero-shot

CLASSES = ("a", "b", "c")


def _score_rows(d: np.ndarray, truth: np.ndarray, mode: str, seed, anchors, method=None):
    return [
        {"mode": mode, "method": method, "scaling": "standard" if method else None,
         "anchors": anchors, "seed": seed, "id": f"i{i}", "class": c,
         "y_true": float(truth[i] == j), "score": float(d[i, j])}
        for i in range(d.shape[0]) for j, c in enumerate(CLASSES)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def zeroshot_scores():
    rng = np.random.default_rng(3)
    n = 40
    truth = rng.integers(0, 3, size=n)
    onehot = np.eye(3)[truth]
    t = {s: onehot * 0.8 + rng.normal(size=(n, 3)) for s in SEEDS}
    asif = {s: onehot * 0.4 + rng.normal(size=(n, 3)) for s in SEEDS}
    probe = onehot * 0.6 + rng.normal(size=(n, 3))
    rows = []
    for s in SEEDS:
        rows += _score_rows(t[s], truth, "unimodal", s, K, "orthogonal")
        rows += _score_rows(asif[s], truth, "asif", s, K)
    rows += _score_rows(probe, truth, "linear-probe", None, None)
    return truth, t, asif, probe, rows


def _accuracy(d: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(d.argmax(axis=1) == truth))


def test_zeroshot_t_against_asif_pairs_every_seed(zeroshot_scores):
    truth, t, asif, _, rows = zeroshot_scores
    table = score_differences(rows, rule="argmax", headline=HEADLINE, n_resamples=300,
                              key={"task": "zeroshot", "source": "x", "target": "y"})  # fmt: skip
    row = _one(table, variant="paired: unimodal - asif", metric="accuracy")
    want = np.mean([_accuracy(t[s], truth) for s in SEEDS])
    want -= np.mean([_accuracy(asif[s], truth) for s in SEEDS])
    assert row.value == pytest.approx(want, abs=1e-12)
    assert row.ci_low <= row.value <= row.ci_high
    b, c, p = _mcnemar(t[0].argmax(axis=1) == truth, asif[0].argmax(axis=1) == truth)
    mc = _one(table, variant="paired: unimodal - asif", metric="accuracy:mcnemar-p")
    assert mc.value == pytest.approx(p)
    assert mc.note == (f"per-item scores of seeds 0, 1, 2 paired; McNemar on the first seed: "
                       f"b={b} (A only right), c={c} (B only right)")  # fmt: skip


def test_zeroshot_t_against_a_comparator_uses_every_seed_of_t(zeroshot_scores):
    truth, t, _, probe, rows = zeroshot_scores
    table = score_differences(rows, rule="argmax", headline=HEADLINE, n_resamples=300,
                              key={"task": "zeroshot", "source": "x", "target": "y"})  # fmt: skip
    row = _one(table, variant="paired: unimodal - linear-probe", metric="accuracy")
    want = np.mean([_accuracy(t[s], truth) for s in SEEDS]) - _accuracy(probe, truth)
    assert row.value == pytest.approx(want, abs=1e-12)
    assert row.note.startswith(
        "per-item scores of T's seeds 0, 1, 2 against the one run of linear-probe (no seed)"
    )
    b, c, _ = _mcnemar(t[0].argmax(axis=1) == truth, probe.argmax(axis=1) == truth)
    assert f"b={b} " in row.note and f"c={c} " in row.note


def test_zeroshot_asif_with_the_same_scores_differs_by_exactly_zero(zeroshot_scores):
    """ASIF's seed s is T's anchor draw s: a copy of T's scores as ASIF's must give a zero-width
    interval (seeds resampled together), although T's seeds differ."""
    truth, t, *_ = zeroshot_scores
    assert np.ptp([_accuracy(t[s], truth) for s in SEEDS]) > 0
    rows = []
    for s in SEEDS:
        rows += _score_rows(t[s], truth, "unimodal", s, K, "orthogonal")
        rows += _score_rows(t[s], truth, "asif", s, K)
    table = score_differences(rows, rule="argmax", headline=HEADLINE, n_resamples=200,
                              key={"task": "zeroshot", "source": "x", "target": "y"})  # fmt: skip
    row = _one(table, variant="paired: unimodal - asif", metric="accuracy")
    assert (row.value, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0)
