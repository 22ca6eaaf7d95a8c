"""Ordinary input mistakes stop with one `error:` line (real subprocesses), never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "texts.csv"
    path.write_text("id,text\na,pleural effusion\nb,no acute findings\n")
    return path


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-e", "/no/such/folder"], ["encoder folder '/no/such/folder' does not exist"]),
        (["-e", "e5-smal"], ["did you mean 'e5-small'?"]),
        (["-e", "e5-small", "--max-length", "-1"], ["--max-length -1 must be an integer >= 1"]),
        (["-e", "e5-small", "--max-length", "0"], ["--max-length 0 must be an integer >= 1"]),
        (["-e", "e5-small", "--num-workers", "-2"], ["--num-workers -2 must be an integer >= 0"]),
        (["-e", "e5-small", "--batch-size", "0"], ["--batch-size 0"]),
    ],
)
def test_embed_options_are_checked_before_any_model_runs(texts, tmp_path, args, needles) -> None:
    fails_cleanly(run("embed", "-i", texts, "-o", tmp_path / "s", *args), *needles)


def test_embed_manifest_mistakes_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    cases = {
        "extra.csv": ("id,text\na,one\nb,two,three\n", ["line 3 has 3 fields"]),
        "blank.csv": ("id,image\na,x.png\nb,\n", ["line 3 has a blank image path"]),
        "folder.csv": ("id,image\na,img\n", ["line 2", "'img' is a folder"]),
        "dup.csv": ("id,text\na,x\nb,y\na,z\n", ["id 'a' twice, on lines 2 and 4"]),
    }
    for name, (text, needles) in cases.items():
        (tmp_path / name).write_text(text)
        proc = run("embed", "-e", "efficientnet-lite0", "-i", tmp_path / name, "-o", tmp_path / "s")
        fails_cleanly(proc, *needles)


def test_bom_manifest_keeps_its_id_column(tmp_path: Path) -> None:
    from semalign.store import read_manifest

    (tmp_path / "bom.csv").write_bytes("\ufeffid,text\na,one\nb,two\n".encode())
    assert read_manifest(tmp_path / "bom.csv").ids == ["a", "b"]


def test_negative_seeds_and_anchor_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(40, 4)))
    (tmp_path / "y.csv").write_text("c\n" + "x\ny\n" * 20)
    base = ("stitch", tmp_path / "a.npy", tmp_path / "a.npy", "--labels", tmp_path / "y.csv",
            "--label-column", "c")  # fmt: skip
    fails_cleanly(run(*base, "--seeds", "-1"), "--seeds holds -1", ">= 0")
    fails_cleanly(run(*base, "--anchors", "0"), "--anchors holds 0", ">= 1")
    fails_cleanly(run(*base, "--resamples", "-3"), "--resamples -3")
    fails_cleanly(run("retrieve", tmp_path / "a.npy", tmp_path / "a.npy", "--ks", "-1"), "--ks")


def test_quickstart_checks_and_describes_itself() -> None:
    fails_cleanly(run("quickstart", "--n-anchors", "-5"), "--n-anchors -5 must be an integer >= 2")
    helped = run("quickstart", "--help")
    assert helped.returncode == 0 and "generated" in helped.stdout and "held-out" in helped.stdout
    ok = run("quickstart", "--n-anchors", "2")
    assert ok.returncode == 0, ok.stderr
    assert "2 anchors" in ok.stdout


def test_old_column_spellings_are_hidden_aliases(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,report\na,Clear lungs.\nb,Effusion.\n")
    new = run("data", "describe", "manifest", "--root", tmp_path / "m.csv", "--text-column",
              "report", "--json")  # fmt: skip
    old = run("data", "describe", "manifest", "--root", tmp_path / "m.csv", "--text-col=report",
              "--json")  # fmt: skip
    assert new.returncode == 0 and old.returncode == 0, old.stderr
    assert new.stdout == old.stdout and '"with_report": 2' in new.stdout
    helped = run("data", "describe", "--help").stdout
    assert "--text-column" in helped and "--text-col " not in helped
