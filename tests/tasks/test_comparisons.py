"""Stitching comparison rows: seed means, paired differences and the permutation control,
checked against the cells' own rows, scipy's McNemar (binomtest) and a planted map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from tests.tasks._planted import planted_spaces

from semalign.tasks.comparisons import SEED_MEAN, SHUFFLED, stitch_comparisons
from semalign.tasks.heads import LogisticHead
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import (
    CellSetting,
    aligned_cell,
    fit_head,
    label_problem,
    naive_stitch,
)

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def stitched():
    sp = planted_spaces(n=360, d=12, k=3, noise=0.6, seed=4)
    xa, xb = sp.source.astype(np.float64), sp.target.astype(np.float64)
    prob = label_problem(sp.y)
    tr, te = split_rows(xa.shape[0], sp.test)
    head = fit_head(LogisticHead, xb[tr], prob, tr)
    setting = CellSetting("a", "b", 200)
    cells = {
        k: [
            aligned_cell(
                xa, xb, prob, tr, te, head, method="orthogonal", scaling="standard",
                anchors=k, seed=s, setting=setting, n_resamples=0,
            )
            for s in SEEDS
        ]
        for k in (16, 64)
    }  # fmt: skip
    fitted = {k: [(s, c.anchors, c.aligner) for s, c in zip(SEEDS, cs, strict=True)]
              for k, cs in cells.items()}  # fmt: skip
    table = stitch_comparisons(
        xa, xb, prob, te, head, fitted, method="orthogonal", scaling="standard",
        setting=setting, headline=64, permutations=19,
    )  # fmt: skip
    return xa, xb, prob, te, head, cells, table


def _one(table: ResultTable, **where):
    rows = table.select(**where).rows
    assert len(rows) == 1, where
    return rows[0]


def test_seed_means_are_the_mean_of_the_cells_rows(stitched):
    *_, cells, table = stitched
    for k, cs in cells.items():
        for metric in ("accuracy", "balanced_accuracy", "macro_auroc"):
            per_seed = [c.table.value(metric=metric) for c in cs]
            row = _one(table, variant=SEED_MEAN, anchors=k, metric=metric)
            assert row.seed is None and row.mode == "aligned"
            assert row.value == pytest.approx(np.mean(per_seed), abs=1e-12)
            assert row.ci_low <= row.value <= row.ci_high
            sd = _one(table, variant=SEED_MEAN, anchors=k, metric=f"{metric}:seed-sd").value
            assert sd == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
            lo = _one(table, variant=SEED_MEAN, anchors=k, metric=f"{metric}:seed-min").value
            assert lo == min(per_seed)


def test_paired_differences_and_mcnemar(stitched):
    xa, xb, prob, te, head, cells, table = stitched
    truth = head.class_index(prob.y[te])
    others = {"target": xb[te], "naive": naive_stitch(xa[te], xb.shape[1])}
    first = head.decision_function(cells[64][0].aligner.transform(xa[te])).argmax(axis=1)
    for name, feats in others.items():
        pred = head.decision_function(feats).argmax(axis=1)
        acc = float(np.mean(pred == truth))
        aligned = np.mean([c.table.value(metric="accuracy") for c in cells[64]])
        row = _one(table, variant=f"paired: aligned - {name}", metric="accuracy")
        assert row.anchors == 64
        assert row.value == pytest.approx(aligned - acc, abs=1e-12)
        assert row.ci_low <= row.value <= row.ci_high
        b = int(np.sum((first == truth) & (pred != truth)))
        c = int(np.sum((first != truth) & (pred == truth)))
        p = _one(table, variant=f"paired: aligned - {name}", metric="accuracy:mcnemar-p")
        ref = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
        assert p.value == pytest.approx(ref)
        assert f"b={b}" in p.note and f"c={c}" in p.note
    # the planted map recovers the target's structure; the unaligned input does not
    naive = _one(table, variant="paired: aligned - naive", metric="balanced_accuracy")
    assert naive.ci_low > 0.2


def test_permutation_control_of_a_planted_map(stitched):
    *_, cells, table = stitched
    rows = table.select(mode=SHUFFLED, variant="permutations=19")
    assert {r.anchors for r in rows} == {64} and {r.seed for r in rows} == {0}
    for metric in ("accuracy", "macro_auroc"):
        observed = _one(rows, metric=f"{metric}:observed").value
        assert observed == pytest.approx(cells[64][0].table.value(metric=metric))
        null = _one(rows, metric=metric)
        assert null.ci_high < observed
        assert _one(rows, metric=f"{metric}:p").value == pytest.approx(1 / 20)
