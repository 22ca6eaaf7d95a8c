"""Zero-shot on a planted joint structure: aligned unimodal beats chance widely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.tasks.prompts import PromptSet, load_prompt_set
from semalign.tasks.zeroshot import ZeroShotClassifier, embed_prompts, zeroshot

from ._joint import CLASSES, planted_joint


@pytest.fixture(scope="module")
def joint():
    return planted_joint()


@pytest.fixture(scope="module")
def prompts(joint):
    return embed_prompts(load_prompt_set("medclip-chexpert5", seed=0), joint.embed_text)


@pytest.mark.parametrize("aggregate", ["mean", "logit-mean", "max"])
def test_unimodal_argmax_beats_chance(joint, prompts, aggregate) -> None:
    tab = zeroshot(
        joint.images, joint.names, prompts, test=joint.test, texts=joint.texts,
        methods=("linear", "ridge"), anchor_counts=(300,), aggregate=aggregate, n_resamples=100,
    )  # fmt: skip
    chance = 1 / len(CLASSES)
    for method in ("linear", "ridge"):
        assert tab.value(mode="unimodal", method=method, metric="accuracy") > chance + 0.4
    assert {r.mode for r in tab} == {"unimodal"}  # no unaligned control


def test_pos_neg_rule_multilabel_and_multimodal_baseline(joint, prompts) -> None:
    onehot = (joint.y[:, None] == np.arange(len(CLASSES))).astype(float)
    kw = dict(test=joint.test, rule="pos-neg", n_resamples=100)
    uni = zeroshot(
        joint.images, onehot, prompts, texts=joint.texts, methods=("linear",),
        anchor_counts=(300,), center_text=True, **kw,
    )  # fmt: skip
    multi = zeroshot(joint.joint_images, onehot, prompts, joint=True, **kw)
    assert uni.value(mode="unimodal", metric="macro_auroc") > 0.85
    assert multi.value(mode="multimodal", metric="macro_auroc") > 0.9
    assert {r.n for r in uni} == {r.n for r in multi} == {500}


def test_more_anchors_help(joint, prompts) -> None:
    tab = zeroshot(
        joint.images, joint.names, prompts, test=joint.test, texts=joint.texts,
        methods=("ridge",), anchor_counts=(3, 300), seeds=(0, 1), n_resamples=0,
    )  # fmt: skip
    mean = lambda k: np.mean([r.value for r in tab.select(anchors=k, metric="accuracy")])  # noqa: E731
    assert mean(300) > mean(3) + 0.2


def test_temperature_changes_probabilities_not_ranking(joint, prompts) -> None:
    a = ZeroShotClassifier(prompts, temperature=0.01).predict_proba(joint.joint_images[:50])
    b = ZeroShotClassifier(prompts, temperature=1.0).predict_proba(joint.joint_images[:50])
    np.testing.assert_array_equal(a.argmax(1), b.argmax(1))
    assert a.max(1).mean() > b.max(1).mean()


def test_prompt_sets_and_user_toml(tmp_path: Path) -> None:
    chex = load_prompt_set("chexzero", classes=["pleural effusion", "Edema"])
    assert chex.positive == {"Pleural Effusion": ["pleural effusion"], "Edema": ["edema"]}
    assert chex.negative["Edema"] == ["no edema"]
    a = load_prompt_set("medclip-chexpert5", seed=1)
    b = load_prompt_set("medclip-chexpert5", seed=1)
    c = load_prompt_set("medclip-chexpert5", seed=2)
    assert a == b and a != c and all(len(v) == 10 for v in a.positive.values())
    assert load_prompt_set("biovil-pneumonia").has_negatives()
    user = tmp_path / "mine.toml"
    user.write_text(
        'name = "mine"\n[classes.Pneumothorax]\npositive = ["apical pneumothorax"]\n'
        'negative = ["no pneumothorax"]\n'
    )
    assert load_prompt_set(user).positive == {"Pneumothorax": ["apical pneumothorax"]}
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n")
    with pytest.raises(InputError, match="defines no classes"):
        load_prompt_set(bad)
    with pytest.raises(InputError, match="neither a built-in set"):
        load_prompt_set("no-such-set")
    with pytest.raises(InputError, match="no prompts for Hernia"):
        load_prompt_set("chexzero", classes=["Hernia"])


def test_errors(joint, prompts) -> None:
    no_neg = embed_prompts(PromptSet("p", {c: [c] for c in CLASSES}), joint.embed_text)
    with pytest.raises(InputError, match="negative prompts"):
        ZeroShotClassifier(no_neg, rule="pos-neg")
    with pytest.raises(InputError, match="needs paired report embeddings"):
        zeroshot(joint.images, joint.names, prompts, test=joint.test)
    with pytest.raises(InputError, match="has no prompts"):
        zeroshot(
            joint.joint_images, np.array(["Hernia"] * len(joint.y)), prompts,
            test=joint.test, joint=True,
        )  # fmt: skip
    with pytest.raises(InputError, match="columns in the text space"):
        ZeroShotClassifier(prompts).predict_proba(joint.images)


def test_real_packaged_text_encoder_scores_reports() -> None:
    """The offline MiniLM: report sentences land nearest their finding's CheXzero prompt."""
    try:
        from semalign.encoders import load_encoder

        encoder = load_encoder("minilm")
    except Exception as exc:  # the offline model package is optional
        pytest.skip(f"minilm unavailable: {exc}")
    names = ["Pleural Effusion", "Pneumothorax", "Cardiomegaly"]
    emb = embed_prompts(load_prompt_set("chexzero", classes=names), encoder)
    assert emb.dim == 384 and all(p.shape == (1, 384) for p in emb.positive)
    reports = encoder.embed(
        [
            "Large left pleural effusion with blunting of the costophrenic angle.",
            "There is a right apical pneumothorax.",
            "The heart is enlarged, consistent with cardiomegaly.",
        ]
    )
    pred = ZeroShotClassifier(emb).predict_proba(reports).argmax(1)
    assert pred.tolist() == [0, 1, 2]


