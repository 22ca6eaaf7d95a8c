"""The Ray executor writes the local executor's store: same entry, format, ids, embeddings."""

from __future__ import annotations

import glob
import json
import subprocess
import sys

import numpy as np
import pytest

from clitools import TIMEOUT
from semalign.distributed.embed import CRASH_ENV, EncoderSpec, RayExecutor, embed_on_ray
from semalign.distributed.runtime import import_ray
from semalign.errors import InputError
from semalign.store import embed_to_store, items_from, open_store, read_store
from semalign.store.build import chunk_groups


def test_ray_store_equals_local_store(ray_local, reports, local_store, tmp_path) -> None:
    with RayExecutor(EncoderSpec("minilm"), workers=2) as ex:
        assert ex.info is not None and (ex.info.name, ex.info.dim) == ("minilm", 384)
        report = embed_to_store(ex.info, reports, tmp_path, chunk_size=16, batch_size=8,
                                executor=ex)  # fmt: skip
        again = embed_to_store(ex.info, reports, tmp_path, chunk_size=16, executor=ex)
    assert again.cache_hit and again.chunks_computed == 0
    assert report.path.name == local_store.name
    n_chunks = len(chunk_groups(reports.ids, 16))
    assert (report.chunks_computed, report.chunks_reused) == (n_chunks, 0)
    plan = lambda p: json.loads((p / "plan.json").read_text())  # noqa: E731
    assert plan(report.path) == plan(local_store)
    m_ray = json.loads((report.path / "manifest.json").read_text())
    m_loc = json.loads((local_store / "manifest.json").read_text())
    for k in ("file", "rows", "bytes"):
        assert [c[k] for c in m_ray["chunks"]] == [c[k] for c in m_loc["chunks"]]
    ids, emb = read_store(report.path)
    ref_ids, ref = read_store(local_store)
    assert ids == ref_ids == reports.ids
    assert emb.dtype == np.float32 and emb.flags.c_contiguous
    np.testing.assert_allclose(emb, ref, atol=1e-5)


def test_killed_worker_is_restarted_and_its_chunk_retried(
    ray_local, reports, minilm_reference, tmp_path, monkeypatch
) -> None:
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"3:{marker}")
    report, _ = embed_on_ray("minilm", reports, tmp_path / "s", chunk_size=16)
    assert marker.exists(), "no worker process died: the fault was not injected"
    assert report.chunks_computed == report.chunks_total == len(chunk_groups(reports.ids, 16))
    store = open_store(report.path, verify=True)
    ids, emb = store.read()
    assert ids == reports.ids
    np.testing.assert_allclose(emb, minilm_reference, atol=1e-5)


def test_packaged_chest_xrays_equal_local(ray_local, tmp_path) -> None:
    from semalign.data.packaged import kermany_mini_dir
    from semalign.encoders import load_encoder

    paths = sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg")))[:6]
    items = items_from([f"img{i}" for i in range(len(paths))], paths, "image")
    local = embed_to_store(load_encoder("efficientnet-lite0", device="cpu", num_workers=0), items,
                           tmp_path / "local", chunk_size=2)  # fmt: skip
    spec = EncoderSpec("efficientnet-lite0", {"device": "cpu", "num_workers": 0})
    report, info = embed_on_ray(spec, items, tmp_path / "ray", chunk_size=2)
    assert info.dim == 1280 and report.path.name == local.path.name
    a, b = read_store(report.path), read_store(local.path)
    assert a[0] == b[0] == items.ids
    np.testing.assert_allclose(a[1], b[1], atol=1e-4, rtol=1e-4)


def test_bad_items_fail_with_the_local_message_or_are_skipped(ray_local, tmp_path) -> None:
    texts = [f"No acute disease, study {i}." for i in range(12)]
    texts[9] = "   "
    items = items_from([f"t{i}" for i in range(12)], texts, "text")
    with RayExecutor(EncoderSpec("minilm"), workers=1) as ex:
        with pytest.raises(InputError, match="item 't9' cannot be embedded"):
            embed_to_store(ex.info, items, tmp_path / "fail", chunk_size=4, executor=ex)
        report = embed_to_store(ex.info, items, tmp_path / "skip", chunk_size=4,
                                on_error="skip", executor=ex)  # fmt: skip
    assert report.skipped == {"t9": "empty text"} and report.n_embedded == 11
    assert read_store(report.path)[0] == [i for i in items.ids if i != "t9"]


def test_more_workers_than_the_cluster_holds_is_a_user_error(ray_local) -> None:
    with pytest.raises(InputError, match="do not fit"):
        RayExecutor(EncoderSpec("minilm"), workers=5).start()
    with pytest.raises(InputError, match="GPU"):
        RayExecutor(EncoderSpec("minilm"), num_gpus_per_worker=1).start()


def test_missing_ray_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"pip install 'semalign\[ray\]'"):
        import_ray()


def test_import_and_help_do_not_import_ray() -> None:
    code = (
        "import sys, semalign, semalign.cli, semalign.distributed, semalign.store; "
        "sys.exit('ray' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=TIMEOUT).returncode == 0


def test_cli_rejects_an_unknown_executor_in_one_line(tmp_path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text\na,No effusion.\n")
    proc = subprocess.run(
        [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
         "-o", str(tmp_path / "s"), "--executor", "spark"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "executor 'spark' is unknown: use 'local' or 'ray'" in proc.stderr
