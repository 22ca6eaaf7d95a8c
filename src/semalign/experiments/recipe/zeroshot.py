"""``[[zeroshot]]``: image -> text zero-shot against class prompts (or a joint baseline), with
supervised comparators under leave-one-out and the ASIF baseline."""

from __future__ import annotations

from typing import Any

from semalign.errors import InputError
from semalign.experiments.recipe.common import Defined, asif, headline, role, scorings
from semalign.experiments.recipe.fields import (
    check_keys,
    choice,
    choices,
    flag,
    integer,
    integers,
    label,
    number,
    ref,
    string,
    strings,
    suggest,
)
from semalign.experiments.recipe.schema import ZeroShotSpec
from semalign.experiments.recipe.vocabulary import (
    AGGREGATES,
    COMPARATORS,
    METHODS,
    PAIRINGS,
    RULES,
    SCALINGS,
    SECTIONS,
    ZEROSHOT_SPLITS,
)
from semalign.tasks.prompts import list_prompt_sets

__all__ = ["parse_zeroshot"]

_ZEROSHOT = (
    "name",
    "images",
    "labels",
    "prompts",
    "rule",
    "aggregate",
    "temperature",
    "image_encoder",
    "text_encoder",
    "joint",
    "anchor_dataset",
    "pairing",
    "reports",
    "match_labels",
    "reports_per_image",
    "section",
    "split",
    "anchors",
    "seeds",
    "methods",
    "scalings",
    "center_text",
    "max_images",
    "comparators",
    "headline",
    "scoring",
    "csls_k",
    "asif",
)


def parse_zeroshot(t: dict[str, Any], i: int, defined: Defined) -> ZeroShotSpec:
    """The ``i``-th ``[[zeroshot]]`` table."""
    where = f"zeroshot[{i}]."
    check_keys(t, _ZEROSHOT, where)
    ds, enc = defined.datasets, defined.encoders
    prompts = string(t, "prompts", where)
    if not prompts.endswith(".toml") and prompts not in list_prompt_sets():
        sets = list(list_prompt_sets())
        raise InputError(
            f"recipe: {where}prompts = {prompts!r} is not a built-in prompt set"
            f"{suggest(prompts, sets)}; use one of {', '.join(sets)} or a path to a .toml file"
        )
    if prompts.endswith(".toml") and defined.base is not None:
        prompts = str((defined.base / prompts).resolve())
    joint = flag(t, "joint", where, False)
    anchor_dataset = t.get("anchor_dataset")
    if anchor_dataset is not None:
        anchor_dataset = ref(str(anchor_dataset), ds, "dataset", f"{where}anchor_dataset")
    pairing = choice(t, "pairing", where, PAIRINGS, "study")
    reports = t.get("reports")
    if reports is not None:
        reports = ref(str(reports), ds, "dataset", f"{where}reports")
    if not joint and anchor_dataset is None:
        raise InputError(
            f"recipe: {where}anchor_dataset is missing: unimodal zero-shot fits its map on anchor "
            "pairs (or set joint = true for a dual encoder)"
        )
    if not joint and pairing == "label-matched" and reports is None:
        raise InputError(f"recipe: {where}reports must name the report dataset to match labels in")
    labels = [label(x, f"{where}labels") for x in strings(t, "labels", where, None)]
    match = t.get("match_labels", labels)
    split = choice(t, "split", where, ZEROSHOT_SPLITS, "none")
    comparators = t.get("comparators", list(COMPARATORS) if split == "loo" else [])
    if comparators:
        comparators = choices({"comparators": comparators}, "comparators", where, COMPARATORS, [])
        if split != "loo" or joint:
            raise InputError(
                f"recipe: {where}comparators are supervised on the evaluated images' own labels "
                'and need split = "loo" (and no joint = true): drop comparators'
            )
    anchors = integers(t, "anchors", where, [500], 1)
    methods = choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = choices(t, "scalings", where, SCALINGS, ["standard"])
    scoring, csls_k = scorings(t, where)
    asif_spec = asif(t, where)
    if asif_spec is not None and joint:
        raise InputError(
            f"recipe: {where}asif compares images and prompts through anchor pairs, which a "
            "joint = true task has none of: drop asif"
        )
    for key, needed in (("image_encoder", "image"), ("text_encoder", "text")):
        alias = ref(string(t, key, where), enc, "encoder", where + key)
        role(enc, alias, needed, f"{where}{key}")
    return ZeroShotSpec(
        name=string(t, "name", where, f"zeroshot-{i}"),
        images=ref(string(t, "images", where), ds, "dataset", f"{where}images"),
        labels=labels,
        prompts=prompts,
        rule=choice(t, "rule", where, RULES, "argmax"),
        aggregate=choice(t, "aggregate", where, AGGREGATES, "mean"),
        temperature=number(t, "temperature", where, 0.01, 0.0, float("inf")),
        image_encoder=ref(
            string(t, "image_encoder", where), enc, "encoder", where + "image_encoder"
        ),
        text_encoder=ref(string(t, "text_encoder", where), enc, "encoder", where + "text_encoder"),
        joint=joint,
        anchor_dataset=anchor_dataset,
        pairing=pairing,
        reports=reports,
        match_labels=[
            label(x, f"{where}match_labels")
            for x in strings({"match_labels": match}, "match_labels", where, None)
        ],
        reports_per_image=integer(t, "reports_per_image", where, 1, 1),
        section=choice(t, "section", where, SECTIONS, "findings+impression"),
        split=split,
        anchors=anchors,
        seeds=integers(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        center_text=flag(t, "center_text", where, True),
        max_images=integer(t, "max_images", where, None, 1),
        comparators=list(comparators),
        headline=None if joint else headline(t, where, methods, scalings, anchors),
        scoring=scoring,
        csls_k=csls_k,
        asif=asif_spec,
    )
