"""`semalign align` end to end in a real subprocess: round trips and one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from clitools import TIMEOUT, fails_cleanly, run
from semalign.align import Aligner, load_aligner, read_metadata


@pytest.fixture
def arrays(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    q = np.linalg.qr(rng.normal(size=(16, 16)))[0][:12]
    y = (3 * x @ q + 1 + 0.01 * rng.normal(size=(600, 16))).astype(np.float32)
    paths = {}
    for name, arr in {"x": x[:500], "y": y[:500], "xt": x[500:], "yt": y[500:]}.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    paths["x_npz"] = tmp_path / "x.npz"
    np.savez(paths["x_npz"], emb=x[:500])
    paths["y_st"] = tmp_path / "y.safetensors"
    save_file({"emb": y[:500]}, str(paths["y_st"]))
    return paths


def test_fit_apply_evaluate_round_trip(arrays: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "map.safetensors"
    proc = run(
        "align",
        "fit",
        arrays["x_npz"],
        arrays["y_st"],
        "--out",
        model,
        "--method",
        "affine",
        "--source-encoder",
        "enc-a",
    )
    assert proc.returncode == 0, proc.stderr
    assert read_metadata(model)["source_encoder"] == "enc-a"
    out = tmp_path / "mapped.npy"
    assert run("align", "apply", model, arrays["xt"], "--out", out).returncode == 0
    mapped = np.load(out)
    expected = (
        Aligner("affine", "standard")
        .fit(np.load(arrays["x"]), np.load(arrays["y"]))
        .transform(np.load(arrays["xt"]))
    )
    assert mapped.dtype == np.float32
    np.testing.assert_allclose(mapped, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mapped, load_aligner(model).transform(np.load(arrays["xt"])))
    back = tmp_path / "back.npy"
    assert run("align", "apply", model, out, "--out", back, "--inverse").returncode == 0
    np.testing.assert_allclose(np.load(back), np.load(arrays["xt"]), atol=1e-3)
    proc = run("align", "evaluate", model, arrays["xt"], arrays["yt"], "--json")
    report = json.loads(proc.stdout)
    assert report["n"] == 100 and report["top1"] == 1.0 and report["cosine"] > 0.99
    table = run("align", "evaluate", model, arrays["xt"], arrays["yt"]).stdout
    assert "mrr" in table and "knn_jaccard@10" in table


def test_fit_with_selected_anchors(arrays: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    proc = run(
        "align",
        "fit",
        arrays["x"],
        arrays["y"],
        "-o",
        model,
        "--anchors",
        "40",
        "--anchor-strategy",
        "farthest",
    )
    assert proc.returncode == 0, proc.stderr
    assert read_metadata(model)["n_anchors"] == "40"


def test_mismatched_rows(arrays: dict[str, Path], tmp_path: Path) -> None:
    fails_cleanly(
        run("align", "fit", arrays["x"], arrays["yt"], "-o", tmp_path / "m.safetensors"),
        "source x.npy 500",
        "target yt.npy 100",
        "no side has ids",
    )


def test_nan_in_anchors(arrays: dict[str, Path], tmp_path: Path) -> None:
    x = np.load(arrays["x"])
    x[3, 1] = np.inf
    bad = tmp_path / "bad.npy"
    np.save(bad, x)
    fails_cleanly(
        run("align", "fit", bad, arrays["y"], "-o", tmp_path / "m.safetensors"),
        "NaN or Inf",
        "row 3",
    )


def test_too_few_anchors(arrays: dict[str, Path], tmp_path: Path) -> None:
    small_x, small_y = tmp_path / "sx.npy", tmp_path / "sy.npy"
    np.save(small_x, np.load(arrays["x"])[:8])
    np.save(small_y, np.load(arrays["y"])[:8])
    fails_cleanly(
        run(
            "align", "fit", small_x, small_y, "-o", tmp_path / "m.safetensors", "--method", "linear"
        ),
        "at least 13 anchors",
        "got 8",
    )


def test_wrong_width_at_apply(arrays: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    run("align", "fit", arrays["x"], arrays["y"], "-o", model)
    fails_cleanly(
        run("align", "apply", model, arrays["y"], "-o", tmp_path / "o.npy"),
        "16 columns",
        "expects 12",
    )


def test_unreadable_and_foreign_files(arrays: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array")
    fails_cleanly(
        run("align", "fit", junk, arrays["y"], "-o", tmp_path / "m.safetensors"),
        "cannot read source file",
    )
    fails_cleanly(
        run("align", "fit", tmp_path / "nope.npy", arrays["y"], "-o", tmp_path / "m.safetensors"),
        "does not exist",
    )
    fails_cleanly(
        run("align", "apply", arrays["y_st"], arrays["x"], "-o", tmp_path / "o.npy"),
        "not a semalign aligner",
    )
    csv = tmp_path / "x.csv"
    csv.write_text("1,2\n")
    fails_cleanly(run("align", "fit", csv, arrays["y"], "-o", tmp_path / "m.safetensors"), "'.csv'")


def test_newer_format_and_bad_options(arrays: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    run("align", "fit", arrays["x"], arrays["y"], "-o", model)
    tensors, meta = load_file(str(model)), read_metadata(model)
    save_file(tensors, str(model), metadata={**meta, "format_version": "7"})
    fails_cleanly(
        run("align", "apply", model, arrays["x"], "-o", tmp_path / "o.npy"), "upgrade semalign"
    )
    fails_cleanly(
        run("align", "fit", arrays["x"], arrays["y"], "-o", model, "--method", "cca"),
        "unknown method 'cca'",
        "orthogonal",
    )


def test_help_does_not_import_torch() -> None:
    code = "import sys, semalign.cli; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code], timeout=TIMEOUT).returncode == 0
    assert run("--help").returncode == 0


def test_unknown_command_is_a_usage_error_not_a_traceback() -> None:
    proc = run("nosuchcommand")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "No such command" in proc.stderr


def test_fit_ridge_cv_records_the_chosen_alpha(arrays: dict[str, Path], tmp_path: Path) -> None:
    """ridge-cv is fitted on all rows at hand (not streamed): the same alpha and map as the API."""
    model = tmp_path / "cv.safetensors"
    proc = run("align", "fit", arrays["x"], arrays["y"], "--out", model, "--method", "ridge-cv")
    assert proc.returncode == 0, proc.stderr
    api = Aligner("ridge-cv", "standard").fit(np.load(arrays["x"]), np.load(arrays["y"]))
    assert float(read_metadata(model)["alpha"]) == api.alpha_
    xt = np.load(arrays["xt"])
    np.testing.assert_allclose(load_aligner(model).transform(xt), api.transform(xt), rtol=1e-10)
