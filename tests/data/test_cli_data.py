from __future__ import annotations

import json
from pathlib import Path

import pytest

from semalign.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_every_dataset(capsys) -> None:
    code, out, _ = _run(capsys, "data", "list")
    assert code == 0
    for name in ("mimic-cxr", "chexpert", "chexpert-5x200", "rsna-pneumonia", "nih", "iu-xray",
                 "manifest", "iu-reports", "kermany-mini", "rg1"):  # fmt: skip
        assert f"\n{name}\n" in f"\n{out}"


def test_describe_the_offline_demo_data(capsys) -> None:
    code, out, _ = _run(capsys, "data", "describe", "iu-reports", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["records"] == 3955 and summary["with_findings"] == 3425
    assert summary["labels"]["Cardiomegaly"] == {
        "positive": 395, "negative": 3465, "uncertain": 0, "missing": 95,
    }  # fmt: skip
    code, out, _ = _run(capsys, "data", "describe", "kermany-mini", "--check-images")
    assert code == 0 and "records   16" in out and "missing image files: 0" in out
    code, out, _ = _run(capsys, "data", "describe", "rg1")
    assert code == 0 and "PA 1" in out


def test_pairs_and_export_write_files(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "pairs.jsonl"
    code, _, err = _run(capsys, "data", "pairs", "kermany-mini", "--match-reports", "iu-reports",
                          "--match-labels", "Pneumonia", "--out", str(out_file))  # fmt: skip
    assert code == 0, err
    assert len(out_file.read_text().splitlines()) == 16
    records = tmp_path / "records.jsonl"
    code, _, err = _run(capsys, "data", "export", "kermany-mini", "--out", str(records),
                        "--patient-split", "0.5,0.25,0.25", "--seed", "1")  # fmt: skip
    assert code == 0, err
    rows = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(rows) == 16 and {r["split"] for r in rows} <= {"train", "val", "test"}
    splits: dict[str, set[str]] = {}
    for r in rows:
        splits.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["data", "describe", "nih"], "needs --root"),
        (["data", "describe", "chexpert", "--root", "/nonexistent"], "does not exist"),
        (["data", "describe", "nope"], "unknown dataset"),
        (["data", "describe", "iu-reports", "--labeler", "negbio"], "does not take"),
        (["data", "pairs", "kermany-mini", "--out", "x.csv"], "no anchor pairs"),
    ],
)
def test_user_errors_are_one_line_without_traceback(capsys, args, needle) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2 and needle in err and "Traceback" not in err
    assert err.startswith("error: ")


def test_describe_chexpert_layout_error_names_the_file(capsys, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "data", "describe", "chexpert", "--root", str(tmp_path))
    assert code == 2 and "train.csv" in err and "expected layout" in err
