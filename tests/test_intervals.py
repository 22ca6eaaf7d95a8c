"""semalign.metrics.intervals against a direct slow loop over the same draws, scipy.stats
(bootstrap, binomtest) and planted cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from semalign.errors import InputError
from semalign.metrics.classification import accuracy, class_log_odds, multiclass_auroc
from semalign.metrics.intervals import (
    Scored,
    classification_stat,
    mcnemar,
    mean_stat,
    paired_difference,
    permutation_test,
    seed_interval,
)


def _slow_hierarchical(per_unit, rows, n_resamples, seed, metric):
    """The hierarchical bootstrap as a plain loop, in the documented draw order: splits, then
    each split's row draws, then each split's seed draws; ``metric(p, s, idx)`` evaluates
    split p, seed s on rows idx."""
    rng = np.random.default_rng(seed)
    n_splits = len(rows)
    picks = rng.integers(0, n_splits, size=(n_resamples, n_splits))
    flat = picks.ravel()
    row_draws = {}
    for p, n in enumerate(rows):
        pos = np.flatnonzero(flat == p)
        idx = rng.integers(0, n, size=(pos.size, n))
        row_draws.update({int(q): idx[i] for i, q in enumerate(pos)})
    seed_draws = {}
    for p, n_seeds in enumerate(per_unit):
        pos = np.flatnonzero(flat == p)
        draws = rng.integers(0, n_seeds, size=(pos.size, n_seeds))
        seed_draws.update({int(q): draws[i] for i, q in enumerate(pos)})
    out = np.empty(n_resamples)
    for r in range(n_resamples):
        split_means = []
        for j in range(n_splits):
            q = r * n_splits + j
            p = int(flat[q])
            split_means.append(np.mean([metric(p, s, row_draws[q]) for s in seed_draws[q]]))
        out[r] = np.mean(split_means)
    return out


def _planted(rng, rows, seeds, k=3):
    """Per split and seed: labels (n,) and logits (n, k) that are right more often than not."""
    data = []
    for n in rows:
        y = rng.integers(0, k, n)
        data.append([(y, rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]) for _ in range(seeds)])
    return data


def test_hierarchical_bootstrap_equals_a_slow_loop_over_the_same_draws():
    rng = np.random.default_rng(3)
    rows, n_seeds = (17, 12), 3
    data = _planted(rng, rows, n_seeds)
    scored = Scored(
        tuple(tuple(classification_stat(y, s) for y, s in split) for split in data), rows
    )
    got = seed_interval(scored, n_resamples=300, seed=11)
    for name, fn in (
        ("accuracy", lambda y, s: accuracy(y, s.argmax(axis=1))),
        ("macro_auroc", lambda y, s: multiclass_auroc(y, class_log_odds(s))),
    ):
        units = [fn(y, s) for split in data for y, s in split]

        def metric(p, s, idx, fn=fn):
            y, sc = data[p][s]
            return fn(y[idx], sc[idx])

        draws = _slow_hierarchical([n_seeds] * 2, rows, 300, 11, metric)
        draws = draws[~np.isnan(draws)]
        low, high = np.percentile(draws, [2.5, 97.5])
        est = got[name]
        assert est.value == pytest.approx(np.mean(units), abs=1e-12)
        assert (est.low, est.high) == pytest.approx((low, high), abs=1e-9)
        assert est.sd == pytest.approx(np.std(units, ddof=1))
        assert (est.min, est.max, est.n_units) == (min(units), max(units), 6)


def test_one_seed_one_split_is_the_row_bootstrap_of_scipy():
    x = np.random.default_rng(0).exponential(size=80)
    est = seed_interval(Scored.seeds([mean_stat(x)], x.size), n_resamples=4000, seed=1)["value"]
    ref = sps.bootstrap(
        (x,), np.mean, n_resamples=4000, method="percentile", random_state=2
    ).confidence_interval
    assert est.value == pytest.approx(x.mean())
    width = ref.high - ref.low
    assert est.low == pytest.approx(ref.low, abs=0.05 * width)
    assert est.high == pytest.approx(ref.high, abs=0.05 * width)


def test_rows_without_noise_leave_the_seed_spread():
    n = 40
    scored = Scored.seeds([mean_stat(np.zeros(n)), mean_stat(np.ones(n))], n)
    est = seed_interval(scored, n_resamples=500)["value"]
    # resampled means of 2 seeds: 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4
    assert (est.value, est.low, est.high) == (0.5, 0.0, 1.0)
    assert (est.min, est.max, est.sd) == (0.0, 1.0, pytest.approx(np.sqrt(0.5)))


def test_seed_interval_is_seeded_and_widens_with_seeds_that_disagree():
    rng = np.random.default_rng(5)
    base = rng.random(60)
    agree = Scored.seeds([mean_stat(base), mean_stat(base)], 60)
    disagree = Scored.seeds([mean_stat(base - 0.2), mean_stat(base + 0.2)], 60)
    a = seed_interval(agree, seed=4)["value"]
    assert seed_interval(agree, seed=4)["value"] == a
    assert seed_interval(agree, seed=5)["value"] != a
    b = seed_interval(disagree, seed=4)["value"]
    assert b.value == pytest.approx(a.value)
    assert b.high - b.low > (a.high - a.low) + 0.2
    assert np.isnan(seed_interval(agree, n_resamples=0)["value"].low)


def test_paired_difference_of_identical_and_shifted_settings():
    rng = np.random.default_rng(1)
    v = [rng.random(50) for _ in range(3)]
    a = Scored.seeds([mean_stat(x) for x in v], 50)
    same = paired_difference(a, Scored.seeds([mean_stat(x) for x in v], 50))["value"]
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    shifted = paired_difference(a, Scored.seeds([mean_stat(x - 0.1) for x in v], 50))["value"]
    assert (shifted.value, shifted.low, shifted.high) == pytest.approx((0.1, 0.1, 0.1))
    # against a setting with one seed (a target head): seeds cannot pair, rows still do
    target = Scored.seeds([mean_stat(v[0])], 50)
    d = paired_difference(a, target)["value"]
    assert d.value == pytest.approx(np.mean([x.mean() for x in v]) - v[0].mean())
    assert d.low <= d.value <= d.high


def test_pairing_rows_narrows_the_interval_of_correlated_settings():
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    a, b = Scored.seeds([mean_stat(x + 0.05)], 200), Scored.seeds([mean_stat(x)], 200)
    paired = paired_difference(a, b)["value"]
    alone = [seed_interval(s)["value"] for s in (a, b)]
    assert paired.high - paired.low < 0.1 * min(e.high - e.low for e in alone)


def test_paired_difference_refuses_settings_on_different_rows():
    with pytest.raises(InputError, match="same rows"):
        paired_difference(
            Scored.seeds([mean_stat(np.ones(5))], 5), Scored.seeds([mean_stat(np.ones(6))], 6)
        )
    with pytest.raises(InputError, match="split"):
        Scored((), ())


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (0, 1), (3, 3), (2, 9), (10, 1), (40, 25), (0, 30), (120, 90)]
)
def test_mcnemar_equals_scipy_binomtest(b, c):
    ca = np.r_[np.ones(b), np.zeros(c), np.ones(7), np.zeros(4)]
    cb = np.r_[np.zeros(b), np.ones(c), np.ones(7), np.zeros(4)]
    got = mcnemar(ca, cb)
    assert (got.b, got.c) == (b, c)
    ref = 1.0 if b + c == 0 else sps.binomtest(min(b, c), b + c, 0.5).pvalue
    assert got.p_value == pytest.approx(ref, rel=1e-9)


def _fit_score(x, y, held_x, held_y):
    """Least-squares map on anchors x -> y; mean cosine of mapped held-out rows to their truth."""
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    m = held_x @ w
    cos = np.sum(m * held_y, axis=1) / (np.linalg.norm(m, axis=1) * np.linalg.norm(held_y, axis=1))
    return float(cos.mean())


def _control(rng, effect, k=30, d=4, permutations=49, seed=0):
    x = rng.normal(size=(k + 50, d))
    y = effect * x @ rng.normal(size=(d, d)) + rng.normal(size=(k + 50, d))
    anchors, held = np.arange(k), np.arange(k, k + 50)
    observed = _fit_score(x[anchors], y[anchors], x[held], y[held])
    return permutation_test(
        lambda perm: _fit_score(x[anchors], y[anchors][perm], x[held], y[held]),
        k,
        observed,
        permutations=permutations,
        seed=seed,
    )


def test_permutation_p_is_minimal_for_a_planted_map_and_uniformish_without_one():
    rng = np.random.default_rng(0)
    strong = _control(rng, effect=3.0)
    assert strong.p_value == 1 / 50
    assert strong.null.shape == (49,) and strong.null.max() < strong.observed
    est = strong.estimate()
    assert est.low <= est.value <= est.high < strong.observed
    nulls = [_control(rng, effect=0.0).p_value for _ in range(40)]
    assert 0.35 < np.mean(nulls) < 0.65
    assert min(nulls) >= 1 / 50 and max(nulls) <= 1.0


def test_permutation_control_is_seeded():
    a = _control(np.random.default_rng(7), effect=1.0, seed=3)
    b = _control(np.random.default_rng(7), effect=1.0, seed=3)
    c = _control(np.random.default_rng(7), effect=1.0, seed=4)
    assert np.array_equal(a.null, b.null) and not np.array_equal(a.null, c.null)
    with pytest.raises(InputError, match="permutations"):
        permutation_test(lambda p: 0.0, 3, 0.0, permutations=0)


def test_resample_blocks_change_no_value(monkeypatch):
    """The hierarchical bootstrap scores its resamples a block at a time (BOOTSTRAP_BLOCK):
    every bound equals the one-block computation's exactly."""
    import semalign.metrics.classification as cls

    rng = np.random.default_rng(8)
    rows, seeds = [90, 110], 3
    data = _planted(rng, rows, seeds)
    mrr = [[1.0 / rng.integers(1, 20, n) for _ in range(seeds)] for n in rows]

    def settings(shift: float) -> list[Scored]:
        heads = Scored([[classification_stat(y, z + shift) for y, z in split] for split in data],
                       rows)  # fmt: skip
        means = Scored([[mean_stat(v * (1 + shift)) for v in split] for split in mrr], rows)
        return [heads, means]

    def bounds() -> list[tuple[float, float, float]]:
        out = []
        for a, b in zip(settings(0.0), settings(0.3), strict=True):
            for est in (*seed_interval(a, n_resamples=200, seed=1).values(),
                        *paired_difference(a, b, n_resamples=200, seed=2).values()):  # fmt: skip
                out.append((est.value, est.low, est.high))
        return out

    monkeypatch.setattr(cls, "BOOTSTRAP_BLOCK", 1 << 30)
    whole = bounds()
    monkeypatch.setattr(cls, "BOOTSTRAP_BLOCK", 7 * max(rows))  # 7 resamples a block
    assert bounds() == whole and len(whole) > 8
