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
from semalign.experiments.recipe.vocabulary import ASIF_SELECT, SCORINGS

__all__ = ["Defined", "asif", "headline", "pairs", "role", "scorings", "split_seeds"]

_HEADLINE = ("method", "scaling", "anchors")
_ASIF = ("top_k", "power", "center", "select")


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
    metrics: tuple[str, ...] | None = None,
) -> Headline:
    """``headline = {method, scaling, anchors}`` (+ ``scoring`` where the task has
    ``scorings``, + ``metric`` where it has ``metrics``, the metric its summary leads with;
    unset, the task's default): each must be one of the task's own values."""
    raw = t.get("headline")
    first = scorings[0] if scorings else "cosine"
    if raw is None:
        return Headline(methods[0], scalings[0], max(anchors), declared=False, scoring=first)
    h = table(raw, f"{where}headline")
    w = f"{where}headline."
    extra = (("scoring",) if scorings else ()) + (("metric",) if metrics else ())
    check_keys(h, _HEADLINE + extra, w)
    anchors_k = integer(h, "anchors", w, max(anchors), 1)
    if anchors_k not in anchors:
        raise InputError(
            f"recipe: {w}anchors = {anchors_k} is not one of {where}anchors ({anchors}): pick one"
        )
    metric = None
    if metrics and "metric" in h:
        metric = choice(h, "metric", w, list(metrics), metrics[0])
    return Headline(
        choice(h, "method", w, methods, methods[0]),
        choice(h, "scaling", w, scalings, scalings[0]),
        anchors_k,
        declared=True,
        scoring=choice(h, "scoring", w, scorings, first) if scorings else first,
        metric=metric,
    )


def scorings(t: Mapping[str, Any], where: str) -> tuple[list[str], int]:
    """``scoring`` (a list of :data:`semalign.metrics.csls.SCORINGS`, default ``["cosine"]``)
    and ``csls_k`` (neighbours of the CSLS terms, default 10)."""
    return choices(t, "scoring", where, SCORINGS, ["cosine"]), integer(t, "csls_k", where, 10, 1)


def asif(t: Mapping[str, Any], where: str) -> AsifSpec | None:
    """``asif = { top_k = 800, power = 8, center = false }`` (each key may be left out), or
    None; with ``select = "held-out-anchors"`` each may be a list of values, chosen among on
    held-out anchors of every draw."""
    raw = t.get("asif")
    if raw is None:
        return None
    a = table(raw, f"{where}asif")
    w = f"{where}asif."
    check_keys(a, _ASIF, w)
    select = choice(a, "select", w, ASIF_SELECT, ASIF_SELECT[0]) if "select" in a else None
    values = {}
    for key, default in (("top_k", 800), ("power", 8.0), ("center", False)):
        v = a.get(key, default)
        listed = isinstance(v, list)
        if listed and select is None:
            raise InputError(
                f"recipe: {w}{key} lists several values but asif has no select: give one "
                f"value, or add select = {ASIF_SELECT[0]!r} to choose on held-out anchors"
            )
        items = v if listed else [v]
        if not items:
            raise InputError(f"recipe: {w}{key} must list at least one value")
        values[key] = [_asif_value(key, x, w) for x in items]
    if select is None:
        return AsifSpec(values["top_k"][0], values["power"][0], values["center"][0])
    return AsifSpec(tuple(values["top_k"]), tuple(values["power"]), tuple(values["center"]), select)


def _asif_value(key: str, v: Any, where: str) -> Any:
    """One ASIF setting: top_k an integer >= 1, power a positive number below 1e6, center
    true or false."""
    if key == "top_k":
        return integer({key: v}, key, where, None, 1)
    if key == "center":
        if not isinstance(v, bool):
            raise InputError(f"recipe: {where}center must be true or false (or a list of them)")
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e6:
        raise InputError(f"recipe: {where}power = {v!r} must be a positive number below 1e6")
    return float(v)


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


def split_seeds(t: Mapping[str, Any], where: str) -> tuple[int, list[int] | None]:
    """``split_seed`` (one test split, default 0) or ``split_seeds`` (one test split per seed,
    in the recipe's order: the first is the headline split and the task's ``split_seed``);
    returns (split_seed, split_seeds or None)."""
    if "split_seeds" not in t:
        return integer(t, "split_seed", where, 0), None
    if "split_seed" in t:
        raise InputError(
            f"recipe: {where}split_seed and {where}split_seeds are both given: keep one "
            "(split_seeds lists every test split's seed, the first is the headline split)"
        )
    v = t["split_seeds"]
    if isinstance(v, list) and not v:
        raise InputError(
            f"recipe: {where}split_seeds is empty: list at least one seed (one test split each)"
        )
    if not isinstance(v, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v
    ):
        raise InputError(
            f"recipe: {where}split_seeds = {v!r} must be a list of integers >= 0 (one test "
            "split per seed)"
        )
    twice = next((x for i, x in enumerate(v) if x in v[:i]), None)
    if twice is not None:
        raise InputError(
            f"recipe: {where}split_seeds lists seed {twice} twice: each seed draws one test "
            "split, so list each once"
        )
    return int(v[0]), [int(x) for x in v]
