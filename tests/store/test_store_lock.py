"""Concurrent writers: a second `semalign embed` into a locked entry waits, or fails at once."""

from __future__ import annotations

import fcntl
import subprocess
import sys

from clitools import TIMEOUT, fails_cleanly, run
from semalign.store import read_manifest, store_key
from semalign.store.build import entry_dir

from .conftest import report_texts, write_manifest


def test_locked_entry_waits_or_fails_with_no_wait(minilm, tmp_path):
    manifest = write_manifest(tmp_path / "r.jsonl", report_texts(5))
    items = read_manifest(manifest)
    root = tmp_path / "store"
    entry = entry_dir(root, minilm.name, store_key(minilm.fingerprint, "text", items.ids,
                                                   items.digests()))  # fmt: skip
    entry.mkdir(parents=True)
    with (entry / ".lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as if another embed were writing it
        fails_cleanly(
            run("embed", "-e", "minilm", "-i", manifest, "-o", root, "--device", "cpu", "-q",
                "--no-wait"),
            "is being written by another process",
        )  # fmt: skip
        waiter = subprocess.Popen(
            [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
             "-o", str(root), "--device", "cpu", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert waiter.stderr is not None
        first = waiter.stderr.readline()  # blocks until the waiter reports that it waits
        assert first.startswith("waiting for another process writing store entry"), first
        assert waiter.poll() is None
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    out, err = waiter.communicate(timeout=TIMEOUT)
    assert waiter.returncode == 0, err
    assert "5/5 items" in out and (entry / "manifest.json").is_file()
