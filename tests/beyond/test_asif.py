"""ASIF against a direct loop implementation of its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.tasks.asif import ASIF, AsifSweep


def direct_relative(items: np.ndarray, anchors: np.ndarray, k: int, p: float) -> list[list[float]]:
    out = []
    for z in items:
        sims = [float(z @ a) / (math.sqrt(float(z @ z)) * math.sqrt(float(a @ a))) for a in anchors]
        keep = sorted(range(len(sims)), key=lambda j: -sims[j])[:k]
        out.append([max(sims[j], 0.0) ** p if j in keep else 0.0 for j in range(len(sims))])
    return out


def cosine(a: list[float], b: list[float]) -> float:
    na, nb = math.sqrt(sum(v * v for v in a)), math.sqrt(sum(v * v for v in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb) if na and nb else 0.0


@pytest.mark.parametrize(("k", "p"), [(3, 2.0), (7, 1.0), (100, 8.0)])
def test_asif_equals_direct_formula(k: int, p: float) -> None:
    rng = np.random.default_rng(k)
    xa, ya = rng.normal(size=(7, 5)) + 0.5, rng.normal(size=(7, 4)) + 0.5
    x, y = rng.normal(size=(6, 5)) + 0.5, rng.normal(size=(5, 4)) + 0.5
    model = ASIF(top_k=k, power=p).fit(xa, ya)
    rx, ry = direct_relative(x, xa, k, p), direct_relative(y, ya, k, p)
    np.testing.assert_allclose(model.transform_source(x), rx, rtol=1e-12, atol=1e-15)
    expected = [[cosine(a, b) for b in ry] for a in rx]
    np.testing.assert_allclose(model.similarity(x, y), expected, rtol=1e-10, atol=1e-12)
    assert model.params_ == {"top_k": min(k, 7), "power": p, "center": False, "n_anchors": 7}


def test_asif_retrieves_through_shared_anchors() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 6))  # latent factors seen by two unrelated encoders
    x = np.tanh(z @ rng.normal(size=(6, 20)))
    y = z @ rng.normal(size=(6, 12)) + 0.01 * rng.normal(size=(300, 12))
    model = ASIF(top_k=50, power=3).fit(x[:200], y[:200])
    ranks = model.retrieval_ranks(x[200:], y[200:])
    assert np.mean(ranks == 1) > 0.3  # chance is 0.01


def test_asif_bad_parameters_and_widths() -> None:
    with pytest.raises(InputError, match="top_k"):
        ASIF(top_k=0).fit(np.eye(3), np.eye(3))
    with pytest.raises(InputError, match="power"):
        ASIF(power=-1).fit(np.eye(3), np.eye(3))
    with pytest.raises(InputError, match="columns"):
        ASIF().fit(np.eye(3), np.eye(3)).transform_source(np.ones((2, 4)))


def _relative_oracle(model: ASIF, items: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """The unchunked computation ASIF._relative did before it worked in row blocks."""
    from semalign.metrics.space import unit_rows

    sims = unit_rows(np.asarray(items, dtype=np.float64)) @ anchors.T
    k = model.params_["top_k"]
    n = sims.shape[1]
    if k < n:
        drop = np.argpartition(sims, n - k, axis=1)[:, : n - k]
        np.put_along_axis(sims, drop, 0.0, axis=1)
    return np.maximum(sims, 0.0) ** model.power


@pytest.mark.parametrize(("top_k", "power", "rows"), [(40, 8.0, 2048), (400, 3.0, 7), (40, 2.5, 1)])
def test_chunked_relative_codes_are_bit_identical_to_the_unchunked_ones(
    monkeypatch: pytest.MonkeyPatch, top_k: int, power: float, rows: int
) -> None:
    import semalign.tasks.asif as asif_module

    monkeypatch.setattr(asif_module, "_ROWS", rows)
    rng = np.random.default_rng(3)
    xa, ya = rng.normal(size=(300, 24)), rng.normal(size=(300, 16))
    x = rng.normal(size=(2048 * 2 + 77, 24)).astype(np.float32)
    y = rng.normal(size=(2048 * 2 + 77, 16))
    model = ASIF(top_k=top_k, power=power).fit(xa, ya)
    for got, want in (
        (model.transform_source(x), _relative_oracle(model, x, model.source_anchors_)),
        (model.transform_target(y), _relative_oracle(model, y, model.target_anchors_)),
    ):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_centred_asif_equals_the_direct_formula_on_centred_rows() -> None:
    rng = np.random.default_rng(4)
    xa, ya = rng.normal(size=(9, 5)) + 3.0, rng.normal(size=(9, 4)) - 2.0
    x = rng.normal(size=(6, 5)) + 3.0
    model = ASIF(top_k=4, power=2.0, center=True).fit(xa, ya)
    mu = xa.mean(axis=0)
    np.testing.assert_allclose(
        model.transform_source(x), direct_relative(x - mu, xa - mu, 4, 2.0), rtol=1e-12, atol=1e-15
    )
    assert model.params_["center"] is True


def offset_spaces(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two views of shared factors, each with a large common direction (every raw cosine near
    one), as in sentence encoders; anchors first, then test pairs."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 8))
    x = z @ rng.normal(size=(8, 24)) + 12.0 * rng.normal(size=24)
    y = z @ rng.normal(size=(8, 16)) + 12.0 * rng.normal(size=16) + 0.3 * rng.normal(size=(n, 16))
    return x, y


def test_sweep_scores_equal_a_direct_held_out_computation() -> None:
    from semalign.align.ridgecv import content_folds
    from semalign.metrics.space import retrieval_ranks

    x, y = offset_spaces(0, 60)
    sweep = AsifSweep(top_k=[8, 30], power=[1.0, 4.0], center=[False, True])
    chosen, records = sweep.select(x, y, seed=3)
    held = content_folds(x, y, 4, 3) == 0
    for (k, p, c), rec in zip(sweep.grid, records, strict=True):
        m = ASIF(k, p, c).fit(x[~held], y[~held])
        rx, ry = m.transform_source(x[held]), m.transform_target(y[held])
        mrr = 0.5 * (np.mean(1 / retrieval_ranks(rx, ry)) + np.mean(1 / retrieval_ranks(ry, rx)))
        assert rec["score"] == pytest.approx(mrr, rel=1e-12)
        assert (rec["held_out"], rec["fitted"]) == (held.sum(), (~held).sum())
    best = max(range(len(records)), key=lambda i: (round(records[i]["score"], 12), -i))
    assert [r["chosen"] for r in records] == [i == best for i in range(len(records))]
    assert (chosen.top_k, chosen.power, chosen.center) == sweep.grid[best]
    assert not hasattr(chosen, "params_")  # handed back unfitted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweep_on_anchors_beats_the_raw_default_on_test_rows(seed: int) -> None:
    x, y = offset_spaces(seed)
    xa, ya, xt, yt = x[:200], y[:200], x[200:], y[200:]
    chosen, records = AsifSweep().select(xa, ya, seed=seed)
    assert chosen.center  # the offset drowns the uncentred cosines
    perm = np.random.default_rng(9).permutation(200)
    again = AsifSweep().select(xa[perm], ya[perm], seed=seed)[1]  # order-free
    assert [r["chosen"] for r in again] == [r["chosen"] for r in records]
    np.testing.assert_allclose([r["score"] for r in again], [r["score"] for r in records])

    def mrr(m: ASIF) -> float:
        return float(np.mean(1 / m.fit(xa, ya).retrieval_ranks(xt, yt)))

    assert mrr(chosen) > mrr(ASIF(800, 8.0)) + 0.1


def test_sweep_refuses_too_few_anchors() -> None:
    x, y = offset_spaces(0, 2)
    with pytest.raises(InputError, match="at least 3 distinct anchor pairs"):
        AsifSweep().select(x, y)
