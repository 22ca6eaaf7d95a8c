"""Store entries: content addressing, cache hits, chunk integrity, bad items, reading."""

from __future__ import annotations

import copy
import json
import os
import re

import numpy as np
import pytest

from clitools import TIMEOUT
from semalign.errors import FormatError, InputError
from semalign.store import embed_to_store, find_entry, items_from, open_store, read_manifest
from semalign.store.build import chunk_groups

from .conftest import chunk_files, report_texts, write_manifest


def _items(n: int, start: int = 0):
    texts = report_texts(n + start)[start:]
    return items_from([f"r{i}" for i in range(start, start + n)], texts, "text")


def test_roundtrip_ids_values_and_memmap(minilm, tmp_path):
    items = _items(23)
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=10, batch_size=4)
    n_chunks = len(chunk_groups(items.ids, 10))
    assert (rep.chunks_total, rep.chunks_computed, rep.n_embedded) == (n_chunks, n_chunks, 23)
    ids, x = open_store(rep.path).read()
    assert ids == items.ids and x.dtype == np.float32 and x.shape == (23, 384)
    assert x.flags.c_contiguous
    np.testing.assert_allclose(x, minilm.embed(items.payloads, batch_size=4), atol=1e-6)
    one = embed_to_store(minilm, _items(5), tmp_path, chunk_size=10)
    _, mapped = open_store(one.path).read()
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable


def test_cache_hit_runs_no_model(minilm, tmp_path):
    items = _items(12)
    first = embed_to_store(minilm, items, tmp_path, chunk_size=5)
    stamps = {p: p.stat().st_mtime_ns for p in chunk_files(first.path)}
    frozen = copy.copy(minilm)
    frozen.model = None  # any forward pass would now fail
    again = embed_to_store(frozen, items, tmp_path, chunk_size=5)
    assert again.cache_hit and again.chunks_computed == 0 and again.path == first.path
    assert {p: p.stat().st_mtime_ns for p in chunk_files(first.path)} == stamps
    assert find_entry(tmp_path, minilm, items) == first.path


def test_key_changes_with_content_ids_and_fingerprint(minilm, tmp_path):
    from semalign.encoders import load_encoder

    a = embed_to_store(minilm, _items(4), tmp_path).path
    edited = items_from(["r0", "r1", "r2", "r3"], [*report_texts(3), "Changed text."], "text")
    renamed = items_from(["a", "b", "c", "d"], report_texts(4), "text")
    assert embed_to_store(minilm, edited, tmp_path).path != a
    assert embed_to_store(minilm, renamed, tmp_path).path != a
    cls = load_encoder("minilm", device="cpu", pooling="cls")
    assert cls.fingerprint != minilm.fingerprint
    assert embed_to_store(cls, _items(4), tmp_path).path != a


def test_bad_items_fail_or_are_skipped(minilm, tmp_path):
    texts = report_texts(6)
    texts[2] = "  "
    items = items_from([f"r{i}" for i in range(6)], texts, "text")
    with pytest.raises(InputError, match="'r2' cannot be embedded"):
        embed_to_store(minilm, items, tmp_path / "fail", chunk_size=4)
    rep = embed_to_store(minilm, items, tmp_path / "skip", chunk_size=4, on_error="skip")
    assert rep.skipped == {"r2": "empty text"} and rep.n_embedded == 5
    store = open_store(rep.path)
    assert store.ids == ["r0", "r1", "r3", "r4", "r5"] and store.skipped == {"r2": "empty text"}
    manifest = json.loads((rep.path / "manifest.json").read_text())
    assert manifest["skipped"] == {"r2": "empty text"}


def test_corrupted_and_missing_chunks_are_named(minilm, tmp_path):
    rep = embed_to_store(minilm, _items(9), tmp_path, chunk_size=4)
    files = chunk_files(rep.path)
    victim = files[1]
    data = bytearray(victim.read_bytes())
    data[-7] ^= 0xFF  # flip bits inside the float data: header still parses
    victim.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=re.escape(f"{victim.name}' checksum mismatch")):
        open_store(rep.path)
    files[2].unlink()
    with pytest.raises(FormatError, match=re.escape(f"{files[2].name}' missing")):
        open_store(rep.path)


def test_truncated_chunk_of_unfinished_job_is_recomputed(minilm, tmp_path):
    items = _items(9)
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    _, ref = open_store(rep.path).read()
    victim = chunk_files(rep.path)[0]
    (rep.path / "manifest.json").unlink()  # as if the job had been killed before finishing
    victim.write_bytes(victim.read_bytes()[:-100])
    again = embed_to_store(minilm, items, tmp_path, chunk_size=4)
    assert (again.chunks_computed, again.chunks_reused) == (1, rep.chunks_total - 1)
    assert np.array_equal(open_store(again.path).read()[1], ref)


def test_export_npy_and_rows(minilm, tmp_path):
    rep = embed_to_store(minilm, _items(7), tmp_path, chunk_size=3)
    store = open_store(rep.path)
    ids, x = store.read()
    store.to_npy(tmp_path / "x.npy", tmp_path / "x.ids.txt")
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)
    assert (tmp_path / "x.ids.txt").read_text().split() == ids
    np.testing.assert_array_equal(store.rows(["r5", "r0"]), x[[5, 0]])
    with pytest.raises(InputError, match="not in store"):
        store.rows(["nope"])
    assert open_store(tmp_path).path == rep.path  # a root with one entry opens that entry


