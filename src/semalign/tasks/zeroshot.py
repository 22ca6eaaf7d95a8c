"""Zero-shot classification against class prompts, CLIP-style, for unimodal and dual encoders.

Prompts are embedded once by a text encoder (any object with ``embed(list[str]) -> (m, d)``, or a
plain callable). Images are scored by cosine similarity in the text space:

  unimodal     image embeddings mapped into the text encoder's space by T, an :class:`Aligner`
               fitted on anchor pairs (image embedding <-> its report's embedding);
  multimodal   a dual encoder's image embeddings, already in its joint space, scored against its
               own text tower's prompt embeddings (CLIP, BiomedCLIP): the like-for-like baseline.

Class score from several prompts (``aggregate``): ``mean`` - cosine to the renormalised mean of the
normalised prompt embeddings (default); ``logit-mean`` - mean of the per-prompt cosines; ``max``.
Decision rules (``rule``): ``argmax`` - softmax over classes of the positive scores / temperature
(multi-class, e.g. CheXpert 5x200); ``pos-neg`` - per class, softmax of positive vs negative score
/ temperature, i.e. P(finding) per label (multi-label CheXpert, binary RSNA pneumonia).

Scoring (``scoring``): ``cosine`` (default) or ``csls`` (hubness-corrected, see
:mod:`semalign.metrics.csls`), applied to the (images x class prompts) score matrix, positives
and negatives together: ``2 s_ic - r_image(i) - r_class(c)``, where ``r_image(i)`` is the mean of
image i's ``csls_k`` best class scores (it shifts every class of one image equally, so it never
changes a decision) and ``r_class(c)`` the mean of class c's ``csls_k`` best scores over the
images scored together. So CSLS is a property of a batch: the same image can get other
probabilities in another batch. A batch of one image (single-image prediction) has
``r_class(c) = s_ic``, which reduces CSLS to the cosine scores minus a constant: the same decision
as cosine. Score whole test sets (or a reference batch) at once to get the hubness correction.

Metrics rank the logits (:meth:`ZeroShotClassifier.decision_function`: the cosines / temperature,
or their pos - neg difference), never the softmax, which saturates to exactly 0 or 1 once a
class's cosine leads by ~0.4 at temperature 0.01; the multi-class AUROC ranks each class's
log-odds (:func:`semalign.metrics.class_log_odds`), the probabilities' order without saturation.
With ``scoring="csls"`` the logits are the CSLS scores / temperature (or their pos - neg
difference), so the same batch rule holds for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align import Aligner
from semalign.errors import InputError
from semalign.metrics.classification import Estimate, classification_report
from semalign.tasks.heads import _sigmoid, _softmax
from semalign.tasks.prompts import PromptSet
from semalign.tasks.results import ResultTable
from semalign.tasks.splits import row_index, split_rows
from semalign.tasks.stitching import count_reason, draw_anchors, fit_cell, undefined

__all__ = [
    "AGGREGATES",
    "RULES",
    "PromptEmbeddings",
    "ZeroShotClassifier",
    "class_indices",
    "embed_prompts",
    "log_softmax",
    "zeroshot",
    "zeroshot_report",
]

AGGREGATES: tuple[str, ...] = ("mean", "logit-mean", "max")
RULES: tuple[str, ...] = ("argmax", "pos-neg")

Float = NDArray[np.float64]
TextEmbedder = Callable[[list[str]], Any] | Any


def _unit(x: Float) -> Float:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: Float = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


@dataclass
class PromptEmbeddings:
    """Per class, the embeddings (m_c, d) of its positive and negative prompts (raw units)."""

    classes: list[str]
    positive: list[Float]
    negative: list[Float]
    name: str = ""

    @property
    def dim(self) -> int:
        return int(self.positive[0].shape[1])

    def has_negatives(self) -> bool:
        return all(n.shape[0] > 0 for n in self.negative)


def _call_embedder(embedder: TextEmbedder, texts: list[str], batch_size: int) -> Float:
    fn = getattr(embedder, "embed", None)
    out = fn(texts, batch_size=batch_size) if fn is not None else embedder(texts)
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise InputError(
            f"the text encoder returned shape {arr.shape} for {len(texts)} prompts: it must return "
            "(n_prompts, d)"
        )
    return arr


def embed_prompts(
    prompts: PromptSet, text_encoder: TextEmbedder, batch_size: int = 64
) -> PromptEmbeddings:
    """Embed every prompt of ``prompts`` with ``text_encoder`` (an Encoder or a callable)."""
    texts: list[str] = []
    for c in prompts.classes:
        texts += prompts.positive[c] + prompts.negative.get(c, [])
    emb = _call_embedder(text_encoder, texts, batch_size)
    pos, neg, at = [], [], 0
    for c in prompts.classes:
        n_pos, n_neg = len(prompts.positive[c]), len(prompts.negative.get(c, []))
        pos.append(emb[at : at + n_pos])
        neg.append(emb[at + n_pos : at + n_pos + n_neg])
        at += n_pos + n_neg
    return PromptEmbeddings(prompts.classes, pos, neg, prompts.name)


def _class_scores(
    images: Float, groups: list[Float], aggregate: str, center: Float | None
) -> Float:
    """Cosine scores (n, C) of unit image rows against each class's prompt group."""
    out = np.empty((images.shape[0], len(groups)))
    for j, g in enumerate(groups):
        p = _unit(g - center) if center is not None else _unit(g)
        if aggregate == "mean":
            out[:, j] = images @ _unit(p.mean(axis=0))
        else:
            sims = images @ p.T
            out[:, j] = sims.mean(axis=1) if aggregate == "logit-mean" else sims.max(axis=1)
    return out


