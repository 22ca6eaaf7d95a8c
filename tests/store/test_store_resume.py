"""Kill-and-resume with real subprocesses running `semalign embed` on the packaged minilm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from clitools import TIMEOUT
from semalign.store import embed_to_store, open_store, read_manifest
from semalign.store.build import PAUSE_AFTER_ENV, STOP_AFTER_ENV, chunk_groups

from .conftest import report_texts, write_manifest


def _cmd(manifest: Path, root: Path, chunk: int, batch: int) -> list[str]:
    return [
        sys.executable, "-m", "semalign", "embed", "--encoder", "minilm", "--input",
        str(manifest), "--out", str(root), "--chunk-size", str(chunk), "--batch-size",
        str(batch), "--device", "cpu", "--quiet",
    ]  # fmt: skip


def _chunk_stamps(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("chunks/*/*.safetensors")
    }


def test_stopped_job_resumes_without_recomputing(minilm, tmp_path):
    manifest = write_manifest(tmp_path / "reports.jsonl", report_texts(40))
    root = tmp_path / "store"
    env = {**os.environ, STOP_AFTER_ENV: "3"}
    stopped = subprocess.run(_cmd(manifest, root, 8, 4), env=env, capture_output=True, text=True)
    assert stopped.returncode == 75, stopped.stderr
    before = _chunk_stamps(root)
    assert len(before) == 3
    assert not list(root.glob("*/manifest.json"))

    env.pop(STOP_AFTER_ENV)
    resumed = subprocess.run(_cmd(manifest, root, 8, 4), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    total = len(chunk_groups(read_manifest(manifest).ids, 8))
    assert f"{total - 3} chunk(s) computed, 3 reused" in resumed.stdout
    after = _chunk_stamps(root)
    assert all(after[name] == stamp for name, stamp in before.items())  # untouched files

    reference = embed_to_store(
        minilm, read_manifest(manifest), tmp_path / "reference", chunk_size=8, batch_size=4
    )
    ids, x = open_store(root).read()
    ref_ids, ref = open_store(reference.path).read()
    assert ids == ref_ids and np.array_equal(x, ref)  # bit-identical to an uninterrupted run
    assert reference.path.name == Path(resumed.stdout.splitlines()[0]).name  # same content key


def test_sigkilled_job_resumes_to_identical_store(minilm, tmp_path):
    manifest = write_manifest(tmp_path / "reports.jsonl", report_texts(90))
    root = tmp_path / "store"
    flag = tmp_path / "paused"  # the job waits there after 2 chunks, whatever the load
    env = {**os.environ, PAUSE_AFTER_ENV: f"2:{flag}"}
    proc = subprocess.Popen(_cmd(manifest, root, 3, 1), stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + TIMEOUT  # bounds a broken build only
    while not flag.exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _chunk_stamps(root)
    total = len(chunk_groups(read_manifest(manifest).ids, 3))
    assert len(before) == 2 < total and not list(root.glob("*/manifest.json"))

    resumed = subprocess.run(_cmd(manifest, root, 3, 1), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{total - len(before)} chunk(s) computed, {len(before)} reused" in resumed.stdout
    assert all(_chunk_stamps(root)[k] == v for k, v in before.items())
    assert not list(root.glob("chunks/*/.*tmp*"))  # an interrupted write leaves no residue

    reference = embed_to_store(
        minilm, read_manifest(manifest), tmp_path / "reference", chunk_size=3, batch_size=1
    )
    ids, x = open_store(root).read()
    ref_ids, ref = open_store(reference.path).read()
    assert ids == ref_ids and np.array_equal(x, ref)
