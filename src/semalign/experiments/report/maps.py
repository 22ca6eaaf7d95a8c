"""What each map of a task is, and why a map is n/a where the anchors' rank (not their count)
refuses it: sentences read off the task's methods, scalings and its rows' notes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["rank_na", "what_maps_are"]

_MAPS = {
    "orthogonal": (
        "`orthogonal` is Procrustes, a rotation of the preprocessed space; with k anchors "
        "below the d source dimensions it is a partial isometry of rank k - 1 under a centring "
        "scaling (k otherwise): it rotates the span of the anchors and sends every other "
        "direction to zero"
    ),
    "similarity": "`similarity` is Procrustes with one global scale (the same partial isometry "
    "below d anchors)",
    "linear": "`linear` is least squares without a bias (refused unless the anchors' numerical "
    "rank is d)",
    "affine": (
        "`affine` is least squares with a bias, a general affine map; it needs the centred "
        "anchors to have numerical rank d, so it is refused below d + 1 anchors and wherever "
        "the anchors' rank stays below d"
    ),
    "ridge": "`ridge` is affine least squares with a fixed L2 penalty",
    "ridge-cv": (
        "`ridge-cv` is affine least squares with an L2 penalty chosen by 5-fold "
        "cross-validation on the anchors alone (held-out anchor error over a log grid); it is "
        "determined at any anchor count and rank, which makes it the affine map to use where "
        "`affine` is refused"
    ),
    "lstsq-orthogonal": "`lstsq-orthogonal` is least squares projected onto the nearest "
    "orthogonal map",
    "sgd-affine": "`sgd-affine` is the affine least-squares map fitted by gradient descent",
}

_SCALINGS = {
    "standard": (
        "under scaling `standard` each side is centred and divided by its per-dimension "
        "standard deviation before the map and restored after it, so in the encoders' own "
        "units T is a general affine map even when the map itself is a rotation"
    ),
    "center": "under scaling `center` each side is centred first, so T has a bias",
    "std": "under scaling `std` each dimension is divided by its standard deviation first",
    "l2": "under scaling `l2` rows are normalised to unit length first",
    "center-l2": "under scaling `center-l2` rows are centred and normalised first",
}


def what_maps_are(
    methods: Iterable[str], scalings: Iterable[str], described: set[str] | None = None
) -> str:
    """One paragraph: each method and scaling of a task, as a map. Those in ``described``
    (names said earlier in the same document; the set is updated) are pointed back to."""
    said = set() if described is None else described
    names = [m for m in dict.fromkeys(methods) if m in _MAPS]
    names += [s for s in dict.fromkeys(scalings) if s in _SCALINGS]
    new = [n for n in names if n not in said]
    said.update(names)
    parts = [_MAPS.get(n) or _SCALINGS[n] for n in new]
    if not names:
        return ""
    if not parts:
        return "What each map is: as described above."
    text = "; ".join(parts)
    before = " (the others as described above)" if len(new) < len(names) else ""
    return f"What each map is{before}: {text}."


_RANK = re.compile(r"anchors' rank (\d+) < (\d+) needed")


def _span(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def rank_na(rows: Iterable[dict[str, Any]]) -> list[str]:
    """One sentence per method refused for its anchors' rank (notes ``anchors' rank r < d
    needed``): at which anchor counts, the ranks measured, and what that means."""
    hits: dict[str, list[tuple[int, int, int]]] = {}
    for r in rows:
        m = _RANK.search(str(r.get("note") or ""))
        if m and r.get("method"):
            hits.setdefault(str(r["method"]), []).append(
                (int(float(r["anchors"])), int(m[1]), int(m[2]))
            )
    out = []
    for method, found in hits.items():
        counts = sorted({a for a, _, _ in found})
        ranks = [k for _, k, _ in found]
        need = found[0][2]
        out.append(
            f"`{method}` is n/a at {', '.join(map(str, counts))} anchors not for want of "
            f"anchors but because their numerical rank ({_span(ranks)}) is below the {need} "
            "source dimensions: some dimensions are near-constant across items, or a centred "
            "singular value is below d x float32 epsilon of the largest, and more anchors do "
            "not change that. `ridge-cv` fits the affine map there."
        )
    return out
