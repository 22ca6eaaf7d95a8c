"""ridge-cv in retrieve(): the rows equal those of ridge at the alpha the same anchors choose,
and the variant names that alpha."""

from __future__ import annotations

import numpy as np

from semalign.align import Aligner
from semalign.tasks.retrieval import retrieve
from semalign.tasks.stitching import draw_anchors


def test_ridge_cv_rows_are_ridge_at_the_chosen_alpha() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    t = x @ rng.normal(size=(30, 20)) / 5 + rng.normal(size=(200, 20))
    test = np.arange(150, 200)
    common = dict(test=test, anchor_counts=[24], seeds=[1], naive=False, n_resamples=20)
    rows = [r for r in retrieve(x, t, methods=["ridge-cv"], **common).rows if r.metric == "mrr"]
    idx = draw_anchors(x, 24, "random", 1, np.arange(150))
    alpha = Aligner("ridge-cv", "standard", seed=1).fit(x[idx], t[idx]).alpha_
    assert alpha is not None
    assert {r.variant for r in rows} == {f"alpha={alpha:.3g} (cross-validated)"}
    mapped = Aligner("ridge", "standard", alpha=alpha).fit(x[idx], t[idx]).transform(x[test])
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sims = unit(mapped) @ unit(t[test]).T
    ranks = 1 + (sims > np.diag(sims)[:, None]).sum(axis=1)
    forward = [r for r in rows if r.direction == "image->report"]
    assert forward and abs(forward[0].value - np.mean(1 / ranks)) < 1e-9
