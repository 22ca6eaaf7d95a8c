"""ASIF settings chosen on held-out anchors inside retrieve(): the rows equal those of the
chosen setting run directly, and the sweep is recorded beside them."""

from __future__ import annotations

import numpy as np

from semalign.tasks.asif import ASIF, AsifSweep
from semalign.tasks.retrieval import retrieve


def _spaces(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 6))
    x = z @ rng.normal(size=(6, 20)) + 10.0 * rng.normal(size=20)
    y = z @ rng.normal(size=(6, 14)) + 10.0 * rng.normal(size=14) + 0.2 * rng.normal(size=(n, 14))
    return x, y


def test_retrieve_with_a_sweep_equals_the_chosen_setting_run_directly() -> None:
    x, y = _spaces()
    test = np.arange(180, 240)
    sweep = AsifSweep(top_k=[8, 64], power=[1.0, 8.0], center=[False, True])
    common = dict(test=test, anchor_counts=[40, 120], seeds=[0, 1], naive=False, methods=[],
                  n_resamples=50)  # fmt: skip
    rows = retrieve(x, y, asif=sweep, **common).rows  # type: ignore[arg-type]
    for k in (40, 120):
        for seed in (0, 1):
            swept = [r for r in rows if (r.mode, r.anchors, r.seed) == ("asif-sweep", k, seed)]
            assert len(swept) == len(sweep.grid) and all(r.metric == "held_out_mrr" for r in swept)
            chosen = [r for r in swept if r.note == "chosen"]
            assert len(chosen) == 1
            got = [r for r in rows if (r.mode, r.anchors, r.seed) == ("asif", k, seed)]
            assert got and all(r.variant.endswith("(chosen on held-out anchors)") for r in got)
            top_k, power, center = sweep.grid[swept.index(chosen[0])]
            direct = retrieve(x, y, asif=ASIF(top_k, power, center), **{  # type: ignore[arg-type]
                **common, "anchor_counts": [k], "seeds": [seed]})  # fmt: skip
            want = [r for r in direct.rows if r.mode == "asif"]
            assert [(r.direction, r.metric, r.value, r.ci_low) for r in got] == [
                (r.direction, r.metric, r.value, r.ci_low) for r in want
            ]
