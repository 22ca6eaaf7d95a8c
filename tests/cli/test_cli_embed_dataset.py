"""`semalign embed --input DATASET`: a dataset's records embed like the same items' manifest."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clitools import TIMEOUT

pytest.importorskip("torch")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "semalign", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_dataset_input_equals_its_manifest(tmp_path: Path) -> None:
    from semalign.data.registry import open_dataset

    records = list(open_dataset("kermany-mini"))
    assert len(records) == 16
    manifest = tmp_path / "images.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image"])
        writer.writerows((r.id, str(r.image_path)) for r in records)
    common = ["-e", "efficientnet-lite0", "--device", "cpu", "-q"]
    by_name = run("embed", *common, "-i", "kermany-mini", "-o", tmp_path / "a",
                  "--npy", tmp_path / "a.npy")  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    by_file = run("embed", *common, "-i", manifest, "-o", tmp_path / "b",
                  "--npy", tmp_path / "b.npy")  # fmt: skip
    assert by_file.returncode == 0, by_file.stderr
    assert (tmp_path / "a.ids.txt").read_text() == (tmp_path / "b.ids.txt").read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_unknown_input_and_missing_section_are_one_line_errors(tmp_path: Path) -> None:
    proc = run("embed", "-e", "minilm", "-i", "no-such-thing", "-o", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "neither a manifest file nor a dataset name" in proc.stderr
    assert "iu-reports" in proc.stderr
    proc = run("embed", "-e", "minilm", "-i", "kermany-mini", "-o", tmp_path)
    assert proc.returncode == 2 and "has no text section 'report'" in proc.stderr
