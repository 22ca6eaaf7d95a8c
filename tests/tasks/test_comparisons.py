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


def _zeroshot_planted(seed: int = 0):
    """40 images of 2 classes, 80 anchor pairs (text = a noisy rotation of the image), two
    prompts per class placed at the rotated class centres."""
    from semalign.tasks.zeroshot import PromptEmbeddings

    rng = np.random.default_rng(seed)
    d = 6
    y = np.repeat([0, 1], 20)
    images = 3.0 * np.eye(d)[y] + rng.normal(size=(40, d))
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    ya = rng.integers(0, 2, 80)
    anchor_images = 3.0 * np.eye(d)[ya] + rng.normal(size=(80, d))
    anchor_texts = anchor_images @ rot + 0.3 * rng.normal(size=(80, d))
    pos = [(3.0 * np.eye(d)[c] @ rot) + 0.3 * rng.normal(size=(2, d)) for c in range(2)]
    prompts = PromptEmbeddings(["a", "b"], pos, [np.empty((0, d))] * 2, "planted")
    owner = [f"anchor{i}" for i in range(80)]
    ids = [f"img{i}" for i in range(40)]
    return images, np.array(["a", "b"])[y], ids, prompts, anchor_images, anchor_texts, owner


@pytest.fixture(scope="module")
def zeroshot_rows():
    from semalign.tasks.zeroshot_folds import zeroshot_method

    images, y, ids, prompts, ai, at, owner = _zeroshot_planted()
    comparisons = ResultTable()
    table, _ = zeroshot_method(
        images, y, None, ids, prompts, ai, at, owner, loo=False, method="orthogonal",
        scaling="standard", anchors=[12, 40], seeds=[0, 1, 2], rule="argmax", aggregate="mean",
        temperature=0.05, center_text=True, key={"task": "zeroshot", "source": "i",
        "target": "t", "setting": "z"}, bootstrap=100, score_at=40, scorings=("cosine", "csls"),
        csls_k=5, permutations=19, comparisons=comparisons,
    )  # fmt: skip
    return table, comparisons


def test_zeroshot_seed_means_and_paired_scorings(zeroshot_rows):
    table, comp = zeroshot_rows
    for k in (12, 40):
        for mode in ("unimodal", SHUFFLED):
            for scoring in ("cosine", "csls@5"):
                per_seed = [
                    table.value(mode=mode, scoring=scoring, anchors=k, seed=s, metric=m)
                    for s in (0, 1, 2)
                    for m in ("macro_auroc",)
                ]
                row = _one(comp, variant=SEED_MEAN, mode=mode, scoring=scoring, anchors=k,
                           metric="macro_auroc")  # fmt: skip
                assert row.value == pytest.approx(np.mean(per_seed), abs=1e-12)
    diff = _one(comp, variant="paired: unimodal (cosine) - unimodal (csls@5)", metric="accuracy")
    means = [
        np.mean([table.value(mode="unimodal", scoring=sc, anchors=40, seed=s, metric="accuracy")
                 for s in (0, 1, 2)])
        for sc in ("cosine", "csls@5")
    ]  # fmt: skip
    assert diff.anchors == 40 and diff.value == pytest.approx(means[0] - means[1], abs=1e-12)
    assert diff.ci_low <= diff.value <= diff.ci_high
    # the one-draw control is compared too, on the same images and seeds
    assert comp.select(variant="paired: unimodal (cosine) - shuffled-anchors (cosine)").rows


def test_zeroshot_permutation_control_of_a_planted_map(zeroshot_rows):
    table, comp = zeroshot_rows
    rows = comp.select(variant="permutations=19")
    assert {(r.mode, r.anchors, r.seed, r.scoring) for r in rows} == {(SHUFFLED, 40, 0, "cosine")}
    observed = _one(rows, metric="macro_auroc:observed").value
    want = table.value(mode="unimodal", scoring="cosine", anchors=40, seed=0, metric="macro_auroc")
    assert observed == pytest.approx(want)
    assert _one(rows, metric="macro_auroc").ci_high < observed
    assert _one(rows, metric="macro_auroc:p").value == pytest.approx(1 / 20)


@pytest.fixture(scope="module")
def retrieval_rows():
    from semalign.tasks.asif import ASIF
    from semalign.tasks.comparisons import retrieval_comparisons
    from semalign.tasks.retrieval import retrieve

    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 8))
    t = x @ np.linalg.qr(rng.normal(size=(8, 8)))[0] + 0.4 * rng.normal(size=(200, 8))
    test = np.arange(150, 200)
    distractors = (rng.normal(size=(30, 8)), rng.normal(size=(30, 8)))
    kw = dict(seeds=[0, 1, 2], ks=[1, 5], csls_k=5, distractors=distractors)
    rows = ResultTable()
    for sc in ("cosine", "csls"):
        rows.extend(
            retrieve(
                x, t, test=test, methods=["orthogonal"], scalings=["standard"], scoring=sc,
                n_resamples=0, asif=ASIF(8, 3.0), anchor_counts=[10, 40], **kw,
            )
        )  # fmt: skip
    comp = retrieval_comparisons(
        x, t, test, method="orthogonal", scaling="standard", scorings=("cosine", "csls"),
        asif=ASIF(8, 3.0), headline=40, permutations=19, n_resamples=100, anchors=[10, 40], **kw,
    )  # fmt: skip
    return rows, comp


def test_retrieval_seed_means_equal_the_mean_of_retrieve_rows(retrieval_rows):
    rows, comp = retrieval_rows
    for k in (10, 40):
        for d in ("image->report", "report->image"):
            for mode, sc in (("aligned", "cosine"), ("aligned", "csls@5"), ("asif", "cosine")):
                for metric in ("recall@1", "mrr"):
                    per_seed = [
                        r.value for r in rows
                        if (r.mode, r.scoring, r.anchors, r.direction, r.metric)
                        == (mode, sc, k, d, metric)
                    ]  # fmt: skip
                    assert len(per_seed) == 3
                    row = _one(comp, variant=SEED_MEAN, mode=mode, scoring=sc, anchors=k,
                               direction=d, metric=metric)  # fmt: skip
                    assert row.value == pytest.approx(np.mean(per_seed), abs=1e-12)


def test_retrieval_paired_differences_and_control(retrieval_rows):
    rows, comp = retrieval_rows
    d = "image->report"

    def mean(mode, sc="cosine"):
        return np.mean([
            r.value for r in rows
            if (r.mode, r.scoring, r.anchors, r.direction, r.metric) == (mode, sc, 40, d, "mrr")
            or (mode == "naive" and (r.mode, r.direction, r.metric, r.scoring) == (
                "naive", d, "mrr", sc))
        ])  # fmt: skip

    for other, sc in (("naive", "cosine"), ("asif", "cosine"), ("aligned", "csls@5")):
        label = f"paired: aligned (cosine) - {other} ({sc})"
        row = _one(comp, variant=label, direction=d, metric="mrr")
        assert row.value == pytest.approx(mean("aligned") - mean(other, sc), abs=1e-12)
    control = comp.select(variant="permutations=19", direction=d)
    assert _one(control, metric="mrr:observed").value == pytest.approx(
        next(r.value for r in rows if (r.mode, r.scoring, r.anchors, r.seed, r.direction,
             r.metric) == ("aligned", "cosine", 40, 0, d, "mrr"))
    )  # fmt: skip
    assert _one(control, metric="mrr:p").value == pytest.approx(1 / 20)
    assert (
        _one(control, metric="recall@1").ci_high < _one(control, metric="recall@1:observed").value
    )
