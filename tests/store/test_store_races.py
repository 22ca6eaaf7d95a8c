"""Several writers on one store: usage records that keep every name, gc that never deletes a
chunk a running embed has seen, gc --unused-since that leaves no record behind.

Events are ordered by files (a go-file, the embed's pause file), never by sleeping: the
deadlines below only bound how long a broken build may hang the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from clitools import TIMEOUT, run
from semalign.experiments.cache import StepCache, UnitOutput
from semalign.store import embed_to_store, items_from, open_store
from semalign.store.build import PAUSE_AFTER_ENV, chunk_groups
from semalign.store.housekeeping import (
    STEPS_DIR,
    apply_gc,
    parse_date,
    plan_gc,
    record_recipe_run,
    record_usage,
    verify,
)

from .conftest import report_texts

OLD = 978_307_200  # 2001-01-01T00:00:00Z: long before any test runs


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``path`` exists; fails (with the process's output) if the process ends first."""
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ended before {path.name}: {out}\n{err}")
        assert time.monotonic() < deadline, f"no {path.name} after {TIMEOUT} s"
        time.sleep(0.01)


_RECORDER = """
import sys, time
from pathlib import Path
from semalign.store.housekeeping import record_recipe_run, record_usage
entry, go, who, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
for k in range(n):
    record_usage(entry, "run", f"{who}-{k}")
    record_recipe_run(entry.parent, f"recipe-{who}-{k}", [entry.name], [])
"""


def test_concurrent_usage_records_lose_no_name(tmp_path):
    entry = tmp_path / "minilm-0123456789abcdef"
    entry.mkdir()
    (entry / "plan.json").write_text("{}")
    go = tmp_path / "go"
    writers, per = 6, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", _RECORDER, str(entry), str(go), f"w{w}", str(per)])
        for w in range(writers)
    ]
    go.touch()  # every writer starts its read-modify-writes at once
    assert all(p.wait(timeout=TIMEOUT) == 0 for p in procs)
    usage = json.loads((entry / "usage.json").read_text())
    names = {f"w{w}-{k}" for w in range(writers) for k in range(per)}
    expected = names | {f"recipe-{r}" for r in names}  # record_recipe_run records usage too
    assert set(usage["recipes"]) == expected and len(usage["recipes"]) == len(expected)
    assert usage["commands"] == ["run"]
    records = {p.stem for p in (tmp_path / "recipes").glob("*.json")}
    assert records == {f"recipe-{r}" for r in names}
    assert not [p for p in entry.iterdir() if p.name.startswith(".")]  # no lock file left


def test_usage_is_not_recorded_for_an_entry_that_is_gone(tmp_path):
    gone = tmp_path / "minilm-gone"
    record_usage(gone, "embed")
    assert not gone.exists()  # not re-created with a lone usage.json
    empty = tmp_path / "minilm-empty"  # a folder that is no store entry (gc was removing it)
    empty.mkdir()
    record_usage(empty, "embed")
    assert list(empty.iterdir()) == []


def _images(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (36, 28), dtype=np.uint8)).save(folder / f"x{i}.png")
        rows.append(f"x{i},x{i}.png")
    manifest = folder / "images.csv"
    manifest.write_text("id,image\n" + "\n".join(rows) + "\n")
    return manifest


def _embed_images(manifest: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "semalign", "embed", "-e", "efficientnet-lite0", "-i",
            str(manifest), "-o", str(root), "--chunk-size", "2", "--device", "cpu",
            "--num-workers", "0", "-q"]  # fmt: skip


