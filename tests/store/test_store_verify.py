"""The store is a cache that checks itself: bad or missing chunks and plans are recomputed.

Every read path verifies chunk checksums (`embed`, `run`, `open_store`); a chunk that fails, or
is missing, is recomputed by the next `embed`/`run`, and the result is bit-identical to the one
before the damage. The CLI cases run real subprocesses.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clitools import run
from semalign.errors import FormatError
from semalign.store import embed_to_store, items_from, open_store

from .conftest import chunk_files, report_texts, write_manifest


def _items(n: int):
    return items_from([f"r{i:04d}" for i in range(n)], report_texts(n), "text")


def _flip(path: Path, offset: int = -7) -> None:
    """Flip one byte inside the float data (the header still parses)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_finished_entry_is_recomputed(minilm, tmp_path):
    items = _items(9)
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    _, ref = open_store(rep.path).read()
    ref = np.array(ref)
    victim = chunk_files(rep.path)[1]
    _flip(victim)
    with pytest.raises(FormatError, match=f"{victim.name}' checksum mismatch.*run the same"):
        open_store(rep.path)
    again = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    total = rep.chunks_total
    assert not again.cache_hit and (again.chunks_computed, again.chunks_reused) == (1, total - 1)
    assert list(again.repaired.values()) == ["checksum mismatch"]
    assert [Path(f).name for f in again.repaired] == [victim.name]
    assert np.array_equal(open_store(again.path).read()[1], ref)


def test_flipped_byte_in_an_unfinished_entry_is_recomputed(minilm, tmp_path):
    """Without a manifest, a chunk is checked against the data checksum in its own header."""
    items = _items(9)
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    _, ref = open_store(rep.path).read()
    ref = np.array(ref)
    victim = chunk_files(rep.path)[2]
    (rep.path / "manifest.json").unlink()
    _flip(victim)
    again = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    assert (again.chunks_computed, again.chunks_reused) == (1, rep.chunks_total - 1)
    assert np.array_equal(open_store(again.path).read()[1], ref)


@pytest.mark.parametrize("plan", [b"", b"{not json", b"[]"])
def test_corrupt_or_empty_plan_is_rewritten(minilm, tmp_path, plan):
    items = _items(9)
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    _, ref = open_store(rep.path).read()
    ref = np.array(ref)
    (rep.path / "manifest.json").unlink()
    (rep.path / "plan.json").write_bytes(plan)
    again = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    assert (again.chunks_computed, again.chunks_reused) == (0, rep.chunks_total)
    assert json.loads((rep.path / "plan.json").read_text())["key"] == rep.key
    assert np.array_equal(open_store(again.path).read()[1], ref)


def _embed(manifest: Path, root: Path):
    return run("embed", "-e", "minilm", "-i", manifest, "-o", root, "--chunk-size", "4",
               "--device", "cpu", "--quiet", "--npy", root.parent / "x.npy")  # fmt: skip


def test_embed_cli_recomputes_damaged_missing_and_unplanned(tmp_path):
    manifest = write_manifest(tmp_path / "r.jsonl", report_texts(10))
    root = tmp_path / "store"
    cold = _embed(manifest, root)
    assert cold.returncode == 0, cold.stderr
    entry = Path(cold.stdout.splitlines()[0])
    ref = np.load(tmp_path / "x.npy")
    files = chunk_files(entry)
    total = len(files)

    _flip(files[1])
    flipped = _embed(manifest, root)
    assert flipped.returncode == 0, flipped.stderr
    assert f"{files[1].name} (checksum mismatch)" in flipped.stderr
    assert f"1 chunk(s) computed, {total - 1} reused" in flipped.stdout
    assert np.array_equal(np.load(tmp_path / "x.npy"), ref)

    files[0].unlink()
    deleted = _embed(manifest, root)
    assert deleted.returncode == 0, deleted.stderr
    assert f"{files[0].name} (missing)" in deleted.stderr
    assert np.array_equal(np.load(tmp_path / "x.npy"), ref)

    (entry / "manifest.json").write_text("")  # and an empty plan of an unfinished job
    (entry / "plan.json").write_text("")
    unplanned = _embed(manifest, root)
    assert unplanned.returncode == 0, unplanned.stderr
    assert f"0 chunk(s) computed, {total} reused" in unplanned.stdout
    assert np.array_equal(np.load(tmp_path / "x.npy"), ref)


TINY_RECIPE = """
[experiment]
name = "tiny"
bootstrap = 10

[datasets.iu]
name = "iu-reports"

[encoders.minilm]
model = "minilm"

[encoders.e5]
model = "e5-small"

[[stitch]]
name = "s"
dataset = "iu"
section = "impression"
max_per_class = 30
test_fraction = 0.25
pairs = [["minilm", "e5"]]
anchors = [24]
seeds = [0]
methods = ["orthogonal"]
scalings = ["standard"]
modes = ["aligned"]

[stitch.classes]
normal = ["No Finding"]
effusion = ["Pleural Effusion"]
"""


def test_run_recomputes_a_damaged_or_missing_chunk(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE, encoding="utf-8")
    store = tmp_path / "store"

    def results(name: str) -> tuple[list[dict[str, str]], str]:
        proc = run("run", recipe, "--out", tmp_path / name, "--store", store)
        assert proc.returncode == 0, proc.stderr
        with (tmp_path / name / "results" / "stitch.csv").open(newline="") as fh:
            return list(csv.DictReader(fh)), proc.stdout

    ref, _ = results("cold")
    # the step cache lives in the store: a new --out folder recomputes nothing, loads no model
    warm, out = results("warm")
    assert warm == ref and "steps 0 computed" in out and "models loaded: none" in out
    assert not (tmp_path / "warm" / "cache").exists()

    (entry,) = store.glob("minilm-*")
    (chunk,) = chunk_files(entry)
    for k in range(1, 41):  # the sign/exponent byte of one float in each of the last 40 rows
        _flip(chunk, -4 * 384 * k + 3)
    shutil.rmtree(store / "steps")  # so that the damaged rows would reach the results
    assert results("flipped")[0] == ref
    open_store(entry)  # verified: the chunk was recomputed
    chunk.unlink()
    shutil.rmtree(store / "steps")
    assert results("deleted")[0] == ref
    open_store(entry)
    (entry / "manifest.json").unlink()
    (entry / "plan.json").write_text("{")
    assert results("plan")[0] == ref
    open_store(entry)
