"""CSLS in the zero-shot and retrieval tasks: a planted hub class / hub keys."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.tasks.retrieval import retrieve
from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier

from .test_csls import hub_case


def hub_prompts(seed: int = 0) -> tuple[np.ndarray, np.ndarray, PromptEmbeddings]:
    """Images of 4 classes sharing an offset u; class 0's prompt leans along u (a hub)."""
    rng = np.random.default_rng(seed)
    d, c, n = 16, 4, 200
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    y = rng.integers(0, c, n)
    images = q[y] + 0.3 * rng.normal(size=(n, d)) / np.sqrt(d) + 1.2 * q[c]
    pos = [q[j][None].copy() for j in range(c)]
    pos[0] = pos[0] + 2.0 * q[c]
    empty = [np.zeros((0, d))] * c
    return images, y, PromptEmbeddings([f"c{j}" for j in range(c)], pos, empty, "hub")


def test_zeroshot_csls_undoes_a_hub_class() -> None:
    images, y, prompts = hub_prompts()
    cosine = ZeroShotClassifier(prompts).predict_proba(images).argmax(axis=1)
    csls = ZeroShotClassifier(prompts, scoring="csls").predict_proba(images).argmax(axis=1)
    assert np.mean(cosine == y) < 0.5 and np.mean(cosine == 0) > 0.6
    assert np.mean(csls == y) > 0.9


def test_zeroshot_single_image_batches_decide_as_cosine() -> None:
    images, _, prompts = hub_prompts()
    cosine = ZeroShotClassifier(prompts).predict_proba(images).argmax(axis=1)
    clf = ZeroShotClassifier(prompts, scoring="csls")
    one_by_one = [int(clf.predict_proba(images[i : i + 1]).argmax()) for i in range(20)]
    assert one_by_one == cosine[:20].tolist()


def test_zeroshot_rejects_unknown_scoring() -> None:
    _, _, prompts = hub_prompts()
    with pytest.raises(InputError, match="scoring"):
        ZeroShotClassifier(prompts, scoring="dot")


def test_retrieve_task_ranks_by_csls_and_tags_the_setting() -> None:
    queries, keys, _ = hub_case()
    # "images" already in the text space, so the naive (no map) control is the identity; two
    # extra rows only make the split non-empty
    queries, keys = np.vstack([queries, queries[:2]]), np.vstack([keys, keys[:2]])
    kw = {"test": np.arange(200), "anchor_counts": (), "n_resamples": 0}
    table = retrieve(queries, keys, directions=("image->report",), scoring="csls", **kw)
    cos_table = retrieve(queries, keys, directions=("image->report",), **kw)
    top1 = {(r.direction, r.scoring): r.value for r in table if r.metric == "recall@1"}
    cos1 = {(r.direction, r.scoring): r.value for r in cos_table if r.metric == "recall@1"}
    assert top1["image->report", "csls@10"] > 0.95 > 0.25 > cos1["image->report", "cosine"]


def test_retrieve_task_asif_rows_equal_the_asif_ranks() -> None:
    from semalign.tasks.asif import ASIF
    from semalign.tasks.stitching import draw_anchors, split_rows

    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 6))
    x = np.tanh(z @ rng.normal(size=(6, 20)))
    t = z @ rng.normal(size=(6, 12)) + 0.01 * rng.normal(size=(300, 12))
    test = np.arange(200, 300)
    table = retrieve(
        x, t, test=test, anchor_counts=(150,), n_resamples=0, asif=ASIF(50, 3.0),
        directions=("image->report",), naive=False,
    )  # fmt: skip
    row = next(r for r in table if r.mode == "asif" and r.metric == "recall@1")
    tr, te = split_rows(300, test)
    anchors = draw_anchors(x, 150, "random", 0, tr, pool="non-test")
    ranks = ASIF(50, 3.0).fit(x[anchors], t[anchors]).retrieval_ranks(x[te], t[te])
    assert row.value == pytest.approx(np.mean(ranks == 1)) and row.value > 0.3
    assert (row.direction, row.variant) == ("image->report", "top_k=50 power=3")


@pytest.mark.parametrize("grouped", [False, True])
def test_retrieve_task_csls_counts_planted_duplicates_by_tie_and_group(grouped: bool) -> None:
    """10 duplicated pairs (query and key rows both copied): under CSLS each copy ties with its
    original. Oracle: direct dense CSLS, recall@1 = P(a hit comes first in the tied block)."""
    from .test_csls import direct_csls

    queries, keys, _ = hub_case(1)
    src, dst = np.arange(10), np.arange(100, 110)
    queries[dst], keys[dst] = queries[src], keys[src]
    groups = np.arange(202)
    if grouped:
        groups[dst] = src
    queries, keys = np.vstack([queries, queries[:2]]), np.vstack([keys, keys[:2]])
    kw = {"test": np.arange(200), "anchor_counts": (), "n_resamples": 0, "ks": (1,)}
    table = retrieve(
        queries, keys, directions=("image->report",), scoring="csls", groups=groups, **kw
    )
    got = next(r.value for r in table if r.metric == "recall@1")
    s, g = direct_csls(queries[:200], keys[:200], 10), groups[:200]
    expected = []
    for i in range(200):
        hit = g == g[i]
        best = s[i, hit].max()
        tied = np.abs(s[i] - best) <= 1e-9
        free = not np.any((s[i] > best + 1e-9) & ~hit)
        expected.append(free * np.sum(tied & hit) / np.sum(tied))
    assert got == pytest.approx(np.mean(expected))
    ties = [np.sum(np.abs(s[i] - s[i, i]) <= 1e-9) for i in src]
    assert min(ties) == 2  # the planted copies do tie