def test_wrong_modality_and_manifest_errors(minilm, tmp_path):
    imgs = items_from(["a"], [str(tmp_path / "a.png")], "image")
    with pytest.raises(InputError, match="embeds text but the items are image"):
        embed_to_store(minilm, imgs, tmp_path)
    m = write_manifest(tmp_path / "m.jsonl", report_texts(3))
    assert read_manifest(m).ids == ["r0000", "r0001", "r0002"]
    (tmp_path / "dup.csv").write_text("id,text\na,x\na,y\n")
    with pytest.raises(InputError, match="id 'a' twice, on lines 2 and 3"):
        read_manifest(tmp_path / "dup.csv")
    (tmp_path / "nocol.csv").write_text("id,foo\na,x\n")
    with pytest.raises(InputError, match="neither a text nor an image column"):
        read_manifest(tmp_path / "nocol.csv")


def test_items_from_dataset_records(tmp_path):
    from semalign.data.records import Record
    from semalign.store.items import items_from_records

    recs = [
        Record(id="a", dataset="x", report="Left effusion.", image_paths=(tmp_path / "a.png",)),
        Record(id="b", dataset="x", report=None),
    ]
    text = items_from_records(recs, "text")
    assert text.ids == ["a"] and text.payloads == ["Left effusion."]
    img = items_from_records(recs, "image")
    assert img.modality == "image" and img.payloads == [str(tmp_path / "a.png")]
    with pytest.raises(InputError, match="record 'b' has no text section 'report'"):
        items_from_records(recs, "text", skip_missing=False)


def test_image_manifest_with_an_unreadable_file(tmp_path):
    import glob

    from semalign.data.packaged import kermany_mini_dir, rg1_dicom
    from semalign.encoders import load_encoder

    real = [*sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg")))[:2], str(rg1_dicom())]
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    rows = [f"img{i},{p}" for i, p in enumerate(real)] + ["img3,bad.png"]
    (tmp_path / "m.csv").write_text("id,image_path\n" + "\n".join(rows) + "\n")
    items = read_manifest(tmp_path / "m.csv")
    assert items.modality == "image" and items.payloads[3] == str(tmp_path / "bad.png")
    enc = load_encoder("efficientnet-lite0", device="cpu", num_workers=1)
    rep = embed_to_store(enc, items, tmp_path / "s", chunk_size=2, batch_size=2, on_error="skip")
    assert list(rep.skipped) == ["img3"] and "bad.png" in rep.skipped["img3"]
    ids, x = open_store(rep.path).read()
    assert ids == ["img0", "img1", "img2"] and x.shape == (3, 1280)
    np.testing.assert_allclose(x, enc.embed(real, batch_size=2), atol=1e-5)


def test_chunks_whose_items_are_all_skipped(minilm, tmp_path):
    items = items_from(["a", "b", "c", "d"], ["Effusion.", "", " ", "Edema."], "text")
    rep = embed_to_store(minilm, items, tmp_path, chunk_size=1, on_error="skip")
    ids, x = open_store(rep.path).read()
    assert ids == ["a", "d"] and x.shape == (2, 384) and rep.chunks_total == 4
    assert set(rep.skipped) == {"b", "c"}


class BytesImageEncoder:
    """A stand-in image encoder whose rows are a function of each file's bytes."""

    modality = "image"
    name = "bytes-encoder"
    fingerprint = "bytes-encoder:1"
    dim = 4

    def embed(self, paths, batch_size=32):
        rows = [np.frombuffer(open(p, "rb").read()[:16], dtype="<f4") for p in paths]
        return np.asarray(rows, dtype=np.float32)


def test_image_rewritten_with_the_same_size_and_mtime_is_recomputed(tmp_path):
    rng = np.random.default_rng(0)
    paths = [tmp_path / f"x{i}.png" for i in range(3)]
    for p in paths:
        p.write_bytes(rng.standard_normal(4).astype("<f4").tobytes())
    items = items_from(["a", "b", "c"], [str(p) for p in paths], "image")
    enc = BytesImageEncoder()
    first = embed_to_store(enc, items, tmp_path / "s", chunk_size=1)
    st = paths[1].stat()
    new = rng.standard_normal(4).astype("<f4")
    paths[1].write_bytes(new.tobytes())  # same size
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    again = embed_to_store(enc, items, tmp_path / "s", chunk_size=1)
    assert not again.cache_hit and again.path != first.path and again.chunks_computed == 1
    assert np.array_equal(open_store(again.path).read()[1][1], new)


_COUNT_OPENS = (
    "import atexit, collections, sys\n"
    "opens = collections.Counter()\n"
    "def hook(event, args):\n"
    "    if event == 'open' and isinstance(args[0], str) and args[0].endswith('.png'):\n"
    "        opens[args[0]] += 1\n"
    "sys.addaudithook(hook)\n"
    "atexit.register(lambda: print('opens:', sorted(opens.values()), file=sys.stderr))\n"
    "from semalign.cli import main\n"
    "sys.argv = ['semalign', *sys.argv[1:]]\n"
    "main()\n"
)


def test_each_image_file_is_read_once(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        path = tmp_path / f"x{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(path)
        rows.append(f"x{i},{path.name}")
    manifest = tmp_path / "images.csv"
    manifest.write_text("id,image\n" + "\n".join(rows) + "\n")

    def embed() -> str:
        proc = subprocess.run(
            [sys.executable, "-c", _COUNT_OPENS, "embed", "-e", "efficientnet-lite0", "-i",
             str(manifest), "-o", str(tmp_path / "s"), "--device", "cpu", "--num-workers", "0",
             "-q"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return [ln for ln in proc.stderr.splitlines() if ln.startswith("opens:")][-1]

    assert embed() == "opens: [1, 1, 1, 1]"  # hashed and decoded from the same bytes
    assert embed() == "opens: [1, 1, 1, 1]"  # a cache hit hashes them, decodes nothing
