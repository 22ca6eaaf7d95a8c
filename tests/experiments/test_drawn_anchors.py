"""Zero-shot embeds only the anchor pairs its cells draw: the rows no (anchor count, seed) cell
draws are never read, so the results equal those computed with every pair embedded."""

from __future__ import annotations

import numpy as np

from semalign.experiments import parse_recipe
from semalign.experiments.inputs import AnchorSet, anchor_subset, drawn_pairs
from semalign.experiments.units import zeroshot_method
from semalign.store.items import Items
from semalign.tasks.zeroshot import PromptEmbeddings

RECIPE = {
    "datasets": {"imgs": {"name": "kermany-mini"}, "anchors": {"name": "kermany-mini"}},
    "encoders": {"img": {"model": "efficientnet-lite0"}, "txt": {"model": "minilm"}},
    "zeroshot": [
        {
            "name": "zs",
            "images": "imgs",
            "labels": ["Pneumonia"],
            "prompts": "biovil-pneumonia",
            "rule": "pos-neg",
            "image_encoder": "img",
            "text_encoder": "txt",
            "anchor_dataset": "anchors",
            "pairing": "study",
            "split": "none",
            "anchors": [16, 64, 5000],
            "seeds": [0, 1],
            "methods": ["orthogonal", "affine"],
        }
    ],
}


def test_units_read_only_the_drawn_pairs() -> None:
    spec = parse_recipe(RECIPE).zeroshot[0]
    rng = np.random.default_rng(0)
    n_pairs, n = 400, 30
    latent = rng.normal(size=(n_pairs, 5))
    a_img = latent @ rng.normal(size=(5, 12)) + 0.1 * rng.normal(size=(n_pairs, 12))
    a_txt = latent @ rng.normal(size=(5, 10)) + 0.1 * rng.normal(size=(n_pairs, 10))
    images = rng.normal(size=(n, 12))
    y = (rng.random((n, 1)) < 0.5).astype(float)
    prompts = PromptEmbeddings(["Pneumonia"], [rng.normal(size=(3, 10))],
                               [rng.normal(size=(3, 10))], "p")  # fmt: skip
    ids = [f"i{k}" for k in range(n)]
    owner = [f"o{k}" for k in range(n_pairs)]
    drawn = drawn_pairs(spec, n_pairs)
    assert drawn is not None and 0 < drawn.size < n_pairs
    only = np.zeros(n_pairs, dtype=bool)
    only[drawn] = True
    key = {"task": "zeroshot", "source": "img", "target": "txt", "setting": "zs"}
    kw = dict(loo=False, anchors=spec.anchors, seeds=spec.seeds, rule="pos-neg",
              aggregate="mean", temperature=0.01, center_text=True, key=key,
              bootstrap=0)  # fmt: skip
    for method in ("orthogonal", "affine"):
        full = zeroshot_method(images, y, None, ids, prompts, a_img, a_txt, owner,
                               method=method, scaling="standard", **kw)  # fmt: skip
        part = zeroshot_method(images, y, None, ids, prompts, np.where(only[:, None], a_img, 0),
                               np.where(only[:, None], a_txt, np.nan), owner, method=method,
                               scaling="standard", **kw)  # fmt: skip
        assert full.table.to_records() == part.table.to_records()
        assert any(r["value"] is not None for r in full.table.to_records())


def test_anchor_subset_keeps_the_rows_of_the_drawn_pairs() -> None:
    images = Items([f"img{k}" for k in range(5)], [f"/x/{k}.jpg" for k in range(5)], "image")
    reports = Items([f"r{k}" for k in range(4)], [f"text {k}" for k in range(4)], "text")
    anchors = AnchorSet(images, reports, np.array([0, 1, 2, 3, 4, 4]), np.array([0, 1, 1, 2, 3, 3]),
                        [f"img{k}" for k in (0, 1, 2, 3, 4, 4)], np.zeros((6, 1)))  # fmt: skip
    sub_img, sub_rep, img_rows, rep_rows = anchor_subset(anchors, np.array([1, 2, 5]))
    assert sub_img.ids == ["img1", "img2", "img4"] and img_rows.tolist() == [1, 2, 4]
    assert sub_rep.ids == ["r1", "r3"] and rep_rows.tolist() == [1, 3]


