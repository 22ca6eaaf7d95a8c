"""``[datasets.<alias>]``: a registry dataset, its folder and its options.

A root comes, by priority, from the CLI (``--root alias=PATH``), the environment
(``SEMALIGN_ROOT_<ALIAS>``, upper case, ``-`` as ``_``), the file (relative to the recipe), then
``root_from``, another dataset's root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semalign.data.registry import DATASETS
from semalign.errors import InputError
from semalign.experiments.recipe.fields import check_keys, choice, suggest, table
from semalign.experiments.recipe.schema import DatasetSpec

__all__ = ["parse_datasets"]

_DATASET = ("name", "root", "root_from", "options")


def _env_root(alias: str) -> str | None:
    return os.environ.get("SEMALIGN_ROOT_" + alias.upper().replace("-", "_")) or None


def _root_from(
    raw: Any, roots: Mapping[str, str], base: Path | None, alias: str, source: Any
) -> Any:
    """The root of dataset ``source`` (``datasets.ALIAS.root_from``): one download serving two
    datasets, e.g. CheXpert and the 5x200 set drawn from it."""
    others = [a for a in raw if a != alias]
    if not isinstance(source, str) or source not in others:
        raise InputError(
            f"recipe: datasets.{alias}.root_from = {source!r} must name another dataset of the "
            f"recipe{suggest(str(source), others)}: one of {', '.join(others) or 'none'}"
        )
    t = raw[source] if isinstance(raw[source], dict) else {}
    root = roots.get(source) or _env_root(source) or t.get("root") or None
    if isinstance(root, str) and root == t.get("root") and base is not None:
        root = str((base / Path(root).expanduser()).resolve())
    return root


def parse_datasets(raw: Any, roots: Mapping[str, str], base: Path | None) -> dict[str, DatasetSpec]:
    """The ``[datasets]`` table; ``roots`` (alias -> folder) win over the file's roots."""
    out: dict[str, DatasetSpec] = {}
    for alias, t in table(raw, "datasets").items():
        where = f"datasets.{alias}."
        t = table(t, f"datasets.{alias}")
        check_keys(t, _DATASET, where)
        name = choice(t, "name", where, list(DATASETS), alias if alias in DATASETS else "")
        root = roots.get(alias) or _env_root(alias) or t.get("root") or None
        if root is not None and not isinstance(root, str):
            raise InputError(f"recipe: {where}root must be a path string")
        if root and root == t.get("root") and base is not None:
            root = str((base / Path(root).expanduser()).resolve())
        source = t.get("root_from")
        if root is None and source is not None:
            root = _root_from(raw, roots, base, alias, source)
        if DATASETS[name].needs_root and not root and source is not None:
            raise InputError(
                f"recipe: dataset {alias!r} ({name}) takes the folder of dataset {source!r} "
                f"(root_from), which has none: pass --root {source}=PATH or set "
                f"SEMALIGN_ROOT_{str(source).upper().replace('-', '_')}"
            )
        if DATASETS[name].needs_root and not root:
            raise InputError(
                f"recipe: dataset {alias!r} ({name}) needs its folder: set {where}root, the "
                f"environment variable SEMALIGN_ROOT_{alias.upper().replace('-', '_')}, or pass "
                f"--root {alias}=PATH"
            )
        options = table(t.get("options", {}), f"{where}options")
        allowed = DATASETS[name].options()
        check_keys(options, allowed, f"{where}options.")
        try:
            DATASETS[name].check_options(dict(options), f"{where}options.")
        except InputError as exc:
            raise InputError(f"recipe: {exc}") from None
        out[alias] = DatasetSpec(alias, name, root, dict(options))
    unknown_roots = [a for a in roots if a not in out]
    if unknown_roots:
        a = unknown_roots[0]
        raise InputError(
            f"--root {a}=...: the recipe defines no dataset {a!r}{suggest(a, list(out))}; its "
            f"datasets: {', '.join(out) or 'none'}"
        )
    return out
