"""`semalign stitch|zeroshot|retrieve` end to end in a subprocess: tables, files, clean errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run

from ._joint import planted_joint
from ._planted import planted_spaces


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def stitch_files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("stitch")
    s = planted_spaces(separation=0.4, noise=0.5)
    np.save(tmp / "general.npy", s.source)
    np.save(tmp / "medical.npy", s.target)
    names = np.array(["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"])[s.y]
    split = np.where(np.isin(np.arange(len(s.y)), s.test), "test", "train")
    multi = np.stack([s.y == 0, s.y == 1], axis=1).astype(int).astype(str)
    multi[::7, 0] = "-1"
    multi[::11, 1] = ""
    rows = [
        [n, sp, a, b] for n, sp, a, b in zip(names, split, multi[:, 0], multi[:, 1], strict=True)
    ]
    write_csv(tmp / "labels.csv", ["finding", "split", "Edema", "Atelectasis"], rows)
    write_csv(tmp / "short.csv", ["finding"], [["Edema"]] * 10)
    return {
        "dir": tmp,
        "A": tmp / "general.npy",
        "B": tmp / "medical.npy",
        "csv": tmp / "labels.csv",
    }


def test_stitch_writes_table_csv_and_json(stitch_files) -> None:
    f = stitch_files
    out, js = f["dir"] / "r.csv", f["dir"] / "r.json"
    proc = run(
        "stitch", f["A"], f["B"], "--labels", f["csv"], "--label-column", "finding",
        "--anchors", "16,400", "--methods", "orthogonal,affine", "--resamples", "50",
        "--out", out, "--json", js,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "end-to-end" in proc.stdout and "relative" in proc.stdout
    rows = list(csv.DictReader(out.open()))
    acc = {
        (r["mode"], r["method"], r["anchors"]): float(r["value"])
        for r in rows
        if r["metric"] == "accuracy" and r["value"]
    }
    e2e = acc[("end-to-end", "", "")]
    assert acc[("aligned", "orthogonal", "400")] > e2e - 0.03
    assert acc[("naive", "", "")] < 0.45
    assert {r["source"] for r in rows} == {"general"} and {r["n"] for r in rows} == {"400"}
    payload = json.loads(js.read_text())
    assert payload["columns"][:3] == ["task", "source", "target"]
    assert len(payload["rows"]) == len(rows)
    skipped = [r for r in payload["rows"] if r["method"] == "affine" and r["anchors"] == 16]
    assert skipped and skipped[0]["value"] is None


def test_stitch_multilabel_with_uncertainty_policy(stitch_files) -> None:
    f = stitch_files
    proc = run(
        "stitch", f["A"], f["B"], "--labels", f["csv"], "--label-columns", "Edema,Atelectasis",
        "--uncertain", "ignore", "--missing", "ignore", "--anchors", "300",
        "--modes", "end-to-end,aligned", "--resamples", "20",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "macro_auprc" in proc.stdout


def test_stitch_errors_are_one_sentence(stitch_files) -> None:
    f = stitch_files
    base = ("stitch", f["A"], f["B"])
    fails_cleanly(
        run(*base, "--labels", f["dir"] / "short.csv", "--label-column", "finding"),
        "short.csv 10) and no side has ids",
    )
    fails_cleanly(
        run(*base, "--labels", f["csv"], "--label-column", "diagnosis"),
        "no column 'diagnosis'",
        "finding, split",
    )
    fails_cleanly(run(*base, "--labels", f["csv"]), "exactly one of --label-column")
    fails_cleanly(
        run(*base, "--labels", f["csv"], "--label-column", "finding", "--anchors", "10,x"),
        "--anchors",
    )
    fails_cleanly(
        run(
            "stitch",
            f["dir"] / "nope.npy",
            f["B"],
            "--labels",
            f["csv"],
            "--label-column",
            "finding",
        ),
        "does not exist",
    )


def test_retrieve_end_to_end(tmp_path: Path) -> None:
    j = planted_joint(n=900)
    np.save(tmp_path / "img.npy", j.images)
    np.save(tmp_path / "txt.npy", j.texts)
    out = tmp_path / "ret.csv"
    proc = run(
        "retrieve", tmp_path / "img.npy", tmp_path / "txt.npy", "--methods", "linear",
        "--anchors", "300", "--test-fraction", "0.4", "--resamples", "50", "--out", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    r10 = {
        (r["mode"], r["direction"]): float(r["value"]) for r in rows if r["metric"] == "recall@10"
    }
    assert r10[("aligned", "image->report")] > 0.5 and r10[("naive", "image->report")] < 0.1
    assert {r["n"] for r in rows} == {"360"}
    over = run("retrieve", tmp_path / "img.npy", tmp_path / "txt.npy", "--anchors", "700")
    assert over.returncode == 0 and "skipped: only 630 train rows" in over.stdout  # n/a rows


FINDINGS = {
    "Pleural Effusion": [
        "Large left pleural effusion.",
        "Small right pleural effusion with blunting of the costophrenic angle.",
        "Bilateral pleural effusions are present.",
    ],
    "Pneumothorax": [
        "There is a right apical pneumothorax.",
        "Small left pneumothorax is seen.",
        "Large tension pneumothorax on the right.",
    ],
    "Cardiomegaly": [
        "The heart is enlarged.",
        "Moderate cardiomegaly.",
        "Cardiac silhouette is enlarged, consistent with cardiomegaly.",
    ],
}


def test_zeroshot_end_to_end_with_minilm(tmp_path: Path) -> None:
    """Real MiniLM report embeddings; a planted 'image encoder' sees them through a random map."""
    try:
        from semalign.encoders import load_encoder

        encoder = load_encoder("minilm")
    except Exception as exc:
        pytest.skip(f"minilm unavailable: {exc}")
    rng = np.random.default_rng(0)
    classes = list(FINDINGS)
    y = rng.integers(0, 3, 360)
    sentences = [s for k in classes for s in FINDINGS[k]]
    table = encoder.embed(sentences).astype(np.float64)
    texts = table[3 * y + rng.integers(0, 3, y.size)]
    texts += 0.02 * rng.normal(size=texts.shape)
    images = texts @ rng.normal(size=(384, 64)) + 0.05 * rng.normal(size=(360, 64))
    np.save(tmp_path / "img.npy", images.astype(np.float32))
    np.save(tmp_path / "txt.npy", texts.astype(np.float32))
    split = np.where(np.arange(360) >= 240, "test", "train")
    write_csv(
        tmp_path / "labels.csv", ["finding", "split"],
        [[classes[k], s] for k, s in zip(y, split, strict=True)],
    )  # fmt: skip
    js = tmp_path / "zs.json"
    proc = run(
        "zeroshot", tmp_path / "img.npy", "--texts", tmp_path / "txt.npy",
        "--labels", tmp_path / "labels.csv", "--label-column", "finding",
        "--prompts", "chexzero", "--methods", "ridge", "--anchors", "200",
        "--resamples", "50", "--json", js,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    acc = {
        r["mode"]: r["value"]
        for r in json.loads(js.read_text())["rows"]
        if r["metric"] == "accuracy"
    }
    assert acc["unimodal"] > 0.8 and set(acc) == {"unimodal"}
    fails_cleanly(
        run(
            "zeroshot", tmp_path / "img.npy", "--labels", tmp_path / "labels.csv",
            "--label-column", "finding",
        ),
        "--texts",
    )  # fmt: skip
    # a map fitted elsewhere on the training rows, then zero-shot on the test rows alone
    train = np.arange(240)
    np.save(tmp_path / "img_tr.npy", images[train].astype(np.float32))
    np.save(tmp_path / "txt_tr.npy", texts[train].astype(np.float32))
    np.save(tmp_path / "img_te.npy", images[240:].astype(np.float32))
    write_csv(tmp_path / "labels_te.csv", ["finding"], [[classes[k]] for k in y[240:]])
    fit = run("align", "fit", tmp_path / "img_tr.npy", tmp_path / "txt_tr.npy",
              "--method", "ridge", "-o", tmp_path / "map.safetensors")  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    js2 = tmp_path / "zs2.json"
    proc = run(
        "zeroshot", tmp_path / "img_te.npy", "--aligner", tmp_path / "map.safetensors",
        "--labels", tmp_path / "labels_te.csv", "--label-column", "finding",
        "--prompts", "chexzero", "--resamples", "0", "--json", js2,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(js2.read_text())["rows"]
    pre = {r["mode"]: r for r in rows if r["metric"] == "accuracy"}
    assert pre["unimodal"]["anchors"] == 240 and pre["unimodal"]["n"] == 120
    assert pre["unimodal"]["value"] > 0.8 and set(pre) == {"unimodal"}

    from semalign.align import load_aligner
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import embed_prompts, zeroshot

    prompts = embed_prompts(load_prompt_set("chexzero", classes=sorted(classes)), encoder)
    direct = zeroshot(
        images[240:].astype(np.float32).astype(np.float64),
        np.array([classes[k] for k in y[240:]]), prompts,
        test=np.arange(120), aligner=load_aligner(tmp_path / "map.safetensors"), n_resamples=0,
    )  # fmt: skip
    value = next(r.value for r in direct.rows if r.mode == "unimodal" and r.metric == "accuracy")
    assert pre["unimodal"]["value"] == pytest.approx(value, abs=1e-12)
