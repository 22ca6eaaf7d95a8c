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
               "--scoring", "csls", "--resamples", "0", "--json", tmp_path / "r.json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "csls@10" in (tmp_path / "r.json").read_text()
    bad = run("retrieve", tmp_path / "x.npy", tmp_path / "t.npy", "--csls-k", "0")
    fails_cleanly(bad, "csls_k")
