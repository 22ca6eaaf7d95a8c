"""``[[stitch]]``: stitching between encoder pairs on one labelled text or image dataset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semalign.errors import InputError
from semalign.experiments.recipe.common import Defined, headline, pairs, role, split_seeds
from semalign.experiments.recipe.fields import (
    check_keys,
    choice,
    choices,
    integer,
    integers,
    label,
    number,
    ref,
    string,
    table,
)
from semalign.experiments.recipe.schema import SPACE_K, StitchSpec
from semalign.experiments.recipe.vocabulary import (
    ANCHOR_STRATEGIES,
    DEDUPS,
    HEADS,
    METHODS,
    MODALITIES,
    SCALINGS,
    SECTIONS,
    STITCH_MODES,
)
from semalign.experiments.recipe.vocabulary import STITCH_HEADLINE_METRICS as HEADLINE_METRICS

__all__ = ["parse_stitch"]

_STITCH = (
    "name",
    "dataset",
    "modality",
    "section",
    "classes",
    "max_per_class",
    "pairs",
    "anchors",
    "anchor_strategy",
    "seeds",
    "methods",
    "scalings",
    "modes",
    "test_fraction",
    "split_seed",
    "split_seeds",
    "head",
    "dedup",
    "headline",
    "space_sizes",
    "space_repeats",
)


def _classes(raw: Any, where: str) -> dict[str, list[str]]:
    t = table(raw, f"{where}classes")
    if len(t) < 2:
        raise InputError(f"recipe: {where}classes needs at least two classes")
    out: dict[str, list[str]] = {}
    for cls, labels in t.items():
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not labels:
            raise InputError(f"recipe: {where}classes.{cls} must be a list of label names")
        out[cls] = [label(x, f"{where}classes.{cls}") for x in labels]
    return out


def _space_sizes(t: Mapping[str, Any], where: str) -> list[int]:
    """``space_sizes``: sample sizes (each > :data:`SPACE_K`) of the raw-space similarity rows;
    empty (the default) for none. Sizes above the task's item count are refused at run time."""
    v = t.get("space_sizes", [])
    if v == []:
        return []
    try:
        return integers(t, "space_sizes", where, [], SPACE_K + 1)
    except InputError:
        raise InputError(
            f"recipe: {where}space_sizes = {v!r} must list integer sample sizes > {SPACE_K} (the "
            f"k-NN metrics use {SPACE_K} neighbours), at most the task's items"
        ) from None


def parse_stitch(t: dict[str, Any], i: int, defined: Defined) -> StitchSpec:
    """The ``i``-th ``[[stitch]]`` table."""
    where = f"stitch[{i}]."
    check_keys(t, _STITCH, where)
    task_pairs = pairs(t, where, defined.encoders)
    choice(t, "head", where, HEADS, "logistic")
    modality = choice(t, "modality", where, MODALITIES, "text")
    dedup = choice(t, "dedup", where, DEDUPS, "text" if modality == "text" else "none")
    if dedup == "text" and modality != "text":
        raise InputError(f'recipe: {where}dedup = "text" needs modality = "text": drop dedup')
    anchors = integers(t, "anchors", where, [100], 1)
    methods = choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = choices(t, "scalings", where, SCALINGS, ["standard"])
    for pair in task_pairs:
        for alias in pair:
            role(defined.encoders, alias, modality, f"{where}pairs (modality = {modality!r})")
    split_seed, several = split_seeds(t, where)
    return StitchSpec(
        name=string(t, "name", where, f"stitch-{i}"),
        dataset=ref(string(t, "dataset", where), defined.datasets, "dataset", f"{where}dataset"),
        modality=modality,
        section=choice(t, "section", where, SECTIONS, "findings+impression"),
        classes=_classes(t.get("classes"), where),
        max_per_class=integer(t, "max_per_class", where, None, 1),
        pairs=task_pairs,
        anchors=anchors,
        anchor_strategy=choice(t, "anchor_strategy", where, ANCHOR_STRATEGIES, "random"),
        seeds=integers(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        modes=choices(t, "modes", where, STITCH_MODES, list(STITCH_MODES)),
        test_fraction=number(t, "test_fraction", where, 0.2, 0.0, 1.0),
        split_seed=split_seed,
        dedup=dedup,
        headline=headline(t, where, methods, scalings, anchors, metrics=HEADLINE_METRICS),
        space_sizes=_space_sizes(t, where),
        space_repeats=integer(t, "space_repeats", where, 10, 2),
        split_seeds=several,
    )
