"""Store housekeeping on real stores built with the packaged minilm: ls, verify, gc plans.

Oracles are the entries' own manifests (which chunk files each references, their sizes on disk)
and planted usage records; after every gc the remaining entries must read and verify.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from semalign.errors import InputError
from semalign.experiments.cache import StepCache, UnitOutput
from semalign.store import embed_to_store, items_from, open_store
from semalign.store.housekeeping import (
    STEPS_DIR,
    apply_gc,
    listing,
    parse_date,
    plan_gc,
    record_recipe_run,
    record_usage,
    verify,
)

from .conftest import chunk_files, report_texts


def _items(texts: list[str]):
    return items_from([f"r{i:04d}" for i in range(len(texts))], texts, "text")


def _two_entries(minilm, root: Path) -> tuple[Path, Path]:
    """Entry A of 24 reports, and entry B: the same with report 5 edited (shares most chunks)."""
    texts = report_texts(24)
    a = embed_to_store(minilm, _items(texts), root, chunk_size=4).path
    texts[5] = "Edited: moderate cardiomegaly."
    b = embed_to_store(minilm, _items(texts), root, chunk_size=4).path
    return a, b


def _chunks(entry: Path) -> set[Path]:
    return {p.resolve() for p in chunk_files(entry)}


def _resolved(paths) -> set[Path]:
    return {Path(p).resolve() for p in paths}


def _plant_last_used(entry: Path, when: str) -> None:
    usage = {"created": when, "last_used": when, "recipes": [], "commands": ["embed"]}
    (entry / "usage.json").write_text(json.dumps(usage), encoding="utf-8")


def _reads_and_verifies(entry: Path) -> np.ndarray:
    store = open_store(entry, verify=True)
    return np.array(store.read()[1])


def test_ls_counts_match_the_store_built(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    info = listing(tmp_path)
    rows = {r["entry"]: r for r in info["entries"]}
    assert set(rows) == {a.name, b.name}
    for entry in (a, b):
        files = _chunks(entry)
        assert rows[entry.name]["items"] == 24
        assert rows[entry.name]["chunks"] == len(files)
        assert rows[entry.name]["bytes"] == sum(p.stat().st_size for p in files)
        assert (rows[entry.name]["encoder"], rows[entry.name]["modality"]) == ("minilm", "text")
    union = _chunks(a) | _chunks(b)
    assert len(union) < len(_chunks(a)) + len(_chunks(b))  # the test needs shared chunks
    assert info["total"] == {
        "entries": 2,
        "chunks": len(union),
        "bytes": sum(p.stat().st_size for p in union),
    }
    assert info["unreferenced"] == {"chunks": 0, "bytes": 0}
    assert info["steps"] == {"units": 0, "bytes": 0}


def test_unreferenced_chunks_after_an_edit_are_found_and_removed(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    only_a = _chunks(a) - _chunks(b)
    assert only_a
    before = _reads_and_verifies(b)
    shutil.rmtree(a)  # the old entry removed by hand
    plan = plan_gc(tmp_path)
    assert _resolved(plan.chunks) == only_a and not plan.entries
    assert listing(tmp_path)["unreferenced"]["chunks"] == len(only_a)
    res = apply_gc(plan)
    assert _resolved(res.deleted) == only_a
    assert not any(p.exists() for p in only_a)
    assert np.array_equal(_reads_and_verifies(b), before)
    assert not verify(tmp_path).problems
    assert not plan_gc(tmp_path).files()


def test_unused_since_removes_old_entries_and_only_their_chunks(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    before = _reads_and_verifies(b)
    _plant_last_used(a, "2026-01-10T08:00:00Z")
    record_usage(b, "embed")  # used now
    plan = plan_gc(tmp_path, unused_since=parse_date("2026-02-01"))
    assert plan.entries == [a]
    assert _resolved(plan.chunks) == _chunks(a) - _chunks(b)
    assert plan_gc(tmp_path, unused_since=parse_date("2026-01-01")).files() == {}
    listed = plan.files()
    assert a / "manifest.json" in listed and len(listed) == 5 + len(plan.chunks)
    res = apply_gc(plan)
    assert not a.exists()
    assert res.deleted == listed
    assert np.array_equal(_reads_and_verifies(b), before)
    assert not verify(tmp_path).problems


def test_unfinished_entry_keeps_its_planned_chunks(minilm, tmp_path):
    """An entry with a plan but no manifest (a job that stopped) keeps every chunk it planned."""
    a, b = _two_entries(minilm, tmp_path)
    (b / "manifest.json").unlink()  # b stopped just before its manifest
    shutil.rmtree(a)
    planned = _resolved(
        b / f for f in json.loads((b / "planned.json").read_text(encoding="utf-8"))["chunks"]
    )
    files = {p.resolve() for p in tmp_path.glob("chunks/*/*.safetensors")}
    assert planned < files
    plan = plan_gc(tmp_path)
    assert _resolved(plan.chunks) == files - planned
    apply_gc(plan)
    again = embed_to_store(minilm, _items(_texts_b()), tmp_path, chunk_size=4)
    assert (again.chunks_computed, again.chunks_reused) == (0, again.chunks_total)


def _texts_b() -> list[str]:
    texts = report_texts(24)
    texts[5] = "Edited: moderate cardiomegaly."
    return texts


def test_unfinished_entry_without_a_chunk_list_keeps_its_space(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    (b / "manifest.json").unlink()
    (b / "planned.json").unlink()
    shutil.rmtree(a)
    plan = plan_gc(tmp_path)
    assert plan.chunks == []
    assert any("unfinished and lists no chunks" in n for n in plan.notices)


def test_locked_entry_is_skipped_with_a_notice(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    _plant_last_used(a, "2026-01-10T08:00:00Z")
    _plant_last_used(b, "2026-01-10T08:00:00Z")
    with (a / ".lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        plan = plan_gc(tmp_path, unused_since=parse_date("2026-02-01"))
        assert plan.entries == [b]
        assert any(str(a) in n and "lock is held" in n for n in plan.notices)
        assert _resolved(plan.chunks) == set()  # a's space is kept: it is being written
        apply_gc(plan)
    assert not b.exists()
    _reads_and_verifies(a)


def test_keep_recipe_keeps_only_what_the_recipe_used(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    steps = StepCache(tmp_path / STEPS_DIR)
    steps.get("stitch", {"n": 1}, UnitOutput)
    used = set(steps.used)
    steps.get("stitch", {"n": 2}, UnitOutput)
    record_recipe_run(tmp_path, "keep-me", [a], used)
    record_recipe_run(tmp_path, "other", [b], steps.used)
    assert json.loads((a / "usage.json").read_text())["recipes"] == ["keep-me"]
    with pytest.raises(InputError, match=r"'nope' was never run in store.*keep-me, other"):
        plan_gc(tmp_path, keep_recipes=["nope"])
    plan = plan_gc(tmp_path, keep_recipes=["keep-me"])
    assert plan.entries == [b]
    assert {p.name for p in plan.units} == {p.name for p in (tmp_path / STEPS_DIR).iterdir()} - used
    assert [p.name for p in plan.records] == ["other.json"]
    assert _resolved(plan.chunks) == _chunks(b) - _chunks(a)
    apply_gc(plan)
    _reads_and_verifies(a)
    assert {p.name for p in (tmp_path / STEPS_DIR).iterdir()} == used
    assert not verify(tmp_path).problems


def test_verify_finds_a_flipped_byte_and_a_missing_chunk(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    assert verify(tmp_path).problems == []
    shared = sorted(_chunks(a) & _chunks(b))
    data = bytearray(shared[0].read_bytes())
    data[-5] ^= 0x01
    shared[0].write_bytes(bytes(data))
    gone = sorted(_chunks(b) - _chunks(a))[0]
    gone.unlink()
    problems = {(p.path.resolve(), p.what.split(" (")[0]) for p in verify(tmp_path).problems}
    assert problems == {(shared[0], "checksum mismatch"), (gone, "missing")}


def test_verify_checks_unreferenced_chunks_and_step_units(minilm, tmp_path):
    a, b = _two_entries(minilm, tmp_path)
    shutil.rmtree(a)
    orphan = sorted(_chunks_on_disk(tmp_path) - _chunks(b))[0]
    orphan.write_bytes(orphan.read_bytes()[:-3])  # truncated
    steps = StepCache(tmp_path / STEPS_DIR)
    steps.get("stitch", {"n": 1}, UnitOutput)
    unit = tmp_path / STEPS_DIR / next(iter(steps.used))

    def check(path: Path) -> None:
        UnitOutput.from_json(json.loads(path.read_text(encoding="utf-8")))

    assert verify(tmp_path, check_unit=check).problems[0].path.resolve() == orphan
    unit.write_text('{"rows": [', encoding="utf-8")
    problems = verify(tmp_path, check_unit=check).problems
    assert [p.path.resolve() for p in problems] == [orphan, unit.resolve()]
    assert "store gc" in problems[0].fix and "semalign run" in problems[1].fix


def _chunks_on_disk(root: Path) -> set[Path]:
    return {p.resolve() for p in root.glob("chunks/*/*.safetensors")}


def test_usage_record_keeps_created_and_adds_recipes(tmp_path):
    entry = tmp_path / "e"
    entry.mkdir()
    (entry / "manifest.json").write_text("{}")
    _plant_last_used(entry, "2001-01-10T08:00:00Z")
    record_usage(entry, "run", "demo")
    usage = json.loads((entry / "usage.json").read_text())
    assert usage["created"] == "2001-01-10T08:00:00Z" and usage["last_used"] > usage["created"]
    assert (usage["recipes"], usage["commands"]) == (["demo"], ["embed", "run"])


def test_first_usage_record_dates_the_entry_by_its_plan(tmp_path):
    # the runner records usage at the end of a run: "created" must be when the entry was started
    entry = tmp_path / "e"
    entry.mkdir()
    (entry / "plan.json").write_text("{}")
    started = 978_307_200  # 2001-01-01T00:00:00Z
    os.utime(entry / "plan.json", (started, started))
    record_usage(entry, "run", "demo")
    usage = json.loads((entry / "usage.json").read_text())
    assert usage["created"] == "2001-01-01T00:00:00Z" and usage["last_used"] > usage["created"]


def test_bad_dates_and_a_missing_store_are_refused(tmp_path):
    with pytest.raises(InputError, match="'2026-13-01' is not a date: write it as YYYY-MM-DD"):
        parse_date("2026-13-01")
    with pytest.raises(InputError, match="in the future"):
        parse_date("2999-01-01")
    with pytest.raises(InputError, match=r"store folder .*nowhere' does not exist"):
        listing(tmp_path / "nowhere")
