"""`semalign store ls | verify | gc` in real subprocesses, on stores built with minilm."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from clitools import fails_cleanly, run
from semalign.store import embed_to_store, items_from, open_store
from semalign.store.build import STOP_AFTER_ENV

from .conftest import chunk_files, report_texts, write_manifest


def _items(texts: list[str]):
    return items_from([f"r{i:04d}" for i in range(len(texts))], texts, "text")


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` -> sha256 of its bytes."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _store_with_garbage(minilm, root: Path) -> tuple[Path, Path]:
    """Entries A (old, last used in January) and B (A with one report edited), plus the chunks
    of a removed entry C."""
    texts = report_texts(24)
    c = embed_to_store(minilm, _items([t + " Again." for t in texts]), root, chunk_size=4).path
    shutil.rmtree(c)
    a = embed_to_store(minilm, _items(texts), root, chunk_size=4).path
    texts[3] = "Edited: no focal consolidation."
    b = embed_to_store(minilm, _items(texts), root, chunk_size=4).path
    when = "2026-01-10T08:00:00Z"
    usage = {"created": when, "last_used": when, "recipes": [], "commands": ["embed"]}
    (a / "usage.json").write_text(json.dumps(usage), encoding="utf-8")
    return a, b


def test_verify_passes_then_names_a_flipped_byte(minilm, tmp_path):
    _, b = _store_with_garbage(minilm, tmp_path)
    ok = run("store", "verify", "--store", tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "0 problem(s)" in ok.stdout
    victim = chunk_files(b)[2]
    data = bytearray(victim.read_bytes())
    data[-9] ^= 0x20
    victim.write_bytes(bytes(data))
    bad = run("store", "verify", "--store", tmp_path)
    fails_cleanly(bad, "1 bad file(s)", victim.name)
    line = next(x for x in bad.stdout.splitlines() if x.startswith("bad: "))
    assert str(victim.resolve()) in line and "checksum mismatch" in line
    assert "semalign embed" in line  # the fix


def test_gc_dry_run_lists_exactly_what_yes_deletes(minilm, tmp_path):
    a, b = _store_with_garbage(minilm, tmp_path)
    before_b = np.array(open_store(b).read()[1])
    tree = _tree(tmp_path)
    args = ("store", "gc", "--store", tmp_path, "--unused-since", "2026-02-01", "--unreferenced")
    dry = run(*args, "--json")
    assert dry.returncode == 0, dry.stderr
    listed = {f["path"]: f["bytes"] for f in json.loads(dry.stdout)["files"]}
    assert _tree(tmp_path) == tree  # the dry run changed no file
    assert str(a / "manifest.json") in listed
    text = run(*args)
    assert text.returncode == 0 and _tree(tmp_path) == tree
    assert all(path in text.stdout for path in listed)
    assert f"would delete {len(listed)} file(s)" in text.stdout and "--yes" in text.stdout

    done = run(*args, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    after = _tree(tmp_path)
    removed = set(tree) - set(after)
    assert removed == set(listed)
    assert {f["path"] for f in json.loads(done.stdout)["files"]} == removed
    assert all(after[p] == tree[p] for p in after)  # nothing else touched
    assert not a.exists()
    assert np.array_equal(open_store(b).read()[1], before_b)
    assert run("store", "verify", "--store", tmp_path).returncode == 0
    info = json.loads(run("store", "ls", "--store", tmp_path, "--json").stdout)
    assert [r["entry"] for r in info["entries"]] == [b.name]
    assert info["unreferenced"]["chunks"] == 0


def test_gc_keeps_the_chunks_of_a_stopped_embed(minilm, tmp_path):
    """A killed `semalign embed` (plan, no manifest) keeps the chunks it planned, even those it
    shares with an entry gc removes; its resume then computes only what it had not."""
    root = tmp_path / "store"
    texts = report_texts(40)
    old = embed_to_store(minilm, _items(texts), root, chunk_size=8).path
    texts[7] = "Edited: new small left effusion."
    texts += [f"Appended finding {i}." for i in range(12)]
    manifest = write_manifest(tmp_path / "reports.jsonl", texts)
    cmd = [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
           "-o", str(root), "--chunk-size", "8", "--device", "cpu", "-q"]  # fmt: skip
    stopped = subprocess.run(cmd, env={**os.environ, STOP_AFTER_ENV: "1"}, capture_output=True)
    assert stopped.returncode == 75, stopped.stderr
    shutil.rmtree(old)
    present = {p.name for p in root.glob("chunks/*/*.safetensors")}
    gc = run("store", "gc", "--store", root, "--yes", "--json")
    assert gc.returncode == 0, gc.stderr
    deleted = {Path(f["path"]).name for f in json.loads(gc.stdout)["files"]}
    assert deleted and deleted < present  # some of the old entry's chunks were its alone
    resumed = embed_to_store(minilm, _items(texts), root, chunk_size=8)
    fresh = embed_to_store(minilm, _items(texts), tmp_path / "fresh", chunk_size=8)
    assert resumed.chunks_reused == len(present - deleted)
    assert np.array_equal(open_store(resumed.path).read()[1], open_store(fresh.path).read()[1])


def test_ls_shows_each_entry_and_totals(minilm, tmp_path):
    a, b = _store_with_garbage(minilm, tmp_path)
    out = run("store", "ls", "--store", tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("minilm-")]
    assert sorted(r.split()[0] for r in rows) == sorted([a.name, b.name])
    assert any(a.name in r and "2026-01-10 08:00" in r for r in rows)
    union = {p.resolve() for e in (a, b) for p in chunk_files(e)}
    assert f"total: 2 entries, {len(union)} chunks" in out.stdout
    orphans = {p.resolve() for p in tmp_path.glob("chunks/*/*.safetensors")} - union
    assert f"unreferenced chunks: {len(orphans)}," in out.stdout


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def test_embed_records_its_usage(tmp_path):
    """``created``: when the entry was started (its plan.json, written before any chunk);
    ``last_used``: when the command ended (after its manifest). Both are whole UTC seconds, so
    a command that straddles a second boundary gives two different values: only the order and
    the files' own times are asserted."""
    manifest = write_manifest(tmp_path / "reports.jsonl", report_texts(6))
    args = ("embed", "-e", "minilm", "-i", manifest, "-o", tmp_path / "s", "--device", "cpu", "-q")
    first = run(*args)
    assert first.returncode == 0, first.stderr
    entry = Path(first.stdout.splitlines()[0])
    record = json.loads((entry / "usage.json").read_text())
    assert record["commands"] == ["embed"] and record["recipes"] == []
    assert record["created"] == _utc((entry / "plan.json").stat().st_mtime)
    assert record["last_used"] >= _utc((entry / "manifest.json").stat().st_mtime)
    again = run(*args)
    assert "cache hit" in again.stdout
    usage = json.loads((entry / "usage.json").read_text())
    assert usage["created"] == record["created"] and usage["last_used"] >= record["last_used"]
    assert usage["commands"] == ["embed"]


def test_store_errors_are_one_sentence(minilm, tmp_path):
    embed_to_store(minilm, _items(report_texts(4)), tmp_path, chunk_size=4)
    fails_cleanly(run("store", "ls", "--store", tmp_path / "missing"), "missing", "does not exist")
    fails_cleanly(
        run("store", "gc", "--store", tmp_path, "--unused-since", "01/02/2026"),
        "'01/02/2026' is not a date",
        "YYYY-MM-DD",
    )
    tree = _tree(tmp_path)
    fails_cleanly(
        run("store", "gc", "--store", tmp_path, "--keep-recipe", "demo", "--yes"),
        "recipe 'demo' was never run in store",
    )
    assert _tree(tmp_path) == tree
