"""A retrieval gallery wider than the test rows: distractor keys are ranked but never hits.
Checked against brute-force ranks (cosine and CSLS) and on a planted task whose test-only gallery
saturates Recall@5 while the wider gallery does not."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.metrics.space import retrieval_outcome
from semalign.tasks.retrieval import retrieve
from semalign.tasks.retrieval_refined import refined_cell


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_ranks(q, k, extra, scoring: str, csls_k: int = 3) -> np.ndarray:
    """1-based rank of key i for query i among keys + distractors (no ties in random data)."""
    keys = _unit(np.vstack([k, extra]))
    sims = _unit(q) @ keys.T
    if scoring == "csls":
        r = np.array([np.sort(sims[:, j])[-csls_k:].mean() for j in range(keys.shape[0])])
        sims = 2 * sims - r[None, :]
    own = sims[np.arange(q.shape[0]), np.arange(q.shape[0])]
    return 1 + (sims > own[:, None]).sum(axis=1)


@pytest.mark.parametrize("scoring", ["cosine", "csls"])
def test_distractors_rank_like_brute_force(scoring: str) -> None:
    rng = np.random.default_rng(0)
    k = rng.normal(size=(15, 6))
    q = k + 0.8 * rng.normal(size=(15, 6))
    extra = rng.normal(size=(40, 6))
    got = retrieval_outcome(q, k, distractors=extra, scoring=scoring, csls_k=3).ranks()
    np.testing.assert_allclose(got, _brute_ranks(q, k, extra, scoring))
    plain = retrieval_outcome(q, k, scoring=scoring, csls_k=3).ranks()
    assert (got >= plain).all() and (got > plain).any()
    with pytest.raises(InputError, match="distractors have 5 columns"):
        retrieval_outcome(q, k, distractors=extra[:, :5])


def test_distractors_are_never_hits_even_when_equal_to_a_key() -> None:
    rng = np.random.default_rng(1)
    k = rng.normal(size=(6, 4))
    copy = k[:1]  # a distractor identical to key 0: a tie, and a miss
    out = retrieval_outcome(k, k, groups=np.arange(6), distractors=copy)
    assert out.ranks()[0] == pytest.approx(1.5)  # expected rank of a two-way tie
    np.testing.assert_allclose(out.ranks()[1:], 1.0)


def _planted(seed: int = 2):
    """60 paired rows (20 test), images a noisy rotation of the texts, and 600 distractor pairs
    drawn the same way: the test rows alone are easy, a gallery of 620 is not."""
    rng = np.random.default_rng(seed)
    d = 12
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]

    def pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
        t = rng.normal(size=(n, d))
        return t @ rot.T + 0.7 * rng.normal(size=(n, d)), t

    x, t = pairs(60)
    xd, td = pairs(600)
    return x, t, np.arange(40, 60), (xd, td)


def _by(table, mode: str, direction: str) -> dict[str, float]:
    return {r.metric: r.value for r in table if r.mode == mode and r.direction == direction}


def test_a_wider_gallery_separates_what_the_test_gallery_saturates() -> None:
    x, t, test, extra = _planted()
    kw = dict(test=test, methods=["orthogonal"], scalings=["none"], anchor_counts=[40],
              ks=(1, 5), n_resamples=0)  # fmt: skip
    small = retrieve(x, t, **kw)
    wide = retrieve(x, t, distractors=extra, **kw)
    for direction in ("image->report", "report->image"):
        s, w = _by(small, "aligned", direction), _by(wide, "aligned", direction)
        assert s["recall@5"] == 1.0 and w["recall@5"] < 1.0
        assert w["recall@1"] <= s["recall@1"] and w["mrr"] < s["mrr"]
        assert _by(wide, "naive", direction)["mrr"] < _by(small, "naive", direction)["mrr"]
    # the rows equal a direct ranking of the test rows' partners among partners + distractors
    mapped = _fit_map(x[:40], t[:40])
    ranks = _brute_ranks(x[test] @ mapped, t[test], extra[1], "cosine")
    got = _by(wide, "aligned", "image->report")
    assert got["recall@1"] == pytest.approx(np.mean(ranks == 1))
    assert got["mrr"] == pytest.approx(np.mean(1 / ranks))
    with pytest.raises(InputError, match="distractors have shapes"):
        retrieve(x, t, distractors=(extra[0][:, :3], extra[1]), **kw)


def _fit_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthogonal Procrustes without centring or scaling (scaling "none")."""
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt


def test_refined_rows_use_the_same_wider_gallery() -> None:
    x, t, test, extra = _planted(3)
    kw = dict(method="orthogonal", scaling="none", anchors=20, seed=0, ks=(1, 5),
              iterations=2, n_resamples=0)  # fmt: skip
    small = refined_cell(x, t, test, **kw)
    wide = refined_cell(x, t, test, distractors=extra, **kw)
    for direction in ("image->report", "report->image"):
        assert _by(wide, "refined", direction)["mrr"] < _by(small, "refined", direction)["mrr"]
