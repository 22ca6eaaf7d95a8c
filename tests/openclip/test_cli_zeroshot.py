"""`biomedclip` by its registry name, from a planted Hugging Face cache, through the CLI.

This is exactly what ``recipes/paper.toml`` runs for BiomedCLIP on a machine without network
(HF_HUB_OFFLINE=1 and a copied cache), with the real weights replaced by the tiny model. The
joint-space zero-shot numbers are checked against a direct computation with open_clip itself.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402

from clitools import fails_cleanly  # noqa: E402

PROMPTS = {
    "Effusion": ["there is a pleural effusion", "fluid in the pleural space"],
    "Normal": ["normal chest x ray", "lungs are clear"],
    "Pneumonia": ["focal consolidation in the lung", "pneumonia opacity"],
}
TEST_ROWS = 9  # the first 9 images are the test split, the last 3 the (unused) rest


def semalign(*args: str | Path, hub: Path) -> subprocess.CompletedProcess[str]:
    """``python -m semalign ARGS`` offline, with ``hub`` as the Hugging Face cache."""
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "semalign", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def _prompt_toml(path: Path) -> Path:
    lines = []
    for name, sentences in PROMPTS.items():
        lines += [f"[classes.{name}]", f"positive = {json.dumps(sentences)}", ""]
    path.write_text("\n".join(lines))
    return path


def _direct_probabilities(folder: Path, images: list[Path]) -> np.ndarray:
    """open_clip alone: unit image rows, unit mean of unit prompt rows, softmax(cos / 0.01)."""
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    unit = torch.nn.functional.normalize
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in images])
        img = unit(model.eval().encode_image(pixels).double(), dim=-1)
        classes = []
        for sentences in PROMPTS.values():
            t = torch.nn.functional.normalize(
                model.encode_text(tokenizer(sentences)).double(), dim=-1
            )
            classes.append(torch.nn.functional.normalize(t.mean(0), dim=0))
        logits = img @ torch.stack(classes).T / 0.01
    return torch.softmax(logits, dim=1).numpy()


def test_biomedclip_joint_zeroshot_equals_direct_computation(tiny, tmp_path):
    images = tiny.images
    names = list(PROMPTS)
    p = _direct_probabilities(tiny.folder, images[:TEST_ROWS])
    pred = p.argmax(axis=1)
    # planted truth: rows 0, 3, 6 get their predicted class, the others the next class, so the
    # accuracy must be exactly 3/9 whatever the random model predicts
    truth = [pred[i] if i % 3 == 0 else (pred[i] + 1 + i % 2) % 3 for i in range(TEST_ROWS)]
    truth = [*truth, 0, 1, 2]
    manifest, labels = tmp_path / "images.csv", tmp_path / "labels.csv"
    with manifest.open("w", newline="") as fh, labels.open("w", newline="") as gh:
        m, g = csv.writer(fh), csv.writer(gh)
        m.writerow(["id", "image"])
        g.writerow(["id", "label", "split"])
        for i, path in enumerate(images):
            m.writerow([f"r{i}", path])
            g.writerow([f"r{i}", names[truth[i]], "test" if i < TEST_ROWS else "train"])
    embed = ["embed", "-e", "biomedclip:image", "-i", manifest, "-o", tmp_path / "store",
             "--device", "cpu", "--precision", "float32", "--num-workers", "0", "-q",
             "--npy", tmp_path / "img.npy"]  # fmt: skip
    first = semalign(*embed, hub=tiny.hub)
    assert first.returncode == 0, first.stderr
    again = semalign(*embed, hub=tiny.hub)
    assert again.returncode == 0, again.stderr
    assert "cache hit, no model run" in again.stdout  # the fingerprint is stable across runs
    out = tmp_path / "zs.json"
    zs = semalign("zeroshot", tmp_path / "img.npy", "--joint", "--text-encoder", "biomedclip:text",
                  "--labels", labels, "--label-column", "label",
                  "--prompts", _prompt_toml(tmp_path / "prompts.toml"),
                  "--resamples", "0", "--json", out, hub=tiny.hub)  # fmt: skip
    assert zs.returncode == 0, zs.stderr
    rows = {r["metric"]: r for r in json.loads(out.read_text())["rows"]}
    assert {r["mode"] for r in rows.values()} == {"multimodal"}
    assert rows["accuracy"]["n"] == TEST_ROWS
    assert rows["accuracy"]["value"] == pytest.approx(3 / TEST_ROWS, abs=1e-12)
    y = np.array(truth[:TEST_ROWS])
    assert rows["macro_auroc"]["value"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="macro", labels=[0, 1, 2]), abs=1e-6
    )
    assert rows["macro_f1"]["value"] == pytest.approx(
        f1_score(y, pred, average="macro", labels=[0, 1, 2]), abs=1e-9
    )


def test_biomedclip_missing_from_the_offline_cache_says_what_to_download(tiny, tmp_path):
    from openclip.tinyclip import BIOMEDCLIP, open_clip_config, plant_hub_cache

    (tmp_path / "t.csv").write_text("id,text\na,lungs are clear\n")
    embed = ["embed", "-e", "biomedclip:text", "-i", tmp_path / "t.csv", "-o", tmp_path / "s"]
    fails_cleanly(
        semalign(*embed, hub=tmp_path / "empty-hub"),
        f"hf download {BIOMEDCLIP}",
        "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
    )
    # the repo is cached but not its text tower: the error names the tower its config names
    files: dict[str, Path | str] = {
        p.name: p for p in tiny.folder.iterdir() if p.name != "open_clip_config.json"
    }
    files["open_clip_config.json"] = json.dumps(open_clip_config("example-org/tiny-text-tower"))
    plant_hub_cache(tmp_path / "half-hub", BIOMEDCLIP, files, "3" * 40)
    fails_cleanly(
        semalign(*embed, hub=tmp_path / "half-hub"),
        "is not available offline",
        "`hf download` of its text tower, example-org/tiny-text-tower,",
    )
