"""`semalign run` with ``executor = "ray"``: the same results as the local executor, a finished
store read without Ray work, and compute settings validated before any work."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from semalign.errors import InputError
from semalign.experiments import parse_recipe, run_recipe
from semalign.experiments.recipe import Compute, parse_compute

RECIPE = {
    "experiment": {"name": "ray-check", "bootstrap": 20},
    "datasets": {"iu": {"name": "iu-reports"}},
    "encoders": {"minilm": {"model": "minilm"}, "e5": {"model": "e5-small"}},
    "stitch": [
        {
            "name": "iu-stitch",
            "dataset": "iu",
            "section": "impression",
            "max_per_class": 40,
            "classes": {"normal": ["No Finding"], "cardiomegaly": ["Cardiomegaly"]},
            "pairs": [["minilm", "e5"]],
            "anchors": [16, 32],
            "seeds": [0],
            "methods": ["orthogonal"],
            "scalings": ["standard"],
        }
    ],
}


def _csv(out: Path, name: str) -> str:
    return (out / "results" / f"{name}.csv").read_text(encoding="utf-8")


def test_ray_executor_gives_the_local_results(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = parse_recipe(RECIPE)
    local = run_recipe(recipe, tmp_path / "local", store=tmp_path / "s1", progress=False,
                       report=False)  # fmt: skip
    on_ray = replace(recipe, compute=Compute(executor="ray", workers=1))
    first = run_recipe(on_ray, tmp_path / "ray", store=tmp_path / "s2", progress=False,
                       report=False)  # fmt: skip
    assert local.embeddings_computed == first.embeddings_computed == 2
    assert _csv(tmp_path / "ray", "stitch") == _csv(tmp_path / "local", "stitch")
    # a finished store: read back with no Ray work and no model loaded
    again = run_recipe(on_ray, tmp_path / "ray2", store=tmp_path / "s2", progress=False,
                       report=False)  # fmt: skip
    assert (again.embeddings_computed, again.models_loaded) == (0, [])
    assert _csv(tmp_path / "ray2", "stitch") == _csv(tmp_path / "local", "stitch")


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"executor": "cluster"}, "compute.executor = 'cluster' is not allowed"),
        ({"address": "auto"}, 'apply to executor = "ray"'),
        ({"device": "gpu"}, "compute.device = 'gpu' must be one of auto, cpu, cuda"),
        ({"executor": "ray", "num_cpus_per_worker": 0}, "num_cpus_per_worker = 0 must be"),
        ({"batch_size": 0}, "compute.batch_size must be an integer >= 1"),
        ({"workers": 2}, "apply to executor"),
    ],
)
def test_compute_table_errors_name_the_key(table: dict, needle: str) -> None:
    with pytest.raises(InputError) as err:
        parse_compute(table)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_compute_defaults_reach_every_encoder_under_its_own_options() -> None:
    data = {**RECIPE, "compute": {"device": "cpu", "batch_size": 8, "precision": "float32"}}
    data["encoders"] = {"minilm": {"model": "minilm", "options": {"device": "cuda"},
                                   "batch_size": 4}, "e5": {"model": "e5-small"}}  # fmt: skip
    recipe = parse_recipe(data)
    from semalign.experiments.embedding import Embedder

    emb = Embedder(Path("."), recipe.encoders, compute=recipe.compute)
    assert emb.options("minilm") == {"device": "cuda", "precision": "float32"}
    assert emb.options("e5") == {"device": "cpu", "precision": "float32"}
    assert (emb.batch_size("minilm"), emb.batch_size("e5")) == (4, 8)
