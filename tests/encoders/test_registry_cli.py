"""Registry, user-facing errors, the CLI commands and the import-time promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from clitools import TIMEOUT
from semalign.cli import main
from semalign.encoders import REGISTRY, load_encoder
from semalign.errors import InputError

REQUIRED = [
    "minilm", "e5-small", "efficientnet-lite0", "rad-dino", "dinov2-small", "dinov2-base",
    "dinov2-large", "vit-base", "cxr-bert-general", "cxr-bert-specialized", "biomedbert",
    "bioclinicalbert", "bert-base", "clip-vit-b16", "biomedclip",
]  # fmt: skip


def _run(args: list[str]) -> None:
    """Run the CLI in-process; a clean exit may surface as SystemExit(0)."""
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None)


def test_registry_names_and_list_command(capsys):
    assert set(REQUIRED) <= set(REGISTRY)
    assert REGISTRY["rad-dino"].model == "microsoft/rad-dino"
    _run(["encoders", "list"])
    out = capsys.readouterr().out
    for name in REQUIRED:
        assert f"\n{name} " in out
    assert "microsoft/BiomedVLP-CXR-BERT-specialized" in out


def test_unknown_names_and_options_are_user_errors():
    with pytest.raises(InputError, match="encoder 'nope' is unknown"):
        load_encoder("nope")
    with pytest.raises(InputError, match="pooling do not apply to encoder 'e5-small'"):
        load_encoder("e5-small", pooling="cls")
    with pytest.raises(InputError, match="tower 'audio' is unknown"):
        load_encoder("minilm", tower="audio")


def test_hub_model_offline_error_names_model_and_fix(tmp_path):
    (tmp_path / "m.csv").write_text("id,text\na,effusion\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "semalign", "embed", "-e", "rad-dino", "-i",
           str(tmp_path / "m.csv"), "-o", str(tmp_path / "s")]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: model 'rad-dino' (microsoft/rad-dino) is not available offline")
    assert "hf download microsoft/rad-dino" in line and "Traceback" not in res.stderr


def test_cli_import_does_not_load_torch():
    code = "import sys, semalign.cli; print(json.dumps(sorted(m for m in sys.modules)))"
    res = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                         text=True, check=True)  # fmt: skip
    loaded = set(json.loads(res.stdout))
    assert not loaded & {"torch", "transformers", "sentence_transformers", "open_clip"}


def test_cli_embed_exports_npy_and_hits_cache(tmp_path, capsys):
    lines = [json.dumps({"id": f"s{i}", "report": t}) for i, t in
             enumerate(["Left effusion.", "Clear lungs.", "Cardiomegaly."])]  # fmt: skip
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    args = ["embed", "-e", "minilm", "-i", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "s"),
            "--device", "cpu", "-q"]  # fmt: skip
    _run([*args, "--npy", str(tmp_path / "x.npy")])
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (3, 384) and (tmp_path / "x.ids.txt").read_text().split() == [
        "s0",
        "s1",
        "s2",
    ]
    capsys.readouterr()
    _run(args)
    assert "cache hit, no model run" in capsys.readouterr().out


def test_monochrome1_dicom_comes_out_with_dark_lungs():
    from semalign.data.packaged import rg1_dicom
    from semalign.encoders.images import read_image

    img = read_image(rg1_dicom())
    assert img.dtype == np.float32 and img.ndim == 2 and 0 <= img.min() and img.max() <= 1
    h, w = img.shape
    lungs = np.concatenate([img[h // 4 : h // 2, w // 5 : w // 3].ravel(),
                            img[h // 4 : h // 2, 2 * w // 3 : 4 * w // 5].ravel()])  # fmt: skip
    spine = img[h // 4 : 3 * h // 4, 15 * w // 32 : 17 * w // 32]
    assert lungs.mean() + 0.1 < spine.mean()
