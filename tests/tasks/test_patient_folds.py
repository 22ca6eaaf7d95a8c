"""Leave one patient out: a patient's images are held out together, and no anchor pair owned by
one of them fits that fold's map; the comparators use the same folds. Checked against direct
computations on planted data in which two images belong to one patient."""

from __future__ import annotations

import numpy as np
import pytest

from semalign.align import Aligner, select_anchors
from semalign.errors import InputError
from semalign.tasks.comparators import linear_probe_loo, log_softmax, nearest_centroid_loo
from semalign.tasks.splits import group_folds
from semalign.tasks.zeroshot import PromptEmbeddings
from semalign.tasks.zeroshot_folds import patient_folds, zeroshot_comparators, zeroshot_method

CLASSES = ["a", "b"]
KEY = {"task": "zeroshot", "source": "img", "target": "txt", "setting": "t"}
T = 0.05
IDS = [f"i{i}" for i in range(8)]
# i0 and i1 are two X-rays of one patient; every other image is its own patient
PATIENTS = {"i0": "k/P0", "i1": "k/P0", **{f"i{i}": f"k/P{i}" for i in range(2, 8)}}
PER_IMAGE = 3


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _planted(seed: int = 0):
    """8 images of 2 classes, 3 anchor pairs owned by each, 2 prompts per class; the text space
    a noisy rotation of the image space. i1 is i0 with a little noise (the same patient)."""
    rng = np.random.default_rng(seed)
    d = 5
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    images = 1.5 * np.eye(d)[y] + rng.normal(size=(8, d))
    images[1] = images[0] + 0.05 * rng.normal(size=d)
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    owner = [i for i in IDS for _ in range(PER_IMAGE)]
    anchor_images = np.repeat(images, PER_IMAGE, axis=0) + 0.3 * rng.normal(size=(24, d))
    anchor_texts = anchor_images @ rot + 0.3 * rng.normal(size=(24, d))
    pos = [(1.5 * np.eye(d)[c] @ rot) + 0.4 * rng.normal(size=(2, d)) for c in range(2)]
    prompts = PromptEmbeddings(CLASSES, pos, [np.empty((0, d))] * 2, "planted")
    return images, np.array(CLASSES)[y], prompts, anchor_images, anchor_texts, owner


def test_group_folds_hold_out_whole_groups_in_order_of_first_row() -> None:
    folds = group_folds(["p", "q", "p", "r", "q"])
    assert [f.tolist() for f in folds] == [[0, 2], [1, 4], [3]]
    assert [f.tolist() for f in group_folds(None, 3)] == [[0], [1], [2]]
    with pytest.raises(InputError, match="one group key per row"):
        group_folds(["p", "q"], 3)


def test_one_fold_per_patient_and_no_pair_of_a_held_out_patient_is_allowed() -> None:
    owner = [i for i in IDS for _ in range(PER_IMAGE)]
    folds, allowed = patient_folds(IDS, owner, PATIENTS)
    assert len(folds) == len(set(PATIENTS.values())) == 7
    owners = np.array(owner)
    for fold, ok in zip(folds, allowed, strict=True):
        held = {IDS[i] for i in fold.tolist()}
        assert {PATIENTS[i] for i in held} == {PATIENTS[IDS[int(fold[0])]]}
        # neither image of a patient ever fits the map of a fold holding out the other
        assert not ok[np.isin(owners, list(held))].any()
        assert ok[~np.isin(owners, list(held))].all()
    assert sorted(np.concatenate(folds).tolist()) == list(range(8))
    # without patients every image is its own fold (leave one image out)
    assert len(patient_folds(IDS, owner)[0]) == 8


def _oracle(images, prompts, ai, at, owner, k: int, patients: dict[str, str]) -> np.ndarray:
    """Decision values (8, 2) of the prompt rule (aggregate mean, centred texts) through an
    orthogonal map fitted, per patient, on k pairs drawn among the other patients' pairs."""
    owners = np.array([patients[o] for o in owner])
    d = np.empty((8, 2))
    for p in dict.fromkeys(patients[i] for i in IDS):
        rows = [i for i, name in enumerate(IDS) if patients[name] == p]
        sel = select_anchors(owners.size, k, seed=0, exclude=owners == p)
        mapped = Aligner("orthogonal", "standard", seed=0).fit(ai[sel], at[sel]).transform(images)
        c = at[sel].mean(axis=0)
        protos = np.stack([_unit(_unit(q - c).mean(axis=0)) for q in prompts.positive])
        d[rows] = log_softmax((_unit(mapped[rows] - c) @ protos.T) / T)
    return d


