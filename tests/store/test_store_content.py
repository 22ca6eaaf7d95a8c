"""Content-addressed chunks: an edit recomputes its chunk only, insertions and appends stay local,
reordering reuses everything, and every result equals a fresh run into an empty store bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from semalign.store import embed_to_store, items_from, open_store, read_manifest
from semalign.store.build import STOP_AFTER_ENV, chunk_groups

from .conftest import report_texts, write_manifest

N, CHUNK = 48, 8


def _items(ids: list[str], texts: list[str]):
    return items_from(ids, texts, "text")


def _base() -> tuple[list[str], list[str]]:
    return [f"r{i:04d}" for i in range(N)], report_texts(N)


def _fresh(encoder, items, tmp_path, name: str) -> tuple[list[str], np.ndarray]:
    rep = embed_to_store(encoder, items, tmp_path / name, chunk_size=CHUNK, batch_size=4)
    ids, x = open_store(rep.path).read()
    return ids, np.array(x)


def test_boundaries_are_stable_under_insertion() -> None:
    ids = [f"study-{i:06d}" for i in range(5000)]
    groups = {tuple(ids[p] for p in g) for g in chunk_groups(ids, 64)}
    inserted = [*ids[:2500], "study-002499a", *ids[2500:]]
    after = {tuple(inserted[p] for p in g) for g in chunk_groups(inserted, 64)}
    assert len(after - groups) <= 2 and len(groups - after) == 1 and 50 < len(groups) < 110
    shuffled = list(reversed(ids))
    assert {tuple(shuffled[p] for p in g) for g in chunk_groups(shuffled, 64)} == groups


def test_edit_insert_append_reorder_reuse_chunks(minilm, tmp_path) -> None:
    ids, texts = _base()
    root = tmp_path / "store"
    first = embed_to_store(minilm, _items(ids, texts), root, chunk_size=CHUNK, batch_size=4)
    assert first.chunks_computed == first.chunks_total > 3

    edited = list(texts)
    edited[17] = "Large right pleural effusion with compressive atelectasis."
    rep = embed_to_store(minilm, _items(ids, edited), root, chunk_size=CHUNK, batch_size=4)
    assert (rep.chunks_computed, rep.chunks_reused) == (1, first.chunks_total - 1)
    got = open_store(rep.path).read()
    ref = _fresh(minilm, _items(ids, edited), tmp_path, "fresh-edit")
    assert got[0] == ref[0] == ids and np.array_equal(got[1], ref[1])

    ins_ids = [*ids[:30], "r0029b", *ids[30:]]
    ins_texts = [*texts[:30], "Interval resolution of the effusion.", *texts[30:]]
    rep = embed_to_store(minilm, _items(ins_ids, ins_texts), root, chunk_size=CHUNK,
                         batch_size=4)  # fmt: skip
    # the chunk it lands in is recomputed (and its neighbour when it is split, or was full)
    assert rep.chunks_computed <= 2 and rep.chunks_reused >= first.chunks_total - 2
    got = open_store(rep.path).read()
    ref = _fresh(minilm, _items(ins_ids, ins_texts), tmp_path, "fresh-insert")
    assert got[0] == ref[0] == ins_ids and np.array_equal(got[1], ref[1])

    more_ids = [*ids, *(f"r{i:04d}" for i in range(N, N + 20))]
    more_texts = report_texts(N + 20)
    rep = embed_to_store(minilm, _items(more_ids, more_texts), root, chunk_size=CHUNK,
                         batch_size=4)  # fmt: skip
    assert rep.chunks_reused >= first.chunks_total - 1 and rep.chunks_total > first.chunks_total

    perm = np.random.default_rng(0).permutation(N)
    rep = embed_to_store(minilm, _items([ids[p] for p in perm], [texts[p] for p in perm]), root,
                         chunk_size=CHUNK, batch_size=4)  # fmt: skip
    assert rep.chunks_computed == 0 and rep.chunks_reused == first.chunks_total
    got_ids, got = open_store(rep.path).read()
    _, x = open_store(first.path).read()
    assert got_ids == [ids[p] for p in perm] and np.array_equal(got, np.asarray(x)[perm])


def test_killed_edited_reembed_resumes_bit_identically(minilm, tmp_path) -> None:
    ids, texts = _base()
    root = tmp_path / "store"
    embed_to_store(minilm, _items(ids, texts), root, chunk_size=CHUNK, batch_size=4)
    edited = list(texts)
    for k in (3, 20, 40):  # far apart: three different chunks
        edited[k] = f"Edited finding {k}: new left basilar opacity."
    groups = chunk_groups(ids, CHUNK)
    assert len({next(g for g, m in enumerate(groups) if k in m) for k in (3, 20, 40)}) == 3
    manifest = write_manifest(tmp_path / "edited.jsonl", edited)
    assert read_manifest(manifest).ids == ids
    cmd = [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
           "-o", str(root), "--chunk-size", str(CHUNK), "--batch-size", "4", "--device", "cpu",
           "-q"]  # fmt: skip
    killed = subprocess.run(cmd, env={**os.environ, STOP_AFTER_ENV: "1"}, capture_output=True,
                            text=True)  # fmt: skip
    assert killed.returncode == 75, killed.stderr
    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"2 chunk(s) computed, {len(groups) - 2} reused" in resumed.stdout
    got = open_store(resumed.stdout.splitlines()[0]).read()
    ref = _fresh(minilm, _items(ids, edited), tmp_path, "fresh")
    assert got[0] == ref[0] and np.array_equal(got[1], ref[1])
