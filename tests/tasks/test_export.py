"""Stitched-model export: minilm -> T -> a head trained on e5-small, on real IU X-ray reports."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from clitools import TIMEOUT
from semalign.align import Aligner
from semalign.errors import FormatError, InputError
from semalign.tasks.export import export_stitched, load_stitched, read_stitched
from semalign.tasks.heads import LogisticHead
from semalign.tasks.stitching import StitchedModel

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def reports() -> tuple[list[str], np.ndarray]:
    """40 normal and 40 cardiomegaly IU X-ray reports (findings + impression)."""
    from semalign.data.registry import open_dataset

    texts: list[str] = []
    labels: list[str] = []
    counts = {"normal": 0, "cardiomegaly": 0}
    for rec in open_dataset("iu-reports"):
        text = rec.text("findings+impression")
        if not text:
            continue
        if rec.labels.get("Cardiomegaly") == 1:
            cls = "cardiomegaly"
        elif rec.labels.get("No Finding") == 1:
            cls = "normal"
        else:
            continue
        if counts[cls] < 40:
            counts[cls] += 1
            texts.append(text)
            labels.append(cls)
        if min(counts.values()) == 40:
            break
    assert counts == {"normal": 40, "cardiomegaly": 40}
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def fitted(reports: tuple[list[str], np.ndarray]) -> dict[str, object]:
    from semalign.encoders import load_encoder

    texts, y = reports
    minilm = load_encoder("minilm", device="cpu")
    e5 = load_encoder("e5-small")
    xa, xb = minilm.embed(texts), e5.embed(texts)
    aligner = Aligner("orthogonal", "standard").fit(xa, xb)
    head = LogisticHead(1.0).fit(xb, y)
    return {"minilm": minilm, "xa": xa, "xb": xb, "aligner": aligner, "head": head}


def test_export_round_trip_gives_identical_predictions(
    tmp_path: Path, reports: tuple[list[str], np.ndarray], fitted: dict[str, object]
) -> None:
    texts, y = reports
    aligner, head = fitted["aligner"], fitted["head"]
    assert isinstance(aligner, Aligner) and isinstance(head, LogisticHead)
    path = export_stitched(
        tmp_path / "stitched.safetensors",
        encoder="minilm",
        aligner=aligner,
        head=head,
        encoder_options={"device": "cpu"},
        fingerprint=fitted["minilm"].fingerprint,  # type: ignore[attr-defined]
    )
    module = load_stitched(path)
    import torch

    assert isinstance(module, torch.nn.Module)
    with torch.inference_mode():
        probs = module(texts).numpy()
    reference = StitchedModel(aligner, head)
    expected = reference.predict_proba(fitted["xa"])
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(module.predict(texts), reference.predict(fitted["xa"]))
    assert (module.predict(texts) == y).mean() > 0.8  # the stitched model does its job
    meta, a2, h2 = read_stitched(path)
    assert (
        meta["encoder"] == "minilm"
        and a2.n_anchors_ == 80
        and h2.label_names_
        == [
            "cardiomegaly",
            "normal",
        ]
    )


def test_changed_encoder_or_foreign_file_is_refused(
    tmp_path: Path, fitted: dict[str, object]
) -> None:
    aligner, head = fitted["aligner"], fitted["head"]
    path = export_stitched(
        tmp_path / "s.safetensors",
        encoder="minilm",
        aligner=aligner,  # type: ignore[arg-type]
        head=head,  # type: ignore[arg-type]
        fingerprint="0" * 64,
    )
    with pytest.raises(FormatError, match="fingerprint"):
        load_stitched(path)
    tensors = load_file(str(path))
    foreign = tmp_path / "f.safetensors"
    save_file(tensors, str(foreign), metadata={"format": "other"})
    with pytest.raises(FormatError, match="not a semalign stitched model"):
        read_stitched(foreign)
    with pytest.raises(InputError, match="maps into 384 dims but the head takes 3"):
        export_stitched(
            tmp_path / "x.safetensors",
            encoder="minilm",
            aligner=aligner,  # type: ignore[arg-type]
            head=LogisticHead().fit(np.eye(3).repeat(4, 0), np.arange(12) % 2),
        )


def test_cli_head_export_predict(
    tmp_path: Path, reports: tuple[list[str], np.ndarray], fitted: dict[str, object]
) -> None:
    texts, y = reports
    np.save(tmp_path / "a.npy", fitted["xa"])
    np.save(tmp_path / "b.npy", fitted["xb"])
    (tmp_path / "labels.csv").write_text("finding\n" + "\n".join(y) + "\n")
    (tmp_path / "items.jsonl").write_text(
        "\n".join(json.dumps({"id": f"r{i}", "text": t}) for i, t in enumerate(texts)) + "\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "semalign", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=TIMEOUT,
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    run("align", "fit", "a.npy", "b.npy", "-o", "map.safetensors", "--source-encoder", "minilm")
    run("stitch", "head", "b.npy", "--labels", "labels.csv", "--label-column", "finding",
        "-o", "head.safetensors")  # fmt: skip
    run("stitch", "export", "--encoder", "minilm", "--aligner", "map.safetensors",
        "--head", "head.safetensors", "-o", "stitched.safetensors", "--device", "cpu")  # fmt: skip
    run("stitch", "predict", "stitched.safetensors", "-i", "items.jsonl", "-o", "p.csv",
        "--device", "cpu")  # fmt: skip
    with (tmp_path / "p.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(texts))]
    probs = np.array([[float(r["cardiomegaly"]), float(r["normal"])] for r in rows])
    aligner = Aligner("orthogonal", "standard").fit(fitted["xa"], fitted["xb"])
    head = LogisticHead(1.0).fit(fitted["xb"], y)
    expected = head.predict_proba(aligner.transform(fitted["xa"]))
    np.testing.assert_allclose(probs, expected, atol=2e-6)
    bad = subprocess.run(
        [sys.executable, "-m", "semalign", "stitch", "export", "--encoder", "e5-small",
         "--aligner", "map.safetensors", "--head", "head.safetensors", "-o", "x.safetensors"],
        capture_output=True, text=True, cwd=tmp_path, timeout=TIMEOUT,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    # the map's source encoder and --encoder are both named, with the deliberate override
    assert "'minilm'" in bad.stderr and "'e5-small'" in bad.stderr
    assert "--allow-encoder-mismatch" in bad.stderr
