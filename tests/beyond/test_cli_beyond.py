"""`semalign align fit --unpaired-*` and `--scoring` in real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clitools import fails_cleanly, run
from semalign.align import read_metadata
from semalign.metrics.space import retrieval_scores

from .test_csls import hub_case
from .test_refine import rotation_pools


@pytest.fixture
def pools(tmp_path: Path) -> dict[str, Path]:
    xa, ya, u, v, _, _ = rotation_pools(0)
    paths = {}
    for name, arr in {"x": xa, "y": ya, "u": u, "v": v}.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return paths


def test_fit_with_unpaired_pools_records_refinement(pools: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "map.safetensors"
    proc = run(
        "align", "fit", pools["x"], pools["y"], "-o", out, "--scaling", "none",
        "--unpaired-source", pools["u"], "--unpaired-target", pools["v"],
        "--refine-iterations", "20",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "converged" in proc.stdout
    record = json.loads(read_metadata(out)["refinement"])
    assert record["converged"] and record["pseudo_pairs"][-1] == 392 and record["anchors"] == 8


def test_fit_with_one_pool_fails_cleanly(pools: dict[str, Path], tmp_path: Path) -> None:
    proc = run(
        "align", "fit", pools["x"], pools["y"], "-o", tmp_path / "m.safetensors",
        "--unpaired-source", pools["u"],
    )  # fmt: skip
    fails_cleanly(proc, "--unpaired-target")


def test_evaluate_scoring_csls(tmp_path: Path) -> None:
    queries, keys, _ = hub_case()
    for name, arr in {"q": queries, "k": keys}.items():
        np.save(tmp_path / f"{name}.npy", arr)
    model = tmp_path / "id.safetensors"
    # the identity map, fitted on the keys themselves
    assert run("align", "fit", tmp_path / "k.npy", tmp_path / "k.npy", "-o", model,
               "--scaling", "none").returncode == 0  # fmt: skip
    proc = run("align", "evaluate", model, tmp_path / "q.npy", tmp_path / "k.npy", "--json",
               "--scoring", "csls", "--csls-k", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["top1"]
    assert got == pytest.approx(retrieval_scores(queries, keys, scoring="csls")["top1"], abs=1e-6)
    assert got > 0.95
    report = json.loads(proc.stdout)
    from semalign.metrics.similarity import unbiased_cka

    assert report["unbiased_cka"] == pytest.approx(unbiased_cka(queries, keys), abs=1e-6)
    assert {"mutual_knn@10", "cknna@10", "source_unbiased_cka"} <= set(report)
    bad = run("align", "evaluate", model, tmp_path / "q.npy", tmp_path / "k.npy",
              "--scoring", "dot")  # fmt: skip
    fails_cleanly(bad, "scoring", "csls")


def test_retrieve_cli_scoring_csls(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    t = x @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 0.05 * rng.normal(size=(120, 6))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    proc = run("retrieve", tmp_path / "x.npy", tmp_path / "t.npy", "--anchors", "40",
               "--scoring", "csls", "--resamples", "0", "--json", tmp_path / "r.json",
               "--asif", "--asif-top-k", "20", "--asif-power", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert all(r["scoring"] == "csls@10" for r in rows)
    asif = [r for r in rows if r["mode"] == "asif" and r["metric"] == "recall@1"]
    assert len(asif) == 2 and asif[0]["variant"] == "top_k=20 power=2"
    assert asif[0]["anchors"] == 40
    bad = run("retrieve", tmp_path / "x.npy", tmp_path / "t.npy", "--csls-k", "0")
    fails_cleanly(bad, "csls_k")


def test_zeroshot_cli_scoring_csls_matches_the_api(tmp_path: Path) -> None:
    """`zeroshot --aligner ... --scoring csls` gives the API's numbers (test rows: one batch)."""
    try:
        from semalign.encoders import load_encoder

        encoder = load_encoder("minilm")
    except Exception as exc:
        pytest.skip(f"minilm unavailable: {exc}")
    from semalign.align import Aligner
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import embed_prompts, zeroshot

    findings = {
        "Pneumothorax": ["There is a right apical pneumothorax.", "Small left pneumothorax."],
        "Pleural Effusion": ["Small left pleural effusion.", "Bilateral pleural effusions."],
        "Cardiomegaly": ["The heart is enlarged.", "Moderate cardiomegaly."],
    }
    classes = list(findings)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    table = encoder.embed([s for c in classes for s in findings[c]]).astype(np.float64)
    texts = table[2 * y + rng.integers(0, 2, y.size)] + 0.02 * rng.normal(size=(150, 384))
    images = texts @ rng.normal(size=(384, 48)) + 0.05 * rng.normal(size=(150, 48))
    aligner = Aligner("ridge", "standard").fit(images[:100], texts[:100])
    aligner.save(tmp_path / "map.safetensors")
    np.save(tmp_path / "img.npy", images[100:])
    (tmp_path / "labels.csv").write_text(
        "finding\n" + "".join(f"{classes[k]}\n" for k in y[100:]), encoding="utf-8"
    )
    js = tmp_path / "zs.json"
    proc = run(
        "zeroshot", tmp_path / "img.npy", "--aligner", tmp_path / "map.safetensors",
        "--labels", tmp_path / "labels.csv", "--label-column", "finding", "--prompts",
        "chexzero", "--resamples", "0", "--scoring", "csls", "--csls-k", "5", "--json", js,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(js.read_text())["rows"]
    got = next(r for r in rows if r["mode"] == "unimodal" and r["metric"] == "accuracy")
    assert got["scoring"] == "csls@5" and "scoring" not in got["setting"]
    prompts = embed_prompts(load_prompt_set("chexzero", classes=sorted(classes)), encoder)
    direct = zeroshot(
        images[100:], np.array([classes[k] for k in y[100:]]), prompts, test=np.arange(50),
        aligner=aligner, n_resamples=0, scoring="csls", csls_k=5,
    )  # fmt: skip
    value = next(r.value for r in direct.rows if r.mode == "unimodal" and r.metric == "accuracy")
    assert got["value"] == pytest.approx(value, abs=1e-12)
