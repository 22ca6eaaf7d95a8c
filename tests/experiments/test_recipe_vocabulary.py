"""Each recipe vocabulary is its owner's: the same tuple object, the values a recipe accepts and
the order its refusals list them in; the recipe package declares no vocabulary of its own."""

from __future__ import annotations

import ast
import copy
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

import semalign.align as align
import semalign.align.anchors as align_anchors
import semalign.data.pairing as pairing
import semalign.data.records as records
import semalign.encoders.base as encoders_base
import semalign.experiments.recipe as recipe_pkg
import semalign.metrics.csls as csls
import semalign.store.executor as executor
import semalign.tasks.asif as asif
import semalign.tasks.comparators as comparators
import semalign.tasks.retrieval_refined as retrieval_refined
import semalign.tasks.splits as splits
import semalign.tasks.stitching as stitching
import semalign.tasks.zeroshot_folds as zeroshot_folds
from semalign.errors import InputError
from semalign.experiments import recipe_path
from semalign.experiments.recipe import parse_recipe, vocabulary

# semalign.tasks exports a function zeroshot(), which hides the module of that name
zeroshot = import_module("semalign.tasks.zeroshot")
retrieval = import_module("semalign.tasks.retrieval")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: name in semalign.experiments.recipe.vocabulary -> (owner module, name there)
OWNERS: dict[str, tuple[Any, str]] = {
    "METHODS": (align, "METHODS"),
    "SCALINGS": (align, "SCALINGS"),
    "ANCHOR_STRATEGIES": (align_anchors, "ANCHOR_STRATEGIES"),
    "RETRIEVAL_STRATEGIES": (retrieval, "ANCHOR_STRATEGIES"),
    "STITCH_MODES": (stitching, "STITCH_MODES"),
    "HEADS": (stitching, "HEADS"),
    "STITCH_HEADLINE_METRICS": (stitching, "HEADLINE_METRICS"),
    "ASIF_SELECT": (asif, "SELECT"),
    "MODALITIES": (encoders_base, "MODALITIES"),
    "SECTIONS": (records, "SECTIONS"),
    "PAIRINGS": (pairing, "PAIRINGS"),
    "RULES": (zeroshot, "RULES"),
    "AGGREGATES": (zeroshot, "AGGREGATES"),
    "ZEROSHOT_SPLITS": (zeroshot_folds, "SPLITS"),
    "COMPARATORS": (comparators, "COMPARATORS"),
    "SCORINGS": (csls, "SCORINGS"),
    "RETRIEVAL_KINDS": (retrieval, "KINDS"),
    "RETRIEVAL_SPLITS": (splits, "TEST_SPLITS"),
    "DEDUPS": (splits, "DEDUPS"),
    "POOLS": (retrieval_refined, "POOLS"),
    "GALLERIES": (retrieval, "GALLERIES"),
    "EXECUTORS": (executor, "EXECUTORS"),
    "PRECISIONS": (encoders_base, "PRECISIONS"),
    "DEVICES_HELP": (encoders_base, "DEVICES_HELP"),
}

#: (path of the key in the demo recipe, owner's tuple, a list key?)
KEYS: list[tuple[tuple[Any, ...], tuple[str, ...], bool]] = [
    (("stitch", 0, "methods"), align.METHODS, True),
    (("stitch", 0, "scalings"), align.SCALINGS, True),
    (("stitch", 0, "anchor_strategy"), align_anchors.ANCHOR_STRATEGIES, False),
    (("stitch", 0, "modes"), stitching.STITCH_MODES, True),
    (("stitch", 0, "head"), stitching.HEADS, False),
    (("stitch", 0, "modality"), encoders_base.MODALITIES, False),
    (("stitch", 0, "section"), records.SECTIONS, False),
    (("stitch", 0, "dedup"), splits.DEDUPS, False),
    (("zeroshot", 0, "methods"), align.METHODS, True),
    (("zeroshot", 0, "pairing"), pairing.PAIRINGS, False),
    (("zeroshot", 0, "rule"), zeroshot.RULES, False),
    (("zeroshot", 0, "aggregate"), zeroshot.AGGREGATES, False),
    (("zeroshot", 0, "split"), zeroshot_folds.SPLITS, False),
    (("zeroshot", 0, "comparators"), comparators.COMPARATORS, True),
    (("zeroshot", 0, "scoring"), csls.SCORINGS, True),
    (("zeroshot", 0, "section"), records.SECTIONS, False),
    (("retrieval", 0, "kind"), retrieval.KINDS, False),
    (("retrieval", 0, "split"), splits.TEST_SPLITS, False),
    (("retrieval", 0, "anchor_strategy"), retrieval.ANCHOR_STRATEGIES, False),
    (("retrieval", 0, "scoring"), csls.SCORINGS, True),
    (("retrieval", 0, "dedup"), splits.DEDUPS, False),
    (("retrieval", 0, "unpaired", "pool"), retrieval_refined.POOLS, False),
    (("retrieval", 0, "gallery"), retrieval.GALLERIES, False),
    (("compute", "executor"), executor.EXECUTORS, False),
    (("compute", "precision"), encoders_base.PRECISIONS, False),
]


