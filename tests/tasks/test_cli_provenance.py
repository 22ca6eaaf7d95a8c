"""Encoder ids recorded in stores, maps and heads are cross-checked where two of them meet."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("prov")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 384))
    np.save(tmp / "img.npy", x.astype(np.float32))
    np.save(tmp / "txt.npy", y.astype(np.float32))
    with (tmp / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["finding"])
        w.writerows([["Pneumothorax"], ["Cardiomegaly"]] * 30)
    fit = run(
        "align", "fit", tmp / "img.npy", tmp / "txt.npy", "--method", "ridge",
        "-o", tmp / "map.safetensors", "--source-encoder", "img-enc", "--target-encoder",
        "e5-small",
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    head = run(
        "stitch", "head", tmp / "txt.npy", "--labels", tmp / "labels.csv", "--label-column",
        "finding", "-o", tmp / "head.safetensors", "--encoder", "minilm",
    )  # fmt: skip
    assert head.returncode == 0, head.stderr
    (tmp / "t.csv").write_text("id,text\na,pleural effusion\nb,cardiomegaly\nc,pneumothorax\n")
    emb = run("embed", "-e", "e5-small", "-i", tmp / "t.csv", "-o", tmp / "store", "-q")
    assert emb.returncode == 0, emb.stderr
    return {"dir": tmp, "store": next((tmp / "store").iterdir())}


def test_zeroshot_map_target_must_be_the_text_encoder(files) -> None:
    d = files["dir"]
    zs = ("zeroshot", d / "img.npy", "--labels", d / "labels.csv", "--label-column", "finding")
    fails_cleanly(
        run(*zs, "--aligner", d / "map.safetensors", "--text-encoder", "minilm"),
        "'e5-smal",  # the map's target
        "'minilm'",
        "--allow-encoder-mismatch",
    )


def test_zeroshot_store_encoder_must_be_the_map_source(files) -> None:
    d = files["dir"]
    (d / "three.csv").write_text("id,finding\na,Pneumothorax\nb,Cardiomegaly\nc,Pneumothorax\n")
    fails_cleanly(
        run(
            "zeroshot", files["store"], "--labels", d / "three.csv", "--label-column", "finding",
            "--aligner", d / "map.safetensors", "--text-encoder", "e5-small",
        ),
        "'e5-small'",
        "'img-enc'",
    )  # fmt: skip


def test_stitch_export_checks_map_source_and_head_encoder(files) -> None:
    d = files["dir"]
    base = ("stitch", "export", "--aligner", d / "map.safetensors", "-o", d / "m.safetensors")
    fails_cleanly(
        run(*base, "--encoder", "e5-small", "--head", d / "head.safetensors"),
        "'img-enc'",
        "'e5-small'",
    )
    fails_cleanly(
        run(*base, "--encoder", "img-enc", "--head", d / "head.safetensors"),
        "the target of map",
        "'e5-small'",
        "'minilm'",
    )


def test_stitch_head_store_encoder_and_explicit_override(files) -> None:
    d = files["dir"]
    (d / "three.csv").write_text("id,finding\na,Pneumothorax\nb,Cardiomegaly\nc,Pneumothorax\n")
    head = ("stitch", "head", files["store"], "--labels", d / "three.csv", "--label-column",
            "finding", "-o", d / "h.safetensors")  # fmt: skip
    fails_cleanly(run(*head, "--encoder", "minilm"), "'e5-small'", "'minilm'")
    proc = run(*head, "--encoder", "minilm", "--allow-encoder-mismatch")
    assert proc.returncode == 0, proc.stderr
    proc = run(*head)
    assert proc.returncode == 0, proc.stderr
    from semalign.tasks.heads import load_head

    assert load_head(d / "h.safetensors").encoder == "e5-small"  # recorded from the store
