"""Rows are paired by id wherever the inputs carry ids: `.ids.txt` beside `.npy`, labels CSVs.

Oracle: the same rows given in a shuffled order (with their ids) must give exactly the table the
ordered files give; order pairing of shuffled rows would give chance-level numbers instead.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run

from ._planted import planted_spaces

CLASSES = np.array(["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"])
FAST = ("--label-column", "finding", "--anchors", "150", "--resamples", "0", "--split-seed", "3")


def _labels(path: Path, ids: list[str], names: list[str], *, bom: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "finding"])
        w.writerows(zip(ids, names, strict=True))
    return path


def _ids(path: Path, ids: list[str]) -> None:
    path.write_text("".join(i + "\n" for i in ids), encoding="utf-8")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ids")
    s = planted_spaces(n=400, separation=0.9, noise=0.3)
    ids = [f"study-{i:04d}" for i in range(400)]
    names = list(CLASSES[s.y])
    np.save(tmp / "a.npy", s.source)
    np.save(tmp / "b.npy", s.target)
    _ids(tmp / "a.ids.txt", ids)
    _ids(tmp / "b.ids.txt", ids)
    perm = np.random.default_rng(1).permutation(400)
    np.save(tmp / "b_perm.npy", s.target[perm])
    _ids(tmp / "b_perm.ids.txt", [ids[i] for i in perm])
    _labels(tmp / "ordered.csv", ids, names)
    _labels(tmp / "shuffled.csv", [ids[i] for i in perm], [names[i] for i in perm])
    _labels(tmp / "bom.csv", [ids[i] for i in perm], [names[i] for i in perm], bom=True)
    _labels(tmp / "partial.csv", ids[5:], names[5:])
    _labels(tmp / "dup.csv", [*ids, ids[7]], [*names, names[0]])
    np.save(tmp / "bare_a.npy", s.source)
    np.save(tmp / "bare_b.npy", s.target)
    with (tmp / "noid.csv").open("w") as fh:
        fh.write("finding\n" + "".join(n + "\n" for n in names))
    return {"dir": tmp}


def _stitch(files: dict[str, Path], a: str, b: str, labels: str, *extra: str):
    d = files["dir"]
    return run("stitch", d / a, d / b, "--labels", d / labels, *FAST, "--modes", "aligned", *extra)


def _table(proc) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_shuffled_labels_are_paired_by_id(files) -> None:
    out = files["dir"] / "ordered-table.csv"
    ordered = _table(_stitch(files, "a.npy", "b.npy", "ordered.csv", "--out", str(out)))
    shuffled = _table(_stitch(files, "a.npy", "b.npy", "shuffled.csv"))
    assert shuffled == ordered.replace(f"wrote {out}\n", "")
    rows = list(csv.DictReader(out.open()))
    accuracy = [float(r["value"]) for r in rows if r["metric"] == "accuracy"]
    assert accuracy and min(accuracy) > 0.6  # chance is 0.25


def test_bom_labels_csv_keeps_its_id_column(files) -> None:
    ordered = _table(_stitch(files, "a.npy", "b.npy", "ordered.csv"))
    assert _table(_stitch(files, "a.npy", "b.npy", "bom.csv")) == ordered


def test_permuted_target_rows_are_paired_by_their_ids(files) -> None:
    ordered = _table(_stitch(files, "a.npy", "b.npy", "ordered.csv"))
    permuted = _stitch(files, "a.npy", "b_perm.npy", "ordered.csv", "--target-name", "b")
    assert _table(permuted) == ordered


def test_duplicated_id_names_the_id_and_both_lines(files) -> None:
    fails_cleanly(_stitch(files, "a.npy", "b.npy", "dup.csv"), "'study-0007'", "lines 9 and 402")
    d = files["dir"]
    _ids(d / "twice.ids.txt", ["x", "y", "x"])
    np.save(d / "twice.npy", np.zeros((3, 2)))
    fails_cleanly(run("retrieve", d / "twice.npy", d / "twice.npy"), "'x' twice, on lines 1 and 3")


def test_ids_on_one_side_only_fail_or_intersect_with_notice(files) -> None:
    fails_cleanly(
        _stitch(files, "a.npy", "b.npy", "partial.csv"),
        "5 of source",
        "'study-0000', 'study-0001', 'study-0002'",
        "--intersect-ids",
    )
    proc = _stitch(files, "a.npy", "b.npy", "partial.csv", "--intersect-ids")
    assert proc.returncode == 0, proc.stderr
    assert "kept the 395 ids every side has" in proc.stderr and "a.npy 5" in proc.stderr


def test_order_pairing_only_without_ids_and_said_in_one_line(files) -> None:
    proc = _stitch(files, "bare_a.npy", "bare_b.npy", "noid.csv")
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note:")]
    labels = files["dir"] / "noid.csv"
    assert notes == [
        f"note: no ids on source bare_a.npy and target bare_b.npy and labels file {labels}: "
        "rows are paired by order"
    ]


def test_labels_row_with_an_extra_field_is_one_line(files) -> None:
    d = files["dir"]
    lines = (d / "ordered.csv").read_text().splitlines()
    lines[3] += ",surplus"
    (d / "extra.csv").write_text("\n".join(lines) + "\n")
    fails_cleanly(_stitch(files, "a.npy", "b.npy", "extra.csv"), "line 4 has 3 fields")


def test_align_fit_and_evaluate_pair_arrays_by_their_ids(files) -> None:
    from semalign.align import load_aligner

    d = files["dir"]
    for target, out in (("b.npy", "ordered.safetensors"), ("b_perm.npy", "perm.safetensors")):
        proc = run("align", "fit", d / "a.npy", d / target, "--method", "affine", "-o", d / out)
        assert proc.returncode == 0, proc.stderr
        assert "note:" not in proc.stderr  # both sides have ids: nothing paired by order
    x = np.load(d / "a.npy")
    ordered = load_aligner(d / "ordered.safetensors").transform(x)
    np.testing.assert_allclose(load_aligner(d / "perm.safetensors").transform(x), ordered)
    ev = [
        run("align", "evaluate", d / "ordered.safetensors", d / "a.npy", d / t, "--json")
        for t in ("b.npy", "b_perm.npy")
    ]
    assert ev[0].returncode == 0 and ev[0].stdout == ev[1].stdout


def test_retrieve_names_report_to_report_directions(files) -> None:
    d = files["dir"]
    out = d / "rr.csv"
    proc = run("retrieve", d / "a.npy", d / "b.npy", "--kind", "report-report", "--anchors",
               "100", "--resamples", "0", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    directions = {r["direction"] for r in csv.DictReader(out.open())}
    assert directions == {"a->b", "b->a"}
    fails_cleanly(run("retrieve", d / "a.npy", d / "b.npy", "--kind", "text"), "--kind 'text'")
