"""`semalign zeroshot --joint`: the multimodal baseline through the CLI, on a tiny CLIP.

A randomly initialised CLIP saved to a folder stands in for clip-vit-b16 (loaded through the
same code path): its image tower embeds the X-rays, its text tower the prompts, and the CLI's
scores must equal the same computation done directly in Python.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clitools import TIMEOUT

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

WORDS = "no pneumonia findings consistent with there is evidence of the lungs are clear"


def _tiny_clip(folder: Path) -> None:
    from transformers import BertTokenizerFast, CLIPConfig, CLIPImageProcessor, CLIPModel

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split()]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    CLIPModel(
        CLIPConfig(
            text_config=dict(vocab_size=len(vocab), max_position_embeddings=32, **cfg),
            vision_config=dict(image_size=32, patch_size=8, **cfg),
            projection_dim=16,
        )
    ).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32).save_pretrained(folder)


def test_joint_zeroshot_cli_equals_python(tmp_path: Path) -> None:
    from semalign.data.registry import open_dataset
    from semalign.encoders import load_encoder
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import embed_prompts, zeroshot

    clip = tmp_path / "tiny-clip"
    _tiny_clip(clip)
    records = list(open_dataset("kermany-mini"))
    with (tmp_path / "images.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image"])
        writer.writerows((r.id, str(r.image_path)) for r in records)
    labels = [int(r.labels["Pneumonia"]) for r in records]
    (tmp_path / "labels.csv").write_text(
        "id,Pneumonia,split\n"
        + "".join(
            f"{r.id},{y},{'test' if i >= 4 else 'train'}\n"
            for i, (r, y) in enumerate(zip(records, labels, strict=True))
        )
    )

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "semalign", *map(str, args)],
            capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc

    run("embed", "-e", f"{clip}:image", "-i", "images.csv", "-o", "store", "-q", "--device",
        "cpu", "--npy", "img.npy")  # fmt: skip
    run("zeroshot", "img.npy", "--joint", "--text-encoder", f"{clip}:text", "--labels",
        "labels.csv", "--label-columns", "Pneumonia", "--rule", "pos-neg", "--prompts",
        "biovil-pneumonia", "--resamples", "0", "--json", "zs.json")  # fmt: skip
    rows = json.loads((tmp_path / "zs.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    cli = {r["metric"]: r["value"] for r in rows if r["mode"] == "multimodal"}

    x = np.load(tmp_path / "img.npy")
    prompts = embed_prompts(
        load_prompt_set("biovil-pneumonia", classes=["Pneumonia"]), load_encoder(f"{clip}:text")
    )
    table = zeroshot(
        x, np.array(labels, dtype=float)[:, None], prompts, joint=True, rule="pos-neg",
        test=np.arange(4, 16), n_resamples=0,
    )  # fmt: skip
    ours = {r.metric: r.value for r in table.rows if r.mode == "multimodal"}
    assert cli and set(cli) == set(ours)
    for metric, value in ours.items():
        assert cli[metric] == pytest.approx(value, abs=1e-9), metric
