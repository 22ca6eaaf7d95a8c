"""Errors in the user's words: labels, classes and manifests a new user gets wrong (real
subprocesses), and messages that once showed a Python repr instead of the value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run
from semalign.errors import InputError

N = 40


@pytest.fixture(scope="module")
def arrays(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    np.save(folder / "a.npy", rng.normal(size=(N, 6)).astype(np.float32))
    np.save(folder / "b.npy", rng.normal(size=(N, 5)).astype(np.float32))
    return folder / "a.npy", folder / "b.npy"


def _stitch(arrays, labels: Path, *extra: str):
    a, b = arrays
    return run("stitch", a, b, "--labels", labels, "--anchors", "10", "--resamples", "0",
               "--modes", "end-to-end,aligned", *extra)  # fmt: skip


def _no_repr(proc) -> None:
    assert "np.str_" not in proc.stderr and "np.int" not in proc.stderr, proc.stderr


def test_a_class_found_only_in_test_rows_is_named_with_its_counts(arrays, tmp_path):
    lines = ["label,split"]
    for i in range(N):
        label = "rare" if i == 7 else ("normal" if i % 2 else "pneumonia")
        lines.append(f"{label},{'test' if i % 4 == 3 else 'train'}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(lines) + "\n")
    proc = _stitch(arrays, labels, "--label-column", "label")
    fails_cleanly(proc, str(labels), "column 'label'", "class 'rare' has 1 row(s)", "line 9",
                  "all in the test split", "give it training rows")  # fmt: skip
    _no_repr(proc)


def test_a_single_class_column_is_named(arrays, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n" + "normal\n" * N)
    proc = _stitch(arrays, labels, "--label-column", "label")
    fails_cleanly(proc, str(labels), "holds one class only ('normal' on all 40 rows)",
                  "--label-column")  # fmt: skip
    _no_repr(proc)
    head = run("stitch", "head", arrays[1], "--labels", labels, "--label-column", "label",
               "-o", tmp_path / "h.safetensors")  # fmt: skip
    fails_cleanly(head, "holds one class only ('normal' on all 40 rows)")
    _no_repr(head)


def test_a_blank_label_in_a_one_column_file_is_a_missing_label_not_a_missing_row(arrays, tmp_path):
    values = ["1" if i % 3 == 0 else "0" for i in range(N)]
    values[5] = values[11] = ""  # not mentioned
    labels = tmp_path / "labels.csv"
    labels.write_text("effusion\n" + "\n".join(values) + "\n")
    ok = _stitch(arrays, labels, "--label-columns", "effusion", "--missing", "ignore")
    assert ok.returncode == 0, ok.stderr
    assert "row counts differ" not in ok.stderr
    as_classes = _stitch(arrays, labels, "--label-column", "effusion")
    fails_cleanly(as_classes, "column 'effusion' is blank on line 7", "give every row a class")


def test_trailing_empty_lines_of_a_one_column_file_are_its_end(arrays, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n" + "normal\npneumonia\n" * (N // 2) + "\n\n")
    ok = _stitch(arrays, labels, "--label-column", "label")
    assert ok.returncode == 0, ok.stderr
    assert "its last 2 line(s) are empty: read as the end of the file" in ok.stderr


def test_a_manifest_field_longer_than_pythons_csv_limit_is_read(tmp_path):
    long_report = "Findings: " + "no acute cardiopulmonary process. " * 6000  # ~200,000 chars
    assert len(long_report) > 131_072
    manifest = tmp_path / "reports.csv"
    manifest.write_text(f'id,text\nshort,"Small left effusion."\nlong,"{long_report}"\n')
    proc = run("embed", "-e", "e5-small", "-i", manifest, "-o", tmp_path / "s", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "2/2 items" in proc.stdout


def test_head_messages_show_values_not_numpy_reprs():
    from semalign.tasks.heads import LogisticHead

    x = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(InputError, match=r"one class only \('normal'\)") as err:
        LogisticHead().fit(x, np.array(["normal"] * 6))
    assert "np.str_" not in str(err.value)
    head = LogisticHead().fit(x, np.array(["a", "b"] * 3))
    with pytest.raises(InputError, match=r"label 'rare' is not a class of the head") as err:
        head.class_index(np.array(["a", "rare"]))
    assert "np.str_" not in str(err.value) and "its classes: a, b" in str(err.value)


def test_store_verify_names_a_missing_field_in_words(tmp_path):
    from semalign.store.housekeeping import STEPS_DIR, verify

    (tmp_path / STEPS_DIR).mkdir()
    (tmp_path / STEPS_DIR / "stitch-0123.json").write_text(json.dumps({"format": 1}))
    proc = run("store", "verify", "--store", tmp_path)
    fails_cleanly(proc, "1 bad file(s)")
    assert "step-cache unit is unreadable (it has no 'rows' field)" in proc.stdout
    assert verify(tmp_path).units == 1
