"""View positions: one spelling across datasets, and which views are frontal."""

from __future__ import annotations

import math

FRONTAL_VIEWS: frozenset[str] = frozenset({"PA", "AP", "FRONTAL"})
"""Frontal projections. ``FRONTAL`` is a frontal image whose AP/PA direction is unknown.
Decubitus and axial variants (``AP AXIAL``, ``PA LLD``) are kept as their own views."""

_ALIASES: dict[str, str] = {
    "POSTEROANTERIOR": "PA",
    "POSTERO-ANTERIOR": "PA",
    "ANTEROPOSTERIOR": "AP",
    "ANTERO-POSTERIOR": "AP",
    "L": "LATERAL",
    "LAT": "LATERAL",
    "LATERAL": "LATERAL",
    "LARGE LATERAL": "LATERAL",
    "LEFT LATERAL": "LL",
    "RIGHT LATERAL": "RL",
}


def normalise_view(raw: object) -> str | None:
    """Upper-case, alias-folded view position; None for blank or missing."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    text = " ".join(str(raw).replace("_", " ").upper().split())
    if not text:
        return None
    return _ALIASES.get(text, text)


def is_frontal(view: str | None) -> bool:
    """Whether a normalised view is frontal (PA, AP or FRONTAL)."""
    return view in FRONTAL_VIEWS
