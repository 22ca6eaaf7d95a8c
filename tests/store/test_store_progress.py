"""Progress that a log file shows: `semalign embed` not on a terminal writes plain lines."""

from __future__ import annotations

from clitools import run

from .conftest import report_texts, write_manifest


def test_embed_writes_progress_lines_to_a_log(tmp_path):
    manifest = write_manifest(tmp_path / "r.jsonl", report_texts(6))
    proc = run("embed", "-e", "minilm", "-i", manifest, "-o", tmp_path / "s", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("embedded ")]
    assert lines and lines[-1].startswith("embedded 6/6 items, ") and "items/s" in lines[-1]
    assert "\x1b[" not in proc.stderr  # no terminal control codes in a log
    again = run("embed", "-e", "minilm", "-i", manifest, "-o", tmp_path / "s", "--device", "cpu")
    assert "embedded 6/6 items" in again.stderr and "cache hit" in again.stdout
