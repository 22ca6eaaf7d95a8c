"""ASIF (Norelli et al., NeurIPS 2023): compare two modalities through their anchors, no map.

Each item is represented by its similarities to its own modality's anchors (anchor pair i is
``(source_anchors[i], target_anchors[i])``):

    r(x) = sparsify_k(cos(x, source_anchors)) ** p        (source items, (n_anchors,))
    r(y) = sparsify_k(cos(y, target_anchors)) ** p        (target items, (n_anchors,))

``sparsify_k`` keeps the ``k`` largest cosines of the row and sets the rest to 0; negative
cosines among them are clipped to 0 before the power (a real power of a negative number is
undefined). Source and target items are then compared by the cosine of their r vectors: the two
spaces never meet, only their relations to the shared anchors do. Training-free, like T.

``center=True`` subtracts each side's anchor mean from its anchors and items before the cosines:
in encoders whose embeddings share a large common direction (raw cosines between unrelated E5
reports average 0.87) every cosine is near its neighbours, and top-k keeps little information.

:class:`AsifSweep` chooses ``top_k``, ``power`` and ``center`` without test rows: on each draw of
anchors it holds a content-chosen share of them out, fits every setting on the rest, and keeps
the one whose held-out anchor pairs find each other best (mean reciprocal rank, both ways).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.align._arrays import check_paired
from semalign.align.ridgecv import content_folds
from semalign.arrays import as_float64_2d
from semalign.errors import InputError
from semalign.metrics.classification import Estimate
from semalign.metrics.space import retrieval_ranks, unit_rows
from semalign.tasks.results import ResultTable

__all__ = [
    "ASIF", "SELECT", "AsifSweep", "asif_model", "asif_variant", "fold_means", "sweep_rows",
]  # fmt: skip

Float = NDArray[np.float64]

_ROWS = 2048
"""Rows sparsified together (bounds the argpartition temporaries)."""


class ASIF:
    """Relative representations through paired anchors (scikit-learn-style ``fit``).

    Args:
        top_k: anchors kept per item (default 800, capped at the anchor count).
        power: exponent applied to the kept similarities (default 8).
        center: subtract each side's anchor mean before the cosines (default False).

    Fitted attributes: ``source_anchors_`` (k, d_s) and ``target_anchors_`` (k, d_t), unit
    rows (centred first under ``center``); ``params_`` (``top_k`` as used, ``power``,
    ``center``, ``n_anchors``).
    """

    def __init__(self, top_k: int = 800, power: float = 8.0, center: bool = False) -> None:
        self.top_k = top_k
        self.power = power
        self.center = center

    def fit(self, X: Any, Y: Any) -> ASIF:
        """Store the anchor pairs X (k, d_s), Y (k, d_t); returns self."""
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int | np.integer):
            raise InputError(f"top_k is {self.top_k!r}: pass a positive integer")
        if self.top_k < 1:
            raise InputError(f"top_k is {self.top_k}: pass a positive integer")
        if not np.isfinite(self.power) or self.power <= 0:
            raise InputError(f"power is {self.power!r}: pass a positive number")
        x = as_float64_2d(X, "source anchors")
        y = as_float64_2d(Y, "target anchors")
        check_paired(x, y, "source anchors", "target anchors")
        centre = bool(self.center)
        self.source_mean_ = x.mean(axis=0) if centre else np.zeros(x.shape[1])
        self.target_mean_ = y.mean(axis=0) if centre else np.zeros(y.shape[1])
        self.source_anchors_ = unit_rows(x - self.source_mean_)
        self.target_anchors_ = unit_rows(y - self.target_mean_)
        k = min(int(self.top_k), x.shape[0])
        self.params_ = {
            "top_k": k, "power": float(self.power), "center": centre,
            "n_anchors": int(x.shape[0]),
        }  # fmt: skip
        return self

    def _relative(self, items: Any, anchors: Float, mean: Float, name: str) -> Float:
        if not hasattr(self, "params_"):
            from semalign.align.aligner import NotFittedError

            raise NotFittedError("this ASIF is not fitted yet: call fit(X, Y) first")
        z = as_float64_2d(items, name)
        if z.shape[1] != anchors.shape[1]:
            raise InputError(
                f"{name} have {z.shape[1]} columns but the anchors {anchors.shape[1]}: embed "
                "them with the encoder of that side's anchors"
            )
        # One (m, n) product, as one BLAS call (a row-blocked product can differ in the last
        # bit), then the sparsify / clip / power in place, a block of rows at a time: the
        # argpartition indices and temporaries are O(block * n), not four (m, n) arrays.
        out: Float = unit_rows(z - mean if self.params_["center"] else z) @ anchors.T
        k = self.params_["top_k"]
        n = out.shape[1]
        for start in range(0, out.shape[0], _ROWS):
            sims = out[start : start + _ROWS]
            if k < n:
                drop = np.argpartition(sims, n - k, axis=1)[:, : n - k]
                np.put_along_axis(sims, drop, 0.0, axis=1)
                del drop
            np.maximum(sims, 0.0, out=sims)
            sims **= self.power
        return out

    def transform_source(self, X: Any) -> Float:
        """Relative representation (m, n_anchors) of source items X (m, d_s)."""
        return self._relative(X, self.source_anchors_, self.source_mean_, "source items")

    def transform_target(self, Y: Any) -> Float:
        """Relative representation (m, n_anchors) of target items Y (m, d_t)."""
        return self._relative(Y, self.target_anchors_, self.target_mean_, "target items")

    def similarity(self, X: Any, Y: Any) -> Float:
        """(m, p) cosine of source items X (m, d_s) with target items Y (p, d_t), through ASIF."""
        return unit_rows(self.transform_source(X)) @ unit_rows(self.transform_target(Y)).T

    def retrieval_ranks(
        self, X: Any, Y: Any, *, groups: Any = None, scoring: str = "cosine", csls_k: int = 10
    ) -> Float:
        """1-based expected rank (m,) of ``Y[i]`` for query ``X[i]`` (paired rows), as in
        :func:`~semalign.metrics.space.retrieval_ranks` (sparse codes can tie: expected ranks)."""
        return retrieval_ranks(
            self.transform_source(X),
            self.transform_target(Y),
            groups=groups,
            scoring=scoring,
            csls_k=csls_k,
        )


def asif_variant(params: dict[str, Any]) -> str:
    """The ``variant`` text of ASIF rows: its effective settings."""
    text = f"top_k={params['top_k']} power={params['power']:g}"
    return text + (" center" if params.get("center") else "")


def _mrr(ranks: Float) -> float:
    return float(np.mean(1.0 / ranks)) if ranks.size else 0.0


class AsifSweep:
    """ASIF settings chosen on held-out anchors: every (top_k, power, center) of the grid.

    Args:
        top_k, power, center: the values to try (the grid is their product, in this order;
            ties go to the first).
        holdout: share of each draw's anchors held out to score the settings.

    :meth:`select` returns the chosen :class:`ASIF` (unfitted) and one record per setting.
    """

    def __init__(
        self,
        top_k: Sequence[int] = (16, 32, 64, 128),
        power: Sequence[float] = (1.0, 4.0, 8.0),
        center: Sequence[bool] = (False, True),
        holdout: float = 0.25,
    ) -> None:
        if not (top_k and power and center):
            raise InputError("an ASIF sweep needs at least one top_k, power and center value")
        if not 0 < holdout < 1:
            raise InputError(f"holdout is {holdout!r}: pass a share of the anchors in (0, 1)")
        self.grid = [(int(k), float(p), bool(c)) for k in top_k for p in power for c in center]
        self.holdout = holdout

    def select(self, X: Any, Y: Any, seed: int = 0) -> tuple[ASIF, list[dict[str, Any]]]:
        """The setting (unfitted :class:`ASIF`) whose held-out anchor pairs of X (n, d_s),
        Y (n, d_t) rank each other best (mean reciprocal rank, averaged over both ways) when
        fitted on the other anchors, and a record per setting: ``variant``, ``score``,
        ``chosen``, ``held_out``, ``fitted`` (anchor counts). Held-out anchors come from a keyed
        hash of each pair's contents (``seed``), so not from their order."""
        x = as_float64_2d(X, "source anchors")
        y = as_float64_2d(Y, "target anchors")
        check_paired(x, y, "source anchors", "target anchors")
        n = x.shape[0]
        k = max(2, min(n, round(1.0 / self.holdout)))
        held = content_folds(x, y, k, seed) == 0
        if n < 3 or held.all() or not held.any():
            raise InputError(
                f"an ASIF sweep needs at least 3 distinct anchor pairs to hold some out, got {n}: "
                "draw more anchors or give ASIF one setting"
            )
        records: list[dict[str, Any]] = []
        for top_k, power, center in self.grid:
            fitted = ASIF(top_k, power, center).fit(x[~held], y[~held])
            forward = fitted.retrieval_ranks(x[held], y[held])
            back = retrieval_ranks(
                fitted.transform_target(y[held]), fitted.transform_source(x[held])
            )
            records.append({
                "variant": asif_variant({"top_k": top_k, "power": power, "center": center}),
                "score": 0.5 * (_mrr(forward) + _mrr(back)),
                "held_out": int(held.sum()), "fitted": int((~held).sum()), "chosen": False,
            })  # fmt: skip
        # first maximum among ties (equal to rounding, so that row order cannot flip them)
        best = int(np.argmax(np.round([r["score"] for r in records], 12)))
        records[best]["chosen"] = True
        return ASIF(*self.grid[best]), records


