"""``semalign run --reproduce OUT/results.json``: run a published run again, exactly.

The recipe comes from the text, dataset roots and ``[compute]`` settings ``results.json``
recorded; every task's draws (rows, anchors, pools) must equal the ids published in
``OUT/splits/`` (else the run stops, in one line, at the first task and cell that differ); the
new result rows are then compared with the published ones.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from semalign.errors import InputError
from semalign.experiments.published import SPLITS_DIR
from semalign.experiments.recipe import Recipe, parse_compute, parse_recipe
from semalign.experiments.runner import RunSummary, run_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_results(path: str | Path) -> dict[str, Any]:
    """A run's ``results.json``."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "results.json"
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p} cannot be read as a run's results.json ({exc})") from exc
    if not isinstance(payload, dict) or "recipe" not in payload:
        raise InputError(f"{p} is not a run's results.json: pass OUT/results.json of a run")
    return payload


def published_recipe(payload: dict[str, Any]) -> Recipe:
    """The recipe a run recorded: its text, parsed with the recorded roots and compute."""
    rec = payload["recipe"]
    text = rec.get("text")
    if not text:
        raise InputError(
            "results.json holds no recipe text (a recipe built in memory, or an older "
            "semalign): run the recipe file itself with --splits OUT/splits"
        )
    roots = {a: r for a, r in (rec.get("roots") or {}).items() if r}
    path = Path(rec["path"]) if rec.get("path") else None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the recipe text in results.json is not valid TOML ({exc})") from exc
    recipe = parse_recipe(data, roots=roots, path=path)
    compute = {k: v for k, v in (rec.get("compute") or {}).items() if v is not None}
    return replace(recipe, compute=parse_compute(compute)) if compute else recipe


def _key(row: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if not _nan(v)}, sort_keys=True)


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def compare_rows(published: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """One line: whether the new result rows equal the published ones, else how many differ."""
    old, now = sorted(map(_key, published)), sorted(map(_key, new))
    if old == now:
        return f"reproduced: all {len(now)} result rows equal the published ones"
    missing = sorted(set(old) - set(now))
    extra = len(set(now) - set(old))
    first = f" (first published row not reproduced: {missing[0][:300]})" if missing else ""
    return (
        f"{len(missing)} of {len(old)} published result rows differ from this run's "
        f"({extra} new rows){first}"
    )


def reproduce(
    results: str | Path,
    out: str | Path | None = None,
    *,
    store: str | Path | None = None,
    splits: str | Path | None = None,
    progress: bool = True,
    report: bool = True,
) -> RunSummary:
    """Run the recipe recorded in ``results`` (``OUT/results.json``) into ``out`` (default:
    ``OUT-reproduced`` beside ``OUT``), checking every draw against ``OUT/splits`` or, with
    ``splits``, taking the stitch tasks' rows and test split from that folder and checking the
    rest against it. The summary's notices say whether the result rows equal the published."""
    src = Path(results).expanduser().resolve()
    folder = src if src.is_dir() else src.parent
    payload = read_results(src)
    recipe = published_recipe(payload)
    target = (
        Path(out).expanduser().resolve() if out else folder.with_name(folder.name + "-reproduced")
    )
    if target == folder:
        raise InputError(f"--out {target} is the published run itself: pick another folder")
    published = Path(splits).expanduser().resolve() if splits else folder / SPLITS_DIR
    if not published.is_dir():
        raise InputError(f"{published} does not exist: the published run has no splits folder")
    summary = run_recipe(
        recipe, target, store=store, progress=progress, report=report, published=published,
        take=splits is not None,
    )  # fmt: skip
    new = read_results(target)
    summary.notices.append(compare_rows(payload.get("rows", []), new.get("rows", [])))
    return summary