def _scores(extras, mode: str) -> np.ndarray:
    got = {(r["id"], r["class"]): r["score"] for r in extras if r["mode"] == mode}
    return np.array([[got[i, c] for c in CLASSES] for i in IDS])


def test_prompt_folds_equal_a_direct_leave_one_patient_out_computation() -> None:
    images, y, prompts, ai, at, owner = _planted()
    k = 18  # every pair the two-image patient's fold may use (6 of 24 are its own)
    kw = dict(
        loo=True, method="orthogonal", scaling="standard", anchors=[k], seeds=[0],
        rule="argmax", aggregate="mean", temperature=T, center_text=True, key=KEY,
        bootstrap=0,
    )  # fmt: skip
    _, scores = zeroshot_method(images, y, None, IDS, prompts, ai, at, owner, patients=PATIENTS,
                                **kw)  # fmt: skip
    want = _oracle(images, prompts, ai, at, owner, k, PATIENTS)
    np.testing.assert_allclose(_scores(scores, "unimodal"), want, atol=1e-10)
    # leave one image out lets i0's fold fit on i1's pairs: its scores differ
    _, by_image = zeroshot_method(images, y, None, IDS, prompts, ai, at, owner, **kw)
    assert not np.allclose(_scores(by_image, "unimodal")[:2], want[:2])
    identity = {i: i for i in IDS}
    np.testing.assert_allclose(
        _scores(by_image, "unimodal"), _oracle(images, prompts, ai, at, owner, k, identity)
    )


def test_more_anchors_than_the_largest_patient_leaves_are_refused_with_the_count() -> None:
    images, y, prompts, ai, at, owner = _planted()
    table, _ = zeroshot_method(
        images, y, None, IDS, prompts, ai, at, owner, loo=True, method="orthogonal",
        scaling="standard", anchors=[21], seeds=[0], rule="argmax", aggregate="mean",
        temperature=T, center_text=True, key=KEY, bootstrap=0, patients=PATIENTS,
    )  # fmt: skip
    notes = {r.note for r in table if r.mode == "unimodal"}
    assert notes == {"skipped: only 18 anchors available"}


def test_comparators_hold_out_a_patient_together() -> None:
    images, y, *_ = _planted(1)
    groups = [PATIENTS[i] for i in IDS]
    d = nearest_centroid_loo(images, y, rule="argmax", classes=CLASSES, groups=groups)
    unit = _unit(images)
    idx = np.array([CLASSES.index(v) for v in y])
    others = np.arange(8) >= 2  # the fold of patient P0 (rows 0 and 1)
    for row in (0, 1):
        for c in range(2):
            cen = unit[others & (idx == c)].mean(axis=0)
            assert d[row, c] == pytest.approx(unit[row] @ cen / np.linalg.norm(cen))
    # one image out: i0's class centroid holds its near-copy i1, so its score differs
    alone = nearest_centroid_loo(images, y, rule="argmax", classes=CLASSES)
    assert alone[0, 0] != pytest.approx(d[0, 0])
    np.testing.assert_allclose(alone[2:], d[2:])  # single-image patients: the same folds

    from semalign.tasks.heads import LogisticHead

    lab = idx[:, None].astype(float)
    probe = linear_probe_loo(images, lab, rule="pos-neg", classes=["b"], groups=groups)
    ref = LogisticHead().fit(images[others], lab[others]).decision_function(images[:2])
    np.testing.assert_allclose(probe[:2], ref)

    _, rows = zeroshot_comparators(
        images, y, None, IDS, CLASSES, comparators=["nearest-centroid"], rule="argmax",
        key=KEY, bootstrap=0, patients=PATIENTS,
    )  # fmt: skip
    np.testing.assert_allclose(_scores(rows, "nearest-centroid"), d)


def test_the_packaged_kermany_images_are_15_patients() -> None:
    from semalign.data.readers.demo import read_kermany_mini

    recs = list(read_kermany_mini())
    ids = [r.id for r in recs]
    folds, _ = patient_folds(ids, ids, {r.id: r.patient_key for r in recs})
    assert (len(folds), len(ids)) == (15, 16)
    pair = [f for f in folds if f.size > 1]
    assert [sorted(ids[i] for i in f) for f in pair] == [
        ["person1946_bacteria_4874", "person1946_bacteria_4875"]
    ]