def test_a_float32_pool_gives_the_float64_results() -> None:
    """The runner holds the anchor pool float32, as stored; the units convert the rows they
    draw, so every row and score equals the float64 pool's, even where texts sit far from the
    origin (centring them in float32 would lose digits)."""
    from semalign.experiments.units import zeroshot_asif

    spec = parse_recipe(RECIPE).zeroshot[0]
    rng = np.random.default_rng(1)
    n_pairs, n = 400, 30
    latent = rng.normal(size=(n_pairs, 5))
    a_img = latent @ rng.normal(size=(5, 12)) + 0.1 * rng.normal(size=(n_pairs, 12))
    a_txt = 300.0 + 0.01 * (latent @ rng.normal(size=(5, 10)))
    pool = a_img.astype(np.float32), a_txt.astype(np.float32)
    exact = pool[0].astype(np.float64), pool[1].astype(np.float64)
    images = rng.normal(size=(n, 12))
    y = (rng.random((n, 1)) < 0.5).astype(float)
    prompts = PromptEmbeddings(["Pneumonia"], [300.0 + 0.01 * rng.normal(size=(3, 10))],
                               [300.0 + 0.01 * rng.normal(size=(3, 10))], "p")  # fmt: skip
    ids = [f"i{k}" for k in range(n)]
    owner = [f"o{k}" for k in range(n_pairs)]
    key = {"task": "zeroshot", "source": "img", "target": "txt", "setting": "zs"}
    kw = dict(loo=False, anchors=[16, 64], seeds=spec.seeds, rule="pos-neg", aggregate="mean",
              temperature=0.01, key=key, bootstrap=0)  # fmt: skip
    for method in ("orthogonal", "affine"):
        got, want = (zeroshot_method(images, y, None, ids, prompts, *p, owner, method=method,
                                     scaling="standard", center_text=True, **kw)
                     for p in (pool, exact))  # fmt: skip
        assert got.table.to_records() == want.table.to_records()
        assert got.extras["scores"] == want.extras["scores"] and got.extras["scores"]
    got, want = (zeroshot_asif(images, y, None, ids, prompts, *p, owner, top_k=8, power=2,
                               **kw) for p in (pool, exact))  # fmt: skip
    assert got.table.to_records() == want.table.to_records()


def test_drawn_rows_read_as_the_full_pool_and_travel_small() -> None:
    """The runner's pool of drawn pairs: the units index it by pair as a full (n_pairs, d)
    array, get float64 rows, and a worker receives the drawn rows only."""
    import pickle

    import pytest

    from semalign.errors import InputError
    from semalign.tasks.zeroshot_folds import DrawnRows

    spec = parse_recipe(RECIPE).zeroshot[0]
    rng = np.random.default_rng(2)
    n_pairs, n = 4000, 30
    latent = rng.normal(size=(n_pairs, 5))
    full = [(latent @ rng.normal(size=(5, d)) + 0.1 * rng.normal(size=(n_pairs, d)) + 40.0)
            .astype(np.float32) for d in (12, 10)]  # fmt: skip
    drawn = drawn_pairs(spec, n_pairs)
    assert drawn is not None and drawn.size < n_pairs // 4
    pools = [DrawnRows.of(f[drawn], drawn, n_pairs) for f in full]
    assert pools[0].shape == (n_pairs, 12)
    sel = drawn[::3][::-1]
    assert pools[0][sel].dtype == np.float64 and np.array_equal(pools[0][sel], full[0][sel])
    assert len(pickle.dumps(pools[0])) < full[0].nbytes / 4
    never = np.setdiff1d(np.arange(n_pairs), drawn)[:1]
    with pytest.raises(InputError, match=f"anchor pair {never[0]} was drawn but never embedded"):
        pools[1][np.r_[drawn[:2], never]]

    images = rng.normal(size=(n, 12))
    y = (rng.random((n, 1)) < 0.5).astype(float)
    prompts = PromptEmbeddings(["Pneumonia"], [rng.normal(size=(3, 10)) + 40.0],
                               [rng.normal(size=(3, 10)) + 40.0], "p")  # fmt: skip
    ids = [f"i{k}" for k in range(n)]
    owner = [f"o{k}" for k in range(n_pairs)]
    key = {"task": "zeroshot", "source": "img", "target": "txt", "setting": "zs"}
    kw = dict(loo=False, anchors=spec.anchors, seeds=spec.seeds, rule="pos-neg",
              aggregate="mean", temperature=0.01, center_text=True, key=key, bootstrap=0,
              method="affine", scaling="standard", score_at=64)  # fmt: skip
    got = zeroshot_method(images, y, None, ids, prompts, *pools, owner, **kw)
    want = zeroshot_method(images, y, None, ids, prompts, *full, owner, **kw)
    assert got.table.to_records() == want.table.to_records()
    assert got.extras["scores"] == want.extras["scores"] and got.extras["scores"]
