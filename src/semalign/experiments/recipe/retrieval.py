"""``[[retrieval]]``: image -> report (or report -> report) retrieval through fitted maps, with
CSLS scoring, refinement on unpaired pools and the ASIF baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semalign.errors import InputError
from semalign.experiments.recipe.common import (
    Defined,
    asif,
    headline,
    pairs,
    role,
    scorings,
    split_seeds,
)
from semalign.experiments.recipe.fields import (
    check_keys,
    choice,
    choices,
    integer,
    integers,
    number,
    ref,
    string,
    table,
)
from semalign.experiments.recipe.schema import RetrievalSpec, StitchSpec, UnpairedSpec
from semalign.experiments.recipe.vocabulary import (
    DEDUPS,
    GALLERIES,
    METHODS,
    POOLS,
    RETRIEVAL_KINDS,
    RETRIEVAL_SPLITS,
    RETRIEVAL_STRATEGIES,
    SCALINGS,
    SECTIONS,
)

__all__ = ["parse_retrieval"]

_RETRIEVAL = (
    "name",
    "dataset",
    "kind",
    "section",
    "items_from",
    "split",
    "test_fraction",
    "split_seed",
    "split_seeds",
    "max_test",
    "max_train",
    "pairs",
    "anchors",
    "anchor_strategy",
    "seeds",
    "methods",
    "scalings",
    "ks",
    "headline",
    "dedup",
    "scoring",
    "csls_k",
    "unpaired",
    "asif",
    "gallery",
)
_UNPAIRED = ("pool", "iterations", "max_pseudo")


def _unpaired(t: Mapping[str, Any], where: str) -> UnpairedSpec | None:
    """``unpaired = { pool = "train-rest", iterations = 10, max_pseudo = N }`` or None."""
    if "unpaired" not in t:
        return None
    u = table(t["unpaired"], f"{where}unpaired")
    w = f"{where}unpaired."
    check_keys(u, _UNPAIRED, w)
    return UnpairedSpec(
        pool=choice(u, "pool", w, POOLS, "train-rest"),
        iterations=integer(u, "iterations", w, 10, 1),
        max_pseudo=integer(u, "max_pseudo", w, None, 1),
    )


def parse_retrieval(
    t: dict[str, Any], i: int, defined: Defined, stitch: list[StitchSpec]
) -> RetrievalSpec:
    """The ``i``-th ``[[retrieval]]`` table; ``items_from`` may name one of ``stitch``."""
    where = f"retrieval[{i}]."
    check_keys(t, _RETRIEVAL, where)
    kind = choice(t, "kind", where, RETRIEVAL_KINDS, "image-report")
    items_from = t.get("items_from")
    section = choice(t, "section", where, SECTIONS, "findings+impression")
    if items_from is not None:
        tasks = {s.name: s for s in stitch}
        items_from = ref(str(items_from), tasks, "stitch task", f"{where}items_from")
        src = tasks[items_from]
        if src.modality != "text" or kind != "report-report":
            raise InputError(
                f"recipe: {where}items_from reuses the reports of a text stitch task: set kind = "
                f'"report-report" and name a stitch task with modality = "text"'
            )
        for key, value in (("dataset", src.dataset), ("section", src.section)):
            if key in t and t[key] != value:
                raise InputError(
                    f"recipe: {where}{key} = {t[key]!r} differs from stitch task {items_from!r} "
                    f"({value!r}), whose items it reuses: drop {key} or make them equal"
                )
        dataset, section = src.dataset, src.section
    else:
        dataset = ref(string(t, "dataset", where), defined.datasets, "dataset", f"{where}dataset")
    ks = integers(t, "ks", where, [1, 5, 10], 1)
    anchors = integers(t, "anchors", where, [500], 1)
    methods = choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = choices(t, "scalings", where, SCALINGS, ["standard"])
    task_pairs = pairs(t, where, defined.encoders)
    scoring, csls_k = scorings(t, where)
    split = choice(t, "split", where, RETRIEVAL_SPLITS, "official")
    split_seed, several = split_seeds(t, where)
    if several is not None and items_from is not None:
        raise InputError(
            f"recipe: {where}split_seeds cannot be combined with items_from: the task reuses "
            f"stitch task {items_from!r}'s first split, so drop split_seeds"
        )
    if several is not None and split != "random":
        raise InputError(
            f'recipe: {where}split_seeds needs split = "random": the dataset\'s {split} split '
            "is one split, so drop split_seeds or draw random ones"
        )
    roles = ("image", "text") if kind == "image-report" else ("text", "text")
    for pair in task_pairs:
        for alias, needed in zip(pair, roles, strict=True):
            role(defined.encoders, alias, needed, f"{where}pairs (kind = {kind!r})")
    return RetrievalSpec(
        name=string(t, "name", where, f"retrieval-{i}"),
        dataset=dataset,
        kind=kind,
        section=section,
        items_from=items_from,
        split=split,
        test_fraction=number(t, "test_fraction", where, 0.2, 0.0, 1.0),
        split_seed=split_seed,
        max_test=integer(t, "max_test", where, None, 2),
        max_train=integer(t, "max_train", where, None, 1),
        pairs=task_pairs,
        anchors=anchors,
        anchor_strategy=choice(t, "anchor_strategy", where, RETRIEVAL_STRATEGIES, "random"),
        seeds=integers(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        ks=ks,
        headline=headline(t, where, methods, scalings, anchors, scoring),
        dedup=choice(t, "dedup", where, DEDUPS, "text" if kind == "report-report" else "none"),
        scorings=scoring,
        csls_k=csls_k,
        unpaired=_unpaired(t, where),
        asif=asif(t, where),
        gallery=choice(t, "gallery", where, GALLERIES, "test"),
        split_seeds=several,
    )
