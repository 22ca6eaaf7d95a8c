"""Recipes: a TOML file describing an experiment, parsed and validated before any work starts.

A recipe has five kinds of tables (see ``recipes/demo.toml`` for a commented example)::

    [experiment]        name, title, bootstrap resamples, permutations (of the anchor pairing,
                        for the shuffled-anchors controls), seed, store folder, notes
    [compute]           how embeddings are computed: device, precision, batch_size,
                        num_workers, executor (local | ray) with address, workers,
                        num_gpus_per_worker, num_cpus_per_worker (CLI flags override them)
    [datasets.<alias>]  name (a registry dataset), root, options
    [encoders.<alias>]  model (a registry name, hub id or folder), options, batch_size
    [[stitch]]          stitching between encoder pairs on one labelled text or image dataset;
                        ``space_sizes`` (+ ``space_repeats``) adds the raw spaces' similarity
                        at several sample sizes
    [[zeroshot]]        image -> text zero-shot against class prompts (or a joint baseline);
                        ``scoring = ["cosine", "csls"]`` (+ ``csls_k``) and the ASIF baseline
                        (``asif = { top_k, power }``)
    [[retrieval]]       image -> report (or report -> report) retrieval through fitted maps

Retrieval keys beyond the paper: ``scoring = ["cosine", "csls"]`` ranks by each scoring
(default ``["cosine"]``; CSLS discounts hubs with ``csls_k = 10`` neighbours);
``unpaired = { pool = "train-rest", iterations = 10, max_pseudo = 500 }`` adds rows of T refined
by self-learning on unpaired pools (per anchor count and seed, the training rows not drawn as
anchors, split by a seeded shuffle into a source-only and a target-only half; never a test row;
``max_pseudo`` defaults to the smaller pool); ``asif = { top_k = 800, power = 8 }`` adds ASIF
rows on the same anchors. ``headline.scoring`` names the scoring the summary reports.

Dataset roots come, by priority, from the CLI (``--root alias=PATH``), the environment
(``SEMALIGN_ROOT_<ALIAS>``, upper case, ``-`` as ``_``), then the file. Every key and value is
checked here; an error names the key, the allowed values and, for a typo, the closest one.

The package: ``schema`` (the dataclasses), ``vocabulary`` (allowed values, imported from the
modules that implement them), ``fields`` (typed key readers and the wording of refusals),
``common`` (what the task sections share) and one parser per table (``compute``, ``datasets``,
``encoders``, ``stitch``, ``zeroshot``, ``retrieval``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semalign.errors import InputError
from semalign.experiments.recipe.common import Defined
from semalign.experiments.recipe.compute import parse_compute
from semalign.experiments.recipe.datasets import parse_datasets
from semalign.experiments.recipe.encoders import parse_encoders
from semalign.experiments.recipe.fields import check_keys, integer, string, table
from semalign.experiments.recipe.retrieval import parse_retrieval
from semalign.experiments.recipe.schema import (
    SPACE_K,
    AsifSpec,
    Compute,
    DatasetSpec,
    EncoderSpec,
    Headline,
    Recipe,
    RetrievalSpec,
    StitchSpec,
    UnpairedSpec,
    ZeroShotSpec,
)
from semalign.experiments.recipe.stitch import parse_stitch
from semalign.experiments.recipe.zeroshot import parse_zeroshot

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "SPACE_K",
    "AsifSpec",
    "Compute",
    "DatasetSpec",
    "EncoderSpec",
    "Headline",
    "Recipe",
    "RetrievalSpec",
    "StitchSpec",
    "UnpairedSpec",
    "ZeroShotSpec",
    "load_recipe",
    "load_toml",
    "parse_compute",
    "parse_recipe",
]

_TOP = ("experiment", "compute", "datasets", "encoders", "stitch", "zeroshot", "retrieval")
_EXPERIMENT = ("name", "title", "notes", "bootstrap", "permutations", "seed", "store")


def parse_recipe(
    data: Mapping[str, Any],
    *,
    roots: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Recipe:
    """Validate parsed TOML ``data``; ``roots`` (alias -> folder) override the file's roots."""
    data = dict(data)
    check_keys(data, _TOP, "")
    exp = table(data.get("experiment", {}), "experiment")
    check_keys(exp, _EXPERIMENT, "experiment.")
    base = path.parent if path is not None else None
    datasets = parse_datasets(data.get("datasets", {}), dict(roots or {}), base)
    defined = Defined(datasets, parse_encoders(data.get("encoders", {})), base)
    stitch_raw = data.get("stitch", [])
    zs_raw = data.get("zeroshot", [])
    ret_raw = data.get("retrieval", [])
    for key, raw in (("stitch", stitch_raw), ("zeroshot", zs_raw), ("retrieval", ret_raw)):
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise InputError(f"recipe: {key} must be an array of tables ([[{key}]])")
    stitch = [parse_stitch(t, i, defined) for i, t in enumerate(stitch_raw)]
    zeroshot = [parse_zeroshot(t, i, defined) for i, t in enumerate(zs_raw)]
    retrieval = [parse_retrieval(t, i, defined, stitch) for i, t in enumerate(ret_raw)]
    if not stitch and not zeroshot and not retrieval:
        raise InputError(
            "recipe: define at least one [[stitch]], [[zeroshot]] or [[retrieval]] task"
        )
    names = [s.name for s in stitch] + [z.name for z in zeroshot] + [r.name for r in retrieval]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError(f"recipe: task name {sorted(dup)[0]!r} is used twice: names must differ")
    store = exp.get("store")
    if store is not None and not isinstance(store, str):
        raise InputError("recipe: experiment.store must be a folder path string")
    if store and base is not None:
        store = str((base / Path(store).expanduser()).resolve())
    return Recipe(
        name=string(exp, "name", "experiment.", path.stem if path else "experiment"),
        title=str(exp.get("title", "")),
        notes=str(exp.get("notes", "")),
        bootstrap=integer(exp, "bootstrap", "experiment.", 1000),
        seed=integer(exp, "seed", "experiment.", 0),
        store=store or None,
        datasets=datasets,
        encoders=defined.encoders,
        stitch=stitch,
        zeroshot=zeroshot,
        retrieval=retrieval,
        path=path,
        compute=parse_compute(data.get("compute", {}), "compute."),
        permutations=integer(exp, "permutations", "experiment.", 100, minimum=1),
    )


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, with syntax errors reported as one line."""
    if not path.is_file():
        raise InputError(f"recipe {path} does not exist: check the path (or run `semalign demo`)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"recipe {path} is not valid TOML ({exc}): fix its syntax") from exc


def load_recipe(path: str | Path, roots: Mapping[str, str] | None = None) -> Recipe:
    """Read and validate the recipe at ``path`` (see the package docstring)."""
    p = Path(path).expanduser().resolve()
    return parse_recipe(load_toml(p), roots=roots, path=p)