class ZeroShotClassifier:
    """Score image embeddings (n, d) against prompt embeddings, optionally through a map T.

    ``aligner``: a fitted map image space -> text space (None when the images already live in
    the prompts' space). ``center`` (d,): subtracted from mapped images and prompts before the
    cosine (e.g. the text anchors' mean), which removes the common offset of anisotropic spaces.
    """

    def __init__(
        self,
        prompts: PromptEmbeddings,
        *,
        rule: str = "argmax",
        aggregate: str = "mean",
        temperature: float = 0.01,
        aligner: Aligner | None = None,
        center: Any = None,
        scoring: str = "cosine",
        csls_k: int = 10,
    ) -> None:
        from semalign.metrics.csls import check_scoring

        self.scoring, self.csls_k = check_scoring(scoring, csls_k)
        if rule not in RULES:
            raise InputError(f"rule {rule!r} is unknown: use one of {', '.join(RULES)}")
        if aggregate not in AGGREGATES:
            raise InputError(f"aggregate {aggregate!r} is unknown: use {', '.join(AGGREGATES)}")
        if not temperature > 0:
            raise InputError(f"temperature={temperature}: it must be positive")
        if rule == "pos-neg" and not prompts.has_negatives():
            raise InputError(
                f"prompt set {prompts.name!r} lacks negative prompts for some class: the pos-neg "
                "rule needs them; use rule argmax or a set with negatives"
            )
        self.prompts = prompts
        self.rule = rule
        self.aggregate = aggregate
        self.temperature = temperature
        self.aligner = aligner
        self.center = None if center is None else np.asarray(center, dtype=np.float64)

    def _to_text_space(self, images: Any) -> Float:
        x = np.asarray(images, dtype=np.float64)
        if x.ndim != 2:
            raise InputError(f"images have shape {x.shape}: pass embeddings of shape (n, d)")
        if self.aligner is not None:
            x = self.aligner.transform(x)
        if x.shape[1] != self.prompts.dim:
            raise InputError(
                f"images have {x.shape[1]} columns in the text space but prompts {self.prompts.dim}"
                ": map them with an aligner fitted into this text encoder's space"
            )
        if self.center is not None:
            x = x - self.center
        return _unit(x)

    def scores(self, images: Any) -> tuple[Float, Float | None]:
        """Positive and (for pos-neg) negative class scores, each (n, C): cosines, or their
        CSLS over this batch of images (``scoring="csls"``)."""
        x = self._to_text_space(images)
        pos = _class_scores(x, self.prompts.positive, self.aggregate, self.center)
        neg = None
        if self.rule != "argmax":
            neg = _class_scores(x, self.prompts.negative, self.aggregate, self.center)
        if self.scoring == "csls":
            from semalign.metrics.csls import csls_from_similarities

            both = csls_from_similarities(
                pos if neg is None else np.hstack([pos, neg]), self.csls_k
            )
            c = pos.shape[1]
            pos, neg = both[:, :c], (None if neg is None else both[:, c:])
        return pos, neg

    def decision_function(self, images: Any) -> Float:
        """(n, C) logits: positive scores / temperature (argmax, softmax logits) or
        (positive - negative) / temperature (pos-neg, one sigmoid logit per class); the scores
        are cosines or, with ``scoring="csls"``, their CSLS over this batch (:meth:`scores`)."""
        pos, neg = self.scores(images)
        out: Float = pos / self.temperature if neg is None else (pos - neg) / self.temperature
        return out

    def decision_values(self, images: Any) -> Float:
        """(n, C) scores that keep their order for per-class ROC over images: the log-softmax of
        :meth:`decision_function` (argmax: log-probabilities, same decisions and class log-odds)
        or the logits themselves (pos-neg: a label is predicted where > 0)."""
        z = self.decision_function(images)
        return log_softmax(z) if self.rule == "argmax" else z

    def predict_proba(self, images: Any) -> Float:
        """(n, C): softmax over classes (argmax) or P(positive) per class (pos-neg)."""
        z = self.decision_function(images)
        return _softmax(z) if self.rule == "argmax" else _sigmoid(z)


