"""The runner records what each recipe used, so `semalign store gc --keep-recipe` keeps it."""

from __future__ import annotations

import json
from pathlib import Path

from semalign.experiments import load_recipe, run_recipe
from semalign.store.housekeeping import STEPS_DIR, plan_gc, recipe_record


def test_run_records_its_entries_and_units(small_run, small_recipe: Path, store: Path,
                                           tmp_path: Path) -> None:  # fmt: skip
    recipe = load_recipe(small_recipe)
    again = run_recipe(recipe, tmp_path / "out", store=store, progress=False)
    assert again.steps_computed == 0
    record = json.loads(recipe_record(store, recipe.name).read_text(encoding="utf-8"))
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    entries = {Path(e).name for e in results["run"]["entries"].values()}
    assert record["recipe"] == recipe.name and set(record["entries"]) == entries
    units = set(record["units"])
    assert units and units <= {p.name for p in (store / STEPS_DIR).glob("*.json")}
    assert len(units) <= again.steps_reused
    for name in entries:
        usage = json.loads((store / name / "usage.json").read_text(encoding="utf-8"))
        assert recipe.name in usage["recipes"] and "run" in usage["commands"]
    plan = plan_gc(store, keep_recipes=[recipe.name])
    assert not {p.name for p in plan.entries} & entries
    assert not {p.name for p in plan.units} & units