def _demo() -> dict[str, Any]:
    return tomllib.loads(recipe_path("demo").read_text(encoding="utf-8"))


def _where(path: tuple[Any, ...]) -> str:
    """``("stitch", 0, "methods")`` -> ``stitch[0].methods``, as the recipe names a key."""
    return ".".join(str(p) for p in path).replace(".0.", "[0].")


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize("name", sorted(OWNERS))
def test_each_vocabulary_is_the_owners_object(name: str) -> None:
    module, attr = OWNERS[name]
    assert getattr(vocabulary, name) is getattr(module, attr)


def test_every_vocabulary_has_its_owner_listed() -> None:
    names = {n for n in vocabulary.__all__ if n.isupper()}
    assert names == set(OWNERS)


def test_retrieval_strategies_are_aligns_without_stratified() -> None:
    assert retrieval.ANCHOR_STRATEGIES == tuple(
        s for s in align_anchors.ANCHOR_STRATEGIES if s != "stratified"
    )


@pytest.mark.parametrize(("path", "owner", "many"), KEYS, ids=lambda v: str(v))
def test_refusals_list_the_owners_values_in_its_order(
    path: tuple[Any, ...], owner: tuple[str, ...], many: bool
) -> None:
    data = _set(_demo(), path, ["no-such-value"] if many else "no-such-value")
    with pytest.raises(InputError) as err:
        parse_recipe(data, path=recipe_path("demo"))
    message = str(err.value)
    assert f"recipe: {_where(path)} " in message, message
    assert message.endswith(": " + ", ".join(owner)) or message.endswith(
        " of " + ", ".join(owner)
    ), message


@pytest.mark.parametrize(("path", "owner"), [(p, o) for p, o, many in KEYS if many])
def test_list_keys_accept_every_owner_value_in_the_recipes_order(
    path: tuple[Any, ...], owner: tuple[str, ...]
) -> None:
    given = list(reversed(owner))
    parsed = parse_recipe(_set(_demo(), path, given), path=recipe_path("demo"))
    task = getattr(parsed, path[0])[path[1]]
    field = {"scoring": "scorings"}.get(path[2], path[2]) if path[0] == "retrieval" else path[2]
    assert getattr(task, field) == given


def test_devices_are_the_owners() -> None:
    for device in (*encoders_base.DEVICES, "cuda:1"):
        data = _set(_demo(), ("compute", "device"), device)
        assert parse_recipe(data, path=recipe_path("demo")).compute.device == device
    for device in ("tpu", "cuda:x", 3):
        with pytest.raises(InputError, match=encoders_base.DEVICES_HELP):
            parse_recipe(_set(_demo(), ("compute", "device"), device), path=recipe_path("demo"))


def test_the_recipe_package_declares_no_vocabulary() -> None:
    """Module-level tuples or lists of strings in the recipe package are key lists only (their
    names end in the table they list); a vocabulary is imported from its owner."""
    folder = Path(recipe_pkg.__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            value = node.value
            if isinstance(value, ast.Tuple | ast.List) and value.elts:
                if all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
                ):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    found += [f"{path.name}:{t.id}" for t in targets if isinstance(t, ast.Name)]
    keys = {"_TOP", "_EXPERIMENT", "_COMPUTE", "_DATASET", "_ENCODER", "_STITCH", "_ZEROSHOT",
            "_RETRIEVAL", "_UNPAIRED", "_HEADLINE", "_ASIF", "__all__"}  # fmt: skip
    assert [f for f in found if f.split(":")[1] not in keys] == []
    assert {f.split(":")[1] for f in found} >= keys - {"__all__"}
