"""A `semalign embed --executor ray` driver SIGKILLed mid-job resumes without redoing chunks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from clitools import TIMEOUT
from semalign.distributed.embed import embed_on_ray
from semalign.store import read_store
from semalign.store.build import PAUSE_AFTER_ENV, chunk_groups

from .conftest import chunk_files


def test_killed_driver_resumes_keeping_finished_chunks(
    ray_local, reports, minilm_reference, tmp_path
) -> None:
    manifest = tmp_path / "reports.jsonl"
    with manifest.open("w", encoding="utf-8") as fh:
        for i, t in zip(reports.ids, reports.payloads, strict=True):
            fh.write(json.dumps({"id": i, "report": t}) + "\n")
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
           "-o", str(out), "--chunk-size", "4", "--batch-size", "4", "--executor", "ray",
           "--workers", "1", "-q"]  # fmt: skip
    # own session: the driver and the Ray it starts form one process group, killed together
    flag = tmp_path / "paused"  # the driver waits there after 3 chunks, whatever the load
    env = {**os.environ, PAUSE_AFTER_ENV: f"3:{flag}"}
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT  # bounds a broken build only
        while time.monotonic() < deadline and proc.poll() is None and not flag.exists():
            time.sleep(0.01)
        assert proc.poll() is None, f"driver ended early: {proc.stdout.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (entry,) = list(out.glob("minilm-*"))
    total = len(chunk_groups(reports.ids, 4))
    assert not (entry / "manifest.json").exists()
    before = chunk_files(entry)
    assert len(before) == 3 < total
    report, _ = embed_on_ray("minilm", reports, out, chunk_size=4, batch_size=4)
    assert report.path == entry and report.chunks_total == total
    assert report.chunks_reused == len(before)
    assert report.chunks_computed == total - len(before)
    after = chunk_files(entry)
    assert all(after[name] == st for name, st in before.items()), "a finished chunk was rewritten"
    ids, emb = read_store(entry)
    assert ids == reports.ids
    np.testing.assert_allclose(emb, minilm_reference, atol=1e-5)