@pytest.mark.parametrize("rule", ["argmax", "pos-neg"])
def test_auroc_ranks_logits_not_saturated_softmax(joint, prompts, rule) -> None:
    """At a tiny temperature every softmax row is one-hot; the reported AUROC must be that of
    the logits (cosines / temperature), computed here with scikit-learn."""
    from scipy.special import logsumexp
    from sklearn.metrics import roc_auc_score

    onehot = (joint.y[:, None] == np.arange(len(CLASSES))).astype(float)
    y = joint.names if rule == "argmax" else onehot
    t = 1e-5
    tab = zeroshot(joint.joint_images, y, prompts, test=joint.test, joint=True, rule=rule,
                   temperature=t, n_resamples=0)  # fmt: skip
    clf = ZeroShotClassifier(prompts, rule=rule, temperature=t)
    x = joint.joint_images[joint.test]
    assert np.mean(np.isin(clf.predict_proba(x), (0.0, 1.0))) > 0.9  # planted saturation
    z = clf.decision_function(x)
    truth = onehot[joint.test]
    if rule == "argmax":  # each class's log-odds: the softmax order, unsaturated
        z = np.stack([z[:, c] - logsumexp(np.delete(z, c, 1), 1) for c in range(z.shape[1])], 1)
    expected = np.mean([roc_auc_score(truth[:, c], z[:, c]) for c in range(z.shape[1])])
    assert tab.value(mode="multimodal", metric="macro_auroc") == pytest.approx(expected, abs=1e-12)
    assert expected > 0.8


@pytest.mark.parametrize("scoring", ["cosine", "csls"])
def test_fold_decisions_of_every_row_score_the_array_itself(joint, prompts, scoring) -> None:
    """A fixed split's one fold (every row, in order) scores the images without copying them;
    the decisions equal those of the copied rows, and a fold of some rows keeps its own."""
    from semalign.tasks.zeroshot_folds import fold_decisions

    images = joint.joint_images[:40]
    clf = ZeroShotClassifier(prompts, scoring=scoring, csls_k=3)
    every = np.arange(40)
    assert np.array_equal(fold_decisions(clf, images, every), clf.decision_values(images[every]))
    some = np.array([3, 7, 8, 30])
    want = clf.decision_values(images[some] if scoring == "cosine" else images)
    got = fold_decisions(clf, images, some)
    assert np.array_equal(got, want if scoring == "cosine" else want[some])
    shuffled = every[::-1].copy()  # every row, not in order: a copy in that order
    assert np.array_equal(fold_decisions(clf, images, shuffled),
                          clf.decision_values(images[shuffled]) if scoring == "cosine"
                          else clf.decision_values(images)[shuffled])  # fmt: skip
