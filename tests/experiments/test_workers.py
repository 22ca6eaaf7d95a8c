"""Units computed in worker processes (``[compute] jobs``): the same results as in one process,
every computed unit in the step cache, errors that cross back whole."""

from __future__ import annotations

import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from semalign.errors import FormatError, InputError, RankDeficientError
from semalign.experiments.recipe import parse_compute
from semalign.experiments.workers import MAX_DEFAULT_JOBS, UnitPool, available_cpus, resolve_jobs
from semalign.store.housekeeping import STEPS_DIR


def _fresh_store(store: Path, to: Path) -> Path:
    """A copy of the session store without its step cache: embeddings reused, units not."""
    shutil.copytree(store, to, ignore=shutil.ignore_patterns(STEPS_DIR))
    return to


def test_workers_give_the_results_of_one_process(small_recipe, small_run, store, tmp_path):
    from semalign.experiments import load_recipe, run_recipe

    recipe = load_recipe(small_recipe)
    outs = {}
    for jobs in (1, 2):
        root = _fresh_store(store, tmp_path / f"store{jobs}")
        run = replace(recipe, compute=replace(recipe.compute, jobs=jobs))
        out = tmp_path / f"out{jobs}"
        summary = run_recipe(run, out, store=root, progress=False, report=False)
        assert summary.steps_reused == 0 and summary.steps_computed > 0
        assert summary.embeddings_computed == 0  # only the units differ between the two
        outs[jobs] = (out, root, summary)
    (one, _, s1), (two, root2, s2) = outs[1], outs[2]
    files = sorted(p.name for p in (one / "results").glob("*.csv"))
    assert files and files == sorted(p.name for p in (two / "results").glob("*.csv"))
    for name in files:
        assert (one / "results" / name).read_bytes() == (two / "results" / name).read_bytes(), name
    assert s1.steps_computed == s2.steps_computed
    # every unit a worker computed is in the cache: a re-run computes nothing
    assert len(list((root2 / STEPS_DIR).glob("*.json"))) == s2.steps_computed
    again = run_recipe(
        replace(recipe, compute=replace(recipe.compute, jobs=2)), tmp_path / "again",
        store=root2, progress=False, report=False,
    )  # fmt: skip
    assert again.steps_computed == 0 and again.steps_reused == s2.steps_computed
    for name in files:
        assert (one / "results" / name).read_bytes() == (
            tmp_path / "again" / "results" / name
        ).read_bytes(), name
    import json

    timings = json.loads((two / "results.json").read_text(encoding="utf-8"))["timings"]
    worked = [s for s in timings["steps"] if s.get("worker")]
    assert timings["jobs"] == 2 and len(worked) == s2.steps_computed


def _rank_deficient() -> None:
    raise RankDeficientError("the anchors have rank 3", rank=3, needed=8)


def _bad_file() -> None:
    raise FormatError("chunk.safetensors is damaged")


def _divide() -> float:
    return 1 / 0


def test_errors_in_a_worker_cross_back_whole() -> None:
    pool = UnitPool(2)
    try:
        with pytest.raises(InputError, match="the anchors have rank 3"):
            pool.submit(_rank_deficient).result()
        with pytest.raises(FormatError, match=r"chunk\.safetensors is damaged"):
            pool.submit(_bad_file).result()
        with pytest.raises(ZeroDivisionError):
            pool.submit(_divide).result()
        out, seconds = pool.submit(partial(sum, [1, 2, 3])).result()
        assert out == 6 and seconds >= 0
    finally:
        pool.close()
    assert not pool.started


def test_a_deferred_error_names_its_task() -> None:
    from semalign.experiments.runner import _task_errors

    with pytest.raises(InputError) as err, _task_errors("stitch", "iu"):
        with _task_errors("stitch", "iu"):
            raise InputError("too few anchors")
    assert str(err.value) == "[[stitch]] task 'iu': too few anchors"


def test_jobs_key_and_default() -> None:
    assert parse_compute({"jobs": 3}).jobs == 3
    assert parse_compute({}).jobs is None
    assert resolve_jobs(None) == min(available_cpus(), MAX_DEFAULT_JOBS)
    assert resolve_jobs(1) == 1
    for bad in (0, -2, "2", 1.5, True):
        with pytest.raises(InputError, match="jobs"):
            parse_compute({"jobs": bad})
    with pytest.raises(ValueError):
        UnitPool(1)