def log_softmax(z: Float) -> Float:
    """Row-wise log-probabilities of logits (n, K), computed without overflow."""
    m = z.max(axis=1, keepdims=True)
    out: Float = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return out


def class_indices(y: Any, classes: Sequence[str]) -> NDArray[np.int64]:
    """Positions (n,) of class names ``y`` among ``classes``, case-insensitive."""
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    keys = [str(v).lower() for v in np.asarray(y).tolist()]
    bad = [k for k in keys if k not in lookup]
    if bad:
        raise InputError(
            f"label {bad[0]!r} has no prompts: it is not one of the classes "
            f"({', '.join(classes)}); pick a prompt set (or classes) that covers every label"
        )
    return np.array([lookup[k] for k in keys], dtype=np.int64)


def zeroshot_report(
    d: Float,
    y: Any,
    mask: Any,
    classes: list[str],
    rule: str,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Metrics of decision values ``d`` (n, C) (:meth:`ZeroShotClassifier.decision_function`,
    :meth:`~ZeroShotClassifier.decision_values` or a comparator's): ``argmax`` ranks each
    class's log-odds; ``pos-neg`` reads ``d`` as one logit per label (threshold 0)."""
    ci: dict[str, Any] = {"n_resamples": n_resamples, "level": level, "seed": seed}
    if rule == "argmax":
        return classification_report(
            class_indices(y, classes), d, task="multiclass", logits=True, **ci
        )
    return classification_report(
        y, d, task="multilabel", mask=mask, label_names=classes, logits=True, **ci
    )


def _report(
    clf: ZeroShotClassifier,
    images: Float,
    y: Any,
    mask: Any,
    ci: dict[str, Any],
) -> dict[str, Estimate]:
    d = clf.decision_function(images)
    return zeroshot_report(d, y, mask, clf.prompts.classes, clf.rule, **ci)


def zeroshot(
    images: Any,
    y: Any,
    prompts: PromptEmbeddings,
    *,
    test: Any,
    texts: Any = None,
    joint: bool = False,
    mask: Any = None,
    rule: str = "argmax",
    aggregate: str = "mean",
    temperature: float = 0.01,
    methods: Sequence[str] = ("orthogonal",),
    scalings: Sequence[str] = ("standard",),
    anchor_counts: Sequence[int] = (500,),
    seeds: Sequence[int] = (0,),
    anchor_strategy: str = "random",
    center_text: bool = False,
    aligner: Aligner | None = None,
    scoring: str = "cosine",
    csls_k: int = 10,
    image_name: str = "image",
    text_name: str = "text",
    n_resamples: int = 1000,
    level: float = 0.95,
    ci_seed: int = 0,
) -> ResultTable:
    """Zero-shot metrics on the test rows, as a :class:`ResultTable`.

    images: (n, d_img). y: (n,) class names (rule argmax) or (n, C) binary labels in the prompt
    classes' order (rule pos-neg; ``mask`` (n, C) False = skip). texts: (n, d_txt) report
    embeddings paired with ``images`` row by row, from the text encoder that embedded the prompts:
    anchors for T are drawn from the non-test rows (mode ``unimodal``, one row per method, scaling,
    anchor count and seed). ``joint=True``: images
    already share the prompts' space (mode ``multimodal``); ``texts`` is then not needed.
    ``center_text`` subtracts the text anchors' mean before the cosine (unimodal only).
    ``aligner``: a map already fitted elsewhere (e.g. on MIMIC-CXR anchors): no anchors are
    drawn, ``texts`` is not needed, every ``test`` row may be used (mode ``unimodal``, one row).
    ``scoring`` / ``csls_k``: see the module docstring; the test rows are scored as one batch.
    """
    x = np.asarray(images, dtype=np.float64)
    yy = np.asarray(y)
    if x.ndim != 2 or yy.shape[0] != x.shape[0]:
        raise InputError(
            f"images have shape {x.shape} and labels {yy.shape[0]} rows: pass (n, d) images with "
            "one label row each"
        )
    if aligner is not None and joint:
        raise InputError("pass either joint=True or a fitted aligner, not both")
    if aligner is not None:
        te = row_index(test, x.shape[0], "test")
        if te.size == 0:
            raise InputError("no test rows: pass the rows to score")
        tr = np.setdiff1d(np.arange(x.shape[0]), te)
    else:
        tr, te = split_rows(x.shape[0], test)
    ci = {"n_resamples": n_resamples, "level": level, "seed": ci_seed}
    setting = f"prompts={prompts.name} rule={rule} aggregate={aggregate}"
    common: dict[str, Any] = {
        "task": "zeroshot", "source": image_name, "target": text_name,
        "n": int(te.size), "setting": setting,
        "scoring": f"csls@{csls_k}" if scoring == "csls" else "cosine",
    }  # fmt: skip
    m_te = None if mask is None else np.asarray(mask)[te]
    kw: dict[str, Any] = {
        "rule": rule, "aggregate": aggregate, "temperature": temperature,
        "scoring": scoring, "csls_k": csls_k,
    }  # fmt: skip
    table = ResultTable()
    if joint:
        clf = ZeroShotClassifier(prompts, **kw)
        table.add(_report(clf, x[te], yy[te], m_te, ci), mode="multimodal", **common)
        return table
    if aligner is not None:
        if aligner.n_features_out_ != prompts.dim or aligner.n_features_in_ != x.shape[1]:
            raise InputError(
                f"the aligner maps {aligner.n_features_in_} -> {aligner.n_features_out_} dims but "
                f"images have {x.shape[1]} and prompts {prompts.dim}: pass the map fitted from "
                "this image encoder into this text encoder's space"
            )
        clf = ZeroShotClassifier(prompts, aligner=aligner, **kw)
        table.add(
            _report(clf, x[te], yy[te], m_te, ci), mode="unimodal", method=aligner.method,
            scaling=aligner.scaling, anchors=aligner.n_anchors_, variant="pre-fitted map",
            **common,
        )  # fmt: skip
        return table
    if texts is None:
        raise InputError(
            "unimodal zero-shot needs paired report embeddings (texts) to fit the map: pass them, "
            "a fitted aligner, or joint=True for a dual encoder"
        )
    t = np.asarray(texts, dtype=np.float64)
    if t.shape[0] != x.shape[0] or t.shape[1] != prompts.dim:
        raise InputError(
            f"texts have shape {t.shape}: expected ({x.shape[0]}, {prompts.dim}), one report "
            "embedding per image from the encoder that embedded the prompts"
        )
    labels = yy if anchor_strategy == "stratified" else None
    for k in anchor_counts:
        for seed in seeds:
            for method, scaling in itertools.product(methods, scalings):
                key: dict[str, Any] = {
                    "mode": "unimodal", "method": method, "scaling": scaling, "anchors": int(k),
                    "seed": int(seed), **common,
                }  # fmt: skip
                why = count_reason(method, scaling, x.shape[1], int(k), int(tr.size), "non-test")
                fitted = anchors = None
                if why is None:
                    anchors = draw_anchors(x, k, anchor_strategy, seed, tr, labels)
                    fitted, why = fit_cell(x, t, anchors, method, scaling, seed)
                if fitted is None or anchors is None:
                    table.add(undefined(("accuracy", "macro_auroc")), note=f"skipped: {why}", **key)
                    continue
                center = t[anchors].mean(axis=0) if center_text else None
                clf = ZeroShotClassifier(prompts, aligner=fitted, center=center, **kw)
                table.add(_report(clf, x[te], yy[te], m_te, ci), **key)
    return table
