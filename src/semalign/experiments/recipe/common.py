"""What the task sections share: the datasets and encoders defined so far, encoder pairs and
roles, and the ``headline``, ``scoring`` / ``csls_k`` and ``asif`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semalign.encoders.names import model_modality
from semalign.errors import InputError
from semalign.experiments.recipe.fields import check_keys, choice, choices, integer, ref, table
from semalign.experiments.recipe.schema import AsifSpec, DatasetSpec, EncoderSpec, Headline
from semalign.experiments.recipe.vocabulary import SCORINGS

__all__ = ["Defined", "asif", "headline", "pairs", "role", "scorings"]

_HEADLINE = ("method", "scaling", "anchors")
_ASIF = ("top_k", "power")


@dataclass(frozen=True)
class Defined:
    """The recipe's datasets and encoders, which tasks name, and the folder relative paths
    start from (None for an in-memory recipe)."""

    datasets: dict[str, DatasetSpec]
    encoders: dict[str, EncoderSpec]
    base: Path | None


def headline(
    t: Mapping[str, Any],
    where: str,
    methods: list[str],
    scalings: list[str],
    anchors: list[int],
    scorings: list[str] | None = None,
) -> Headline:
    """``headline = {method, scaling, anchors}`` (+ ``scoring`` where the task has
    ``scorings``): each must be one of the task's own values."""
    raw = t.get("headline")
    first = scorings[0] if scorings else "cosine"
    if raw is None:
        return Headline(methods[0], scalings[0], max(anchors), declared=False, scoring=first)
    h = table(raw, f"{where}headline")
    w = f"{where}headline."
    check_keys(h, _HEADLINE + (("scoring",) if scorings else ()), w)
    anchors_k = integer(h, "anchors", w, max(anchors), 1)
    if anchors_k not in anchors:
        raise InputError(
            f"recipe: {w}anchors = {anchors_k} is not one of {where}anchors ({anchors}): pick one"
        )
    return Headline(
        choice(h, "method", w, methods, methods[0]),
        choice(h, "scaling", w, scalings, scalings[0]),
        anchors_k,
        declared=True,
        scoring=choice(h, "scoring", w, scorings, first) if scorings else first,
    )


def scorings(t: Mapping[str, Any], where: str) -> tuple[list[str], int]:
    """``scoring`` (a list of :data:`semalign.metrics.csls.SCORINGS`, default ``["cosine"]``)
    and ``csls_k`` (neighbours of the CSLS terms, default 10)."""
    return choices(t, "scoring", where, SCORINGS, ["cosine"]), integer(t, "csls_k", where, 10, 1)


def asif(t: Mapping[str, Any], where: str) -> AsifSpec | None:
    """``asif = { top_k = 800, power = 8 }`` (either key may be left out), or None."""
    raw = t.get("asif")
    if raw is None:
        return None
    a = table(raw, f"{where}asif")
    w = f"{where}asif."
    check_keys(a, _ASIF, w)
    power = a.get("power", 8.0)
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 < power < 1e6:
        raise InputError(f"recipe: {w}power = {power!r} must be a positive number below 1e6")
    return AsifSpec(integer(a, "top_k", w, 800, 1), float(power))


def pairs(t: Mapping[str, Any], where: str, encoders: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``pairs = [[source, target], ...]`` of defined encoder aliases."""
    pairs_raw = t.get("pairs")
    if not isinstance(pairs_raw, list) or not pairs_raw:
        raise InputError(f"recipe: {where}pairs must list [source, target] encoder aliases")
    out = []
    for p in pairs_raw:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)):
            raise InputError(f"recipe: {where}pairs entries must be [source, target] aliases")
        a, b = (ref(x, encoders, "encoder", f"{where}pairs") for x in p)
        out.append((a, b))
    return out


def role(encoders: Mapping[str, EncoderSpec], alias: str, needed: str, where: str) -> None:
    """Refuse an encoder whose known modality cannot play a role that needs ``needed``."""
    have = model_modality(encoders[alias].model)
    if have is None or needed in have.split("+"):
        return
    raise InputError(
        f"recipe: {where} uses encoder {alias!r} ({encoders[alias].model}, a {have} encoder) "
        f"where a {needed} encoder is needed: pick a {needed} encoder"
    )