def sweep_rows(table: ResultTable, records: Sequence[dict[str, Any]], **key: Any) -> None:
    """Add :meth:`AsifSweep.select`'s records to ``table`` under ``key``: mode ``asif-sweep``,
    metric ``held_out_mrr`` (no CI), ``n`` the held-out pairs, ``variant`` the setting and
    ``note`` ``chosen`` on the one kept (or the record's own ``note``)."""
    base = {**key, "mode": "asif-sweep", "method": "asif"}
    base.pop("n", None)
    for rec in records:
        table.add(
            {"held_out_mrr": Estimate(float(rec["score"]))},
            n=int(rec["held_out"]),
            variant=str(rec["variant"]),
            note=str(rec.get("note", "chosen" if rec["chosen"] else "")),
            **base,
        )


SELECT: tuple[str, ...] = ("held-out-anchors",)
"""How :func:`asif_model` chooses among several settings."""


def asif_model(
    top_k: int | Sequence[int],
    power: float | Sequence[float],
    center: bool | Sequence[bool] = False,
    select: str | None = None,
) -> ASIF | AsifSweep:
    """An :class:`ASIF` of one setting, or with ``select = "held-out-anchors"`` an
    :class:`AsifSweep` over the given values (a single value is a one-value list)."""

    def values(v: Any) -> list[Any]:
        return list(v) if isinstance(v, list | tuple) else [v]

    if select is None:
        if any(isinstance(v, list | tuple) for v in (top_k, power, center)):
            raise InputError(
                "ASIF got several values of top_k, power or center but no way to choose: "
                f"give one value each, or select = {SELECT[0]!r}"
            )
        return ASIF(int(top_k), float(power), bool(center))  # type: ignore[arg-type]
    if select not in SELECT:
        raise InputError(f"unknown ASIF select {select!r}: use {', '.join(SELECT)}")
    return AsifSweep(values(top_k), values(power), values(center))


def fold_means(swept: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One record per setting from :meth:`AsifSweep.select`'s records of several folds: the
    mean score and held-out count, ``note`` how many folds chose it."""
    out = []
    for i, first in enumerate(swept[0]):
        recs = [fold[i] for fold in swept]
        chosen = sum(bool(r["chosen"]) for r in recs)
        out.append({
            "variant": first["variant"],
            "score": float(np.mean([r["score"] for r in recs])),
            "held_out": round(float(np.mean([r["held_out"] for r in recs]))),
            "chosen": chosen > 0,
            "note": f"chosen in {chosen}/{len(recs)} folds" if chosen else "",
        })  # fmt: skip
    return out
