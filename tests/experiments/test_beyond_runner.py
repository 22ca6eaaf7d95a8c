"""The runner's CSLS and ASIF zero-shot rows and its space rows at several sample sizes, checked
against direct computations on the same folds, anchors and subsamples; the recipe keys."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.align import Aligner, select_anchors
from semalign.errors import InputError
from semalign.experiments import parse_recipe
from semalign.experiments.units import space_at_sizes, zeroshot_asif, zeroshot_method
from semalign.metrics.classification import classification_report
from semalign.metrics.csls import csls_from_similarities
from semalign.metrics.similarity import similarity_report
from semalign.metrics.space import knn_jaccard, linear_cka
from semalign.tasks.asif import ASIF, AsifSweep, asif_variant
from semalign.tasks.comparators import log_softmax
from semalign.tasks.zeroshot import PromptEmbeddings

CLASSES = ["a", "b", "c"]
KEY = {"task": "zeroshot", "source": "img", "target": "txt", "setting": "t"}
T = 0.05


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _planted(seed: int = 0):
    """9 images of 3 classes, 3 anchor pairs per image (owned by it), 2 prompts per class; the
    text space is a noisy rotation of the image space, with a hub direction in the prompts."""
    rng = np.random.default_rng(seed)
    d = 6
    centres = 2.0 * np.eye(d)[:3]
    y = np.repeat(np.arange(3), 3)
    images = centres[y] + 1.5 * rng.normal(size=(9, d))
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    owner = [f"i{i}" for i in range(9) for _ in range(3)]
    anchor_images = np.repeat(images, 3, axis=0) + 0.3 * rng.normal(size=(27, d))
    anchor_texts = anchor_images @ rot + 0.3 * rng.normal(size=(27, d))
    hub = 1.5 * rng.normal(size=d)
    pos = [(centres[c] @ rot + hub) + 0.4 * rng.normal(size=(2, d)) for c in range(3)]
    prompts = PromptEmbeddings(CLASSES, pos, [np.empty((0, d))] * 3, "planted")
    ids = [f"i{i}" for i in range(9)]
    return images, np.array(CLASSES)[y], ids, prompts, anchor_images, anchor_texts, owner


def _metrics(table, mode: str, scoring: str, anchors: int) -> dict[str, float]:
    label = "cosine" if scoring == "cosine" else "csls@3"
    return {
        r.metric: r.value
        for r in table
        if r.mode == mode
        and r.setting == "t"
        and r.scoring == label
        and r.anchors == anchors
        and r.seed == 0
    }


def test_csls_zeroshot_equals_direct_csls_over_the_fold_batch() -> None:
    images, y, ids, prompts, ai, at, owner = _planted()
    k = 12
    out = zeroshot_method(
        images, y, None, ids, prompts, ai, at, owner, loo=True, method="orthogonal",
        scaling="standard", anchors=[k], seeds=[0], rule="argmax", aggregate="mean",
        temperature=T, center_text=True, key=KEY, bootstrap=0, scorings=("cosine", "csls"),
        csls_k=3,
    )  # fmt: skip
    owners = np.asarray(owner)
    oracle = {"cosine": np.empty((9, 3)), "csls": np.empty((9, 3))}
    for i in range(9):
        sel = select_anchors(owners.size, k, seed=0, exclude=owners == ids[i])
        mapped = Aligner("orthogonal", "standard", seed=0).fit(ai[sel], at[sel]).transform(images)
        c = at[sel].mean(axis=0)
        protos = np.stack([_unit(_unit(p - c).mean(axis=0)) for p in prompts.positive])
        cos = _unit(mapped - c) @ protos.T  # the batch: all 9 images through fold i's map
        oracle["cosine"][i] = log_softmax(cos[i : i + 1] / T)[0]
        oracle["csls"][i] = log_softmax(csls_from_similarities(cos, 3)[i : i + 1] / T)[0]
    idx = np.array([CLASSES.index(v) for v in y])
    for scoring, d in oracle.items():
        want = classification_report(idx, d, task="multiclass", logits=True, n_resamples=0)
        got = _metrics(out.table, "unimodal", scoring, k)
        assert got["accuracy"] == pytest.approx(want["accuracy"].value)
        assert got["macro_auroc"] == pytest.approx(want["macro_auroc"].value, abs=1e-12)
    # the planted hub makes CSLS differ from cosine, and the control is scored both ways
    assert not np.allclose(oracle["csls"], oracle["cosine"])
    assert _metrics(out.table, "unimodal", "csls", k) != _metrics(
        out.table, "unimodal", "cosine", k
    )
    assert _metrics(out.table, "shuffled-anchors", "csls", k)


def test_asif_rows_equal_a_direct_asif_computation_on_the_same_anchors() -> None:
    images, y, ids, prompts, ai, at, owner = _planted(1)
    k = 12
    out = zeroshot_asif(
        images, y, None, ids, prompts, ai, at, owner, loo=True, anchors=[6, k], seeds=[0],
        top_k=4, power=3.0, rule="argmax", aggregate="logit-mean", temperature=T, key=KEY,
        bootstrap=0, score_at=k,
    )  # fmt: skip
    owners = np.asarray(owner)
    d = np.empty((9, 3))
    for i in range(9):
        sel = select_anchors(owners.size, k, seed=0, exclude=owners == ids[i])
        asif = ASIF(top_k=4, power=3.0).fit(ai[sel], at[sel])
        sims = [asif.similarity(images[i : i + 1], p).mean() for p in prompts.positive]
        d[i] = log_softmax(np.array(sims)[None, :] / T)[0]
    scores = {(r["id"], r["class"]): r["score"] for r in out.extras["scores"]}
    assert {r["mode"] for r in out.extras["scores"]} == {"asif"}
    got = np.array([[scores[ids[i], c] for c in CLASSES] for i in range(9)])
    assert np.allclose(got, d)
    idx = np.array([CLASSES.index(v) for v in y])
    want = classification_report(idx, d, task="multiclass", logits=True, n_resamples=0)
    assert _metrics(out.table, "asif", "cosine", k)["macro_auroc"] == pytest.approx(
        want["macro_auroc"].value
    )


def test_asif_sweep_chooses_per_fold_on_that_folds_anchors() -> None:
    """select = held-out-anchors: each fold's setting is the one AsifSweep picks on that fold's
    own anchor pairs; the rows equal a direct computation with those settings."""
    images, y, ids, prompts, ai, at, owner = _planted(1)
    k = 12
    grid = dict(top_k=[3, 8], power=[1.0, 3.0], center=[False, True])
    out = zeroshot_asif(
        images, y, None, ids, prompts, ai, at, owner, loo=True, anchors=[k], seeds=[0],
        rule="argmax", aggregate="logit-mean", temperature=T, key=KEY, bootstrap=0, score_at=k,
        select="held-out-anchors", **grid,
    )  # fmt: skip
    owners = np.asarray(owner)
    d = np.empty((9, 3))
    chosen = []
    for i in range(9):
        sel = select_anchors(owners.size, k, seed=0, exclude=owners == ids[i])
        model, _ = AsifSweep(**grid).select(ai[sel], at[sel], 0)  # type: ignore[arg-type]
        chosen.append((model.top_k, model.power, model.center))
        asif = model.fit(ai[sel], at[sel])
        sims = [asif.similarity(images[i : i + 1], p).mean() for p in prompts.positive]
        d[i] = log_softmax(np.array(sims)[None, :] / T)[0]
    scores = {(r["id"], r["class"]): r["score"] for r in out.extras["scores"]}
    got = np.array([[scores[ids[i], c] for c in CLASSES] for i in range(9)])
    assert np.allclose(got, d)
    swept = [r for r in out.table if r.mode == "asif-sweep"]
    assert len(swept) == 8
    counts = {r.variant: r.note for r in swept}
    for setting in set(chosen):
        name = asif_variant({"top_k": setting[0], "power": setting[1], "center": setting[2]})
        assert counts[name] == f"chosen in {chosen.count(setting)}/9 folds"
    assert all(r.variant.startswith("settings chosen per fold") for r in out.table
               if r.mode == "asif")  # fmt: skip


def test_space_rows_equal_similarity_report_on_the_same_subsamples() -> None:
    rng = np.random.default_rng(2)
    xa = rng.normal(size=(60, 7))
    xb = np.hstack([xa[:, :4], rng.normal(size=(60, 3))]) + 0.5 * rng.normal(size=(60, 7))
    out = space_at_sizes(xa, xb, [20, 40], repeats=3, k=5, names=("a", "b"))
    for n in (20, 40):
        per_seed: dict[str, list[float]] = {}
        for seed in range(3):
            idx = np.sort(np.random.default_rng(seed).permutation(60)[:n])
            rep = similarity_report(xa[idx], xb[idx], k=5)
            rep["cka"] = linear_cka(xa[idx], xb[idx])
            rep["knn_jaccard@5"] = knn_jaccard(xa[idx], xb[idx], 5)
            for m, v in rep.items():
                per_seed.setdefault(m, []).append(v)
        rows = {r.metric: r for r in out.table if r.n == n}
        assert set(rows) == set(per_seed)
        for m, v in per_seed.items():
            assert rows[m].value == pytest.approx(np.mean(v))
            assert (rows[m].ci_low, rows[m].ci_high) == pytest.approx(
                tuple(np.percentile(v, [2.5, 97.5]))
            )
        assert all(r.mode == "sample-size" and r.task == "space" for r in rows.values())


def _recipe(stitch: dict | None = None, zeroshot: dict | None = None):
    data: dict = {
        "datasets": {"iu": {"name": "iu-reports"}, "k": {"name": "kermany-mini"}},
        "encoders": {"a": {"model": "minilm"}, "b": {"model": "e5-small"},
                     "img": {"model": "efficientnet-lite0"}},
    }  # fmt: skip
    if stitch is not None:
        data["stitch"] = [
            {"dataset": "iu", "pairs": [["a", "b"]], "classes": {"n": ["No Finding"],
             "e": ["Pleural Effusion"]}, **stitch}
        ]  # fmt: skip
    if zeroshot is not None:
        data["zeroshot"] = [
            {"images": "k", "labels": ["Pneumonia"], "prompts": "biovil-pneumonia",
             "image_encoder": "img", "text_encoder": "a", "anchor_dataset": "k",
             "pairing": "label-matched", "reports": "iu", "split": "loo", **zeroshot}
        ]  # fmt: skip
    return parse_recipe(data)


def test_new_keys_parse_with_defaults() -> None:
    z = _recipe(zeroshot={}).zeroshot[0]
    assert (z.scoring, z.csls_k, z.asif) == (["cosine"], 10, None)
    z = _recipe(zeroshot={"scoring": ["cosine", "csls"], "csls_k": 5, "asif": {"power": 4}})
    zs = z.zeroshot[0]
    assert zs.scoring == ["cosine", "csls"] and zs.csls_k == 5
    assert zs.asif is not None and (zs.asif.top_k, zs.asif.power) == (800, 4.0)
    s = _recipe(stitch={"space_sizes": [128, 64]}).stitch[0]
    assert (s.space_sizes, s.space_repeats) == ([64, 128], 10)
    assert _recipe(stitch={}).stitch[0].space_sizes == []


@pytest.mark.parametrize(
    ("stitch", "zeroshot", "expected"),
    [
        ({"space_sizes": [0]}, None, "stitch[0].space_sizes = [0] must list integer sample sizes"),
        ({"space_sizes": [10]}, None, "sizes > 10"),
        ({"space_repeats": 1}, None, "stitch[0].space_repeats must be an integer >= 2"),
        (None, {"scoring": ["csl"]}, "zeroshot[0].scoring has 'csl' (did you mean 'csls'?)"),
        (None, {"csls_k": 0}, "zeroshot[0].csls_k must be an integer >= 1"),
        (None, {"asif": {"top_k": 0}}, "zeroshot[0].asif.top_k must be an integer >= 1"),
        (None, {"asif": {"power": -1}}, "zeroshot[0].asif.power = -1 must be a positive"),
        (None, {"asif": {"topk": 8}}, "zeroshot[0].asif.'topk' (did you mean 'top_k'?)"),
        (None, {"asif": 8}, "zeroshot[0].asif must be a table"),
    ],
)
def test_bad_keys_are_one_line_errors_naming_task_and_key(
    stitch: dict | None, zeroshot: dict | None, expected: str
) -> None:
    with pytest.raises(InputError) as err:
        _recipe(stitch=stitch, zeroshot=zeroshot)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_asif_on_a_joint_task_is_refused() -> None:
    with pytest.raises(InputError, match=r"zeroshot\[0\]\.asif .* joint = true"):
        _recipe(zeroshot={"joint": True, "split": "none", "asif": {}})


def test_space_sizes_above_the_items_give_rows_marked_with_the_reason() -> None:
    """A recipe written for the full dataset, run on a subset: sizes that fit are computed (equal
    to the same unit asked for them alone), the others are n/a rows saying how many items there
    were, never a failure after the embeddings are made."""
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(50, 6)), rng.normal(size=(50, 5))
    kw = {"repeats": 3, "k": 5, "names": ("a", "b")}
    rows = space_at_sizes(xa, xb, [16, 5000], **kw).table.to_records()
    alone = space_at_sizes(xa, xb, [16], **kw).table.to_records()
    fit = [r for r in rows if r["n"] == 16]
    assert fit == alone and fit
    over = [r for r in rows if r["n"] == 5000]
    assert over and all(r["value"] in (None, "") or np.isnan(float(r["value"])) for r in over)
    assert {r["note"] for r in over} == {"skipped: only 50 items"}
