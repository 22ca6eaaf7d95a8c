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
