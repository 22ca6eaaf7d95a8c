"""Supervised comparators for prompt classification evaluated leave-one-out on the same images
(leave one patient out with ``groups``: all of a patient's images are held out together).

A map fitted on label-matched anchors uses the labels of the other images, so it is a
supervised few-shot method; these comparators use the same labels directly, fold by fold, in
the image space itself (no text encoder, no prompts, no map):

  nearest-centroid  cosine to the class centroids of the other images' unit embeddings
  linear-probe      a logistic-regression head (:class:`~semalign.tasks.heads.LogisticHead`)
                    fitted on the other images

Both return decision values that keep their order (no saturated probabilities): for the
``argmax`` rule (n, C) scores whose argmax is the prediction (cosines; log-probabilities for the
probe); for ``pos-neg`` (n, L) scores that are positive where the label is predicted
(cosine to the positive centroid minus cosine to the negative one; the probe's logit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError
from semalign.metrics.space import unit_rows
from semalign.tasks.heads import LogisticHead
from semalign.tasks.splits import group_folds
from semalign.tasks.zeroshot import class_indices, log_softmax

__all__ = ["COMPARATORS", "linear_probe_loo", "log_softmax", "nearest_centroid_loo"]

Float = NDArray[np.float64]
COMPARATORS = ("nearest-centroid", "linear-probe")


def _binary(y: Any, mask: Any) -> tuple[Float, NDArray[np.bool_]]:
    t = np.asarray(y, dtype=np.float64)
    if t.ndim != 2:
        raise InputError(f"labels have shape {t.shape}: the pos-neg rule needs (n, L) 0/1 labels")
    m = np.ones(t.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    return t, m & ~np.isnan(t)


def _check(x: Any, n: int) -> Float:
    xx = np.asarray(x, dtype=np.float64)
    if xx.ndim != 2 or xx.shape[0] != n:
        raise InputError(f"images have shape {xx.shape} for {n} labels: pass (n, d) embeddings")
    if n < 3:
        raise InputError(f"{n} images: leave-one-out comparators need at least 3")
    return xx


def _too_few(what: str, i: int) -> InputError:
    return InputError(
        f"leave-one-out fold {i}: {what} has no other image: every class (and, for pos-neg, "
        "both values of every label) needs images of at least two patients"
    )


def _others(fold: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
    out = np.ones(n, dtype=bool)
    out[fold] = False
    return out


def _centroid_cos(xu: Float, fold: NDArray[np.int64], rows: NDArray[np.bool_]) -> Float:
    out: Float = xu[fold] @ unit_rows(xu[rows].mean(axis=0, keepdims=True))[0]
    return out


def nearest_centroid_loo(
    x: Any, y: Any, *, rule: str, classes: list[str], mask: Any = None, groups: Any = None
) -> Float:
    """Leave-one-out nearest-centroid scores of images ``x`` (n, d); see the module docstring.

    ``y``: (n,) class names (rule argmax) or (n, L) 0/1 labels with ``mask`` (rule pos-neg).
    ``groups`` (n,): patient keys; each fold holds out one patient's images (default: one
    image).
    """
    if rule == "argmax":
        idx = class_indices(y, classes)
        xu = unit_rows(_check(x, idx.size))
        out = np.empty((idx.size, len(classes)))
        for i, fold in enumerate(group_folds(groups, idx.size)):
            others = _others(fold, idx.size)
            for c in range(len(classes)):
                rows = others & (idx == c)
                if not rows.any():
                    raise _too_few(f"class {classes[c]!r}", i)
                out[fold, c] = _centroid_cos(xu, fold, rows)
        return out
    t, m = _binary(y, mask)
    xu = unit_rows(_check(x, t.shape[0]))
    out = np.zeros(t.shape)
    for i, fold in enumerate(group_folds(groups, t.shape[0])):
        others = _others(fold, t.shape[0])
        for j in range(t.shape[1]):
            cos = []
            for value in (1.0, 0.0):
                rows = others & m[:, j] & (t[:, j] == value)
                if not rows.any():
                    raise _too_few(f"label {classes[j]!r} = {int(value)}", i)
                cos.append(_centroid_cos(xu, fold, rows))
            out[fold, j] = cos[0] - cos[1]
    return out


def linear_probe_loo(
    x: Any,
    y: Any,
    *,
    rule: str,
    classes: list[str],
    mask: Any = None,
    C: float = 1.0,
    groups: Any = None,
) -> Float:
    """Leave-one-out logistic-regression scores of images ``x`` (n, d); see the module docstring.

    ``C``: inverse L2 strength of :class:`~semalign.tasks.heads.LogisticHead` (standardised
    features). ``y`` and ``groups`` as for :func:`nearest_centroid_loo`.
    """
    if rule == "argmax":
        idx = class_indices(y, classes)
        xx = _check(x, idx.size)
        out = np.empty((idx.size, len(classes)))
        for i, fold in enumerate(group_folds(groups, idx.size)):
            others = _others(fold, idx.size)
            missing = set(range(len(classes))) - set(idx[others].tolist())
            if missing:
                raise _too_few(f"class {classes[min(missing)]!r}", i)
            head = LogisticHead(C).fit(xx[others], idx[others])
            out[fold] = log_softmax(head.decision_function(xx[fold]))
        return out
    t, m = _binary(y, mask)
    xx = _check(x, t.shape[0])
    out = np.zeros(t.shape)
    for i, fold in enumerate(group_folds(groups, t.shape[0])):
        others = _others(fold, t.shape[0])
        for j in range(t.shape[1]):
            tj, mj = t[others, j], m[others, j]
            for value in (1.0, 0.0):
                if not (mj & (tj == value)).any():
                    raise _too_few(f"label {classes[j]!r} = {int(value)}", i)
        head = LogisticHead(C).fit(xx[others], t[others], mask=m[others])
        out[fold] = head.decision_function(xx[fold])
    return out