def test_gc_keeps_the_chunks_an_image_embed_wrote_before_planning(tmp_path):
    """An image embed writes chunks while it reads the files, before its entry exists; a gc
    then finds them referenced by nothing, and must still leave them alone."""
    manifest = _images(tmp_path / "img", 5)
    root, flag = tmp_path / "store", tmp_path / "paused"
    env = {**os.environ, PAUSE_AFTER_ENV: f"1:{flag}"}
    proc = subprocess.Popen(_embed_images(manifest, root), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(flag, proc)
        written = sorted(root.glob("chunks/*/*.safetensors"))
        assert len(written) == 1 and not list(root.glob("*/plan.json"))  # the unlocked window
        gc = run("store", "gc", "--store", root, "--yes", "--json")
        assert gc.returncode == 0, gc.stderr
        assert json.loads(gc.stdout)["files"] == []
        assert "an embed is writing into that encoder space" in gc.stderr
        assert sorted(root.glob("chunks/*/*.safetensors")) == written
        flag.unlink()  # let the embed go on
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    total = len(chunk_groups([f"x{i}" for i in range(5)], 2))
    assert f"{total} chunk(s) computed, 0 reused" in out  # nothing computed twice
    assert run("store", "verify", "--store", root).returncode == 0
    fresh = run(*_embed_images(manifest, tmp_path / "fresh")[3:])
    assert fresh.returncode == 0, fresh.stderr
    (entry,) = root.glob("efficientnet*")
    (ref,) = (tmp_path / "fresh").glob("efficientnet*")
    assert np.array_equal(open_store(entry).read()[1], open_store(ref).read()[1])
    after = run("store", "gc", "--store", root, "--yes", "--json")  # nothing is writing now
    assert after.returncode == 0 and json.loads(after.stdout)["files"] == []


def _items(texts: list[str]):
    return items_from([f"r{i:04d}" for i in range(len(texts))], texts, "text")


def _age(path: Path) -> None:
    os.utime(path, (OLD, OLD))


def test_unused_since_removes_records_units_and_fingerprints_nothing_uses(tmp_path):
    root = tmp_path / "store"
    old = embed_to_store("minilm", _items(report_texts(8)), root, chunk_size=4).path
    new = embed_to_store("minilm", _items(report_texts(9)), root, chunk_size=4).path
    (minilm_record,) = (root / "fingerprints").glob("*.json")
    orphan = root / "fingerprints" / ("0" * 32 + ".json")  # a model no entry uses any more
    orphan.write_text(json.dumps({"fingerprint": "removed-model:1"}))
    fresh = root / "fingerprints" / ("1" * 32 + ".json")  # recorded today, entry not yet planned
    fresh.write_text(json.dumps({"fingerprint": "being-embedded:1"}))
    steps = StepCache(root / STEPS_DIR)
    steps.get("stitch", {"n": 1}, UnitOutput)
    old_units = set(steps.used)
    record_recipe_run(root, "old-recipe", [old], old_units)
    steps = StepCache(root / STEPS_DIR)
    steps.get("stitch", {"n": 2}, UnitOutput)
    steps.get("stitch", {"n": 1}, UnitOutput)  # shared with the old recipe
    record_recipe_run(root, "new-recipe", [new], steps.used)
    steps = StepCache(root / STEPS_DIR)
    steps.get("stitch", {"n": 3}, UnitOutput)  # a crashed run: no recipe lists it
    (crashed,) = steps.used
    when = "2001-01-01T00:00:00Z"
    (old / "usage.json").write_text(json.dumps({"created": when, "last_used": when}))
    record = json.loads((root / "recipes" / "old-recipe.json").read_text())
    record.update(first_run=when, last_run=when)
    (root / "recipes" / "old-recipe.json").write_text(json.dumps(record))
    for p in [orphan, minilm_record, *(root / STEPS_DIR).iterdir()]:
        _age(p)

    plan = plan_gc(root, unused_since=parse_date("2002-01-01"))
    assert plan.entries == [old]
    assert plan.fingerprints == [orphan]  # minilm is used by the kept entry; fresh is recent
    assert plan.records == [root / "recipes" / "old-recipe.json"]
    assert {p.name for p in plan.units} == {crashed}  # the shared unit was used by new-recipe
    apply_gc(plan)
    assert not old.exists() and not orphan.exists() and fresh.exists() and minilm_record.exists()
    assert {p.name for p in (root / STEPS_DIR).iterdir()} == steps_used_by(root, "new-recipe")
    assert not verify(root).problems
    assert open_store(new).read()[0] == [f"r{i:04d}" for i in range(9)]


def steps_used_by(root: Path, recipe: str) -> set[str]:
    return set(json.loads((root / "recipes" / f"{recipe}.json").read_text())["units"])


def test_keep_recipe_removes_fingerprints_no_kept_entry_uses(tmp_path):
    root = tmp_path / "store"
    kept = embed_to_store("minilm", _items(report_texts(6)), root, chunk_size=4).path
    record_recipe_run(root, "keep-me", [kept], [])
    orphan = root / "fingerprints" / ("0" * 32 + ".json")
    orphan.write_text(json.dumps({"fingerprint": "removed-model:1"}))
    plan = plan_gc(root, keep_recipes=["keep-me"])
    assert plan.entries == [] and plan.fingerprints == [orphan]
