"""Every file `semalign data pairs|export` writes is read back by the commands that consume it.

Oracle: the records read back through the `manifest` reader summarise exactly as the dataset
they were written from (counts per split, view and label), and every image path still exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from clitools import run


def _summary(*args: str | Path) -> dict[str, object]:
    proc = run("data", "describe", *args, "--json", "--check-images")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    summary.pop("dataset")
    return summary


def test_export_jsonl_and_csv_read_back_as_the_same_records(kermany_dir, tmp_path: Path) -> None:
    original = _summary("kermany-mini")
    for suffix in (".jsonl", ".csv"):
        out = tmp_path / f"records{suffix}"
        proc = run("data", "export", "kermany-mini", "--out", out)
        assert proc.returncode == 0, proc.stderr
    assert _summary("manifest", "--root", tmp_path / "records.jsonl") == original
    columns = ("--image-column", "image", "--label-columns", "No Finding,Pneumonia",
               "--id-column", "id", "--patient-column", "patient_id", "--study-column",
               "study_id", "--view-column", "view", "--split-column", "split")  # fmt: skip
    assert _summary("manifest", "--root", tmp_path / "records.csv", *columns) == original


def test_pairs_file_reads_back_as_a_manifest_and_for_embedding(kermany_dir, tmp_path) -> None:
    pairs = tmp_path / "pairs.csv"
    proc = run("data", "pairs", "kermany-mini", "--match-reports", "iu-reports", "--out", pairs)
    assert proc.returncode == 0, proc.stderr
    back = _summary("manifest", "--root", pairs, "--image-column", "image_path",
                    "--text-column", "text")  # fmt: skip
    assert back["records"] == 16 and back["with_report"] == 16 and back["missing_images"] == 0

    from semalign.store import read_manifest

    items = read_manifest(pairs, image_column="image_path")
    assert len(items) == 16 and all(Path(p).is_file() for p in items.payloads)


def test_user_manifest_may_point_outside_its_folder(kermany_dir, tmp_path: Path) -> None:
    image = next(kermany_dir.rglob("*.jpeg"))
    sub = tmp_path / "lists"
    sub.mkdir()
    (tmp_path / "a.jpeg").write_bytes(image.read_bytes())
    (sub / "m.csv").write_text(f"id,image\nrel,../a.jpeg\nabs,{image}\n")
    back = _summary("manifest", "--root", sub / "m.csv")
    assert back["records"] == 2 and back["missing_images"] == 0
