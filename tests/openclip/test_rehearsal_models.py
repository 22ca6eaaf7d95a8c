"""The rehearsal's tiny hub models load by their registry names from a planted offline cache.

``rehearsal.models.plant_models`` writes every model that ``recipes/paper.toml`` names into a
Hugging Face cache under its real hub id; here each registry name is loaded from that cache with
HF_HUB_OFFLINE=1 through ``semalign.encoders.load_encoder``, as the rehearsal will, and used to
embed texts and images. huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE when it is
imported, so the loading runs in a fresh interpreter (as tests/openclip/test_cli_zeroshot.py does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")
pytest.importorskip("transformers")

from rehearsal.models import (
    BIOMEDCLIP_TEXT,
    HUB_MODELS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    RAD_DINO_MEAN,
    RAD_DINO_STD,
    build_repos,
    commit_of,
    plant_models,
)

from semalign.encoders.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "There is a small left pleural effusion.",
    "The lungs are clear. No pneumothorax.",
    "Mild cardiomegaly with bibasilar atelectasis.",
]
WORDS = [
    *TEXTS,
    "findings impression heart size normal pulmonary edema consolidation pneumonia opacity",
    "cardiomediastinal silhouette within normal limits effusion effusion pleural",
]

#: registry name (tower) -> what the loaded encoder must show: (dim, model_type, preprocessing)
RAD_DINO_PRE = (("shortest_edge", 518), (518, 518), RAD_DINO_MEAN, RAD_DINO_STD)
DINOV2_PRE = (("shortest_edge", 256), (224, 224), IMAGENET_MEAN, IMAGENET_STD)
EXPECTED = {
    "rad-dino": (48, "dinov2", RAD_DINO_PRE),
    "dinov2-base": (32, "dinov2", DINOV2_PRE),
    "cxr-bert-general": (64, "bert", None),
    "biomedbert": (48, "bert", None),
    "bert-base": (32, "bert", None),
    "clip-vit-b16:image": (
        512, "clip", (("shortest_edge", 224), (224, 224), OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    ),
    "clip-vit-b16:text": (512, "clip", None),
    "biomedclip:image": (512, "open_clip", None),
    "biomedclip:text": (512, "open_clip", None),
}  # fmt: skip

PROBE = r"""
import json, sys
import numpy as np
from semalign.encoders import load_encoder

names, texts, images = json.loads(sys.argv[1])
out = {}
for name in names:
    enc = load_encoder(name, device="cpu", precision="float32", **(
        {} if name.endswith(":text") or name in ("cxr-bert-general", "biomedbert", "bert-base")
        else {"num_workers": 0}))
    row = {"dim": enc.dim, "modality": enc.modality}
    vec = enc.embed(texts if enc.modality == "text" else images, batch_size=2)
    row["shape"], row["finite"] = list(vec.shape), bool(np.isfinite(vec).all())
    row["spread"] = float(np.abs(vec[0] - vec[1]).max())
    owner = getattr(enc, "parent", enc)
    model = getattr(owner, "model", None)
    cfg = getattr(model, "config", None)
    row["model_type"] = getattr(cfg, "model_type", "open_clip")
    pre = getattr(enc, "preprocess", None)
    if hasattr(pre, "describe"):
        d = pre.describe()
        row["preprocess"] = [d["resize"], d["crop"], d["mean"], d["std"], d["interpolation"]]
    if cfg is not None and hasattr(cfg, "vision_config"):
        v, t = cfg.vision_config, cfg.text_config
        row["clip"] = [v.image_size, v.patch_size, t.max_position_embeddings, cfg.projection_dim]
    elif cfg is not None and hasattr(cfg, "patch_size"):
        row["vit"] = [cfg.image_size, cfg.patch_size, type(cfg).__name__, cfg.architectures]
    elif cfg is not None:
        row["bert"] = [type(cfg).__name__, cfg.max_position_embeddings, cfg.architectures]
    tok = getattr(owner, "tokenizer", None)
    if enc.modality == "text" and tok is not None:
        if hasattr(tok, "convert_ids_to_tokens"):
            ids = tok(texts[0])["input_ids"]
            row["tokens"] = tok.convert_ids_to_tokens(ids)
            row["tokenizer"] = [type(tok).__name__, bool(getattr(tok, "do_lower_case", True))]
        else:  # open_clip's HFTokenizer
            ids = tok([texts[0]])[0].tolist()
            row["tokens"] = [t for t in tok.tokenizer.convert_ids_to_tokens(ids) if t != "[PAD]"]
            row["context_length"] = tok.context_length
    if name.startswith("biomedclip"):
        row["preprocess_cfg"] = dict(owner._preprocess_cfg)
        row["image_size"] = list(owner.model.visual.image_size)
    out[name] = row
print("PROBE" + json.dumps(out))
"""


def _grey_pngs(folder: Path) -> list[str]:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(300, 260), (240, 320), (280, 280)]):
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        img = np.sin((3 + 4 * i) * xx + 5 * yy) + 0.2 * rng.random((h, w))
        img = (255 * (img - img.min()) / (img.max() - img.min())).astype(np.uint8)
        Image.fromarray(img, "L").save(folder / f"cxr{i}.png")
        paths.append(str(folder / f"cxr{i}.png"))
    return paths


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    hub = tmp_path_factory.mktemp("hub")
    return hub, plant_models(hub, words=WORDS, seed=0)


@pytest.fixture(scope="module")
def probe(planted, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    hub, _ = planted
    images = _grey_pngs(tmp_path_factory.mktemp("img") / "png")
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}  # fmt: skip
    env.pop("HF_HOME", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([list(EXPECTED), TEXTS, images])],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line.removeprefix("PROBE"))


def test_hub_ids_are_the_registry_ids_of_the_recipe_models():
    recipe = (ROOT / "recipes" / "paper.toml").read_text()
    for name, repo in HUB_MODELS.items():
        assert REGISTRY[name].model.removeprefix("hf-hub:") == repo
        assert f'"{name}' in recipe
    models = {line.split('"')[1].split(":")[0] for line in recipe.splitlines()
              if line.startswith("model = ")}  # fmt: skip
    assert models == set(HUB_MODELS)


def test_cache_layout_and_file_names(planted):
    hub, snapshots = planted
    assert set(snapshots) == {*HUB_MODELS.values(), BIOMEDCLIP_TEXT}
    for repo, snap in snapshots.items():
        base = hub / f"models--{repo.replace('/', '--')}"
        commit = (base / "refs" / "main").read_text()
        assert snap == base / "snapshots" / commit and len(commit) == 40
        for f in snap.iterdir():  # relative links into blobs/, as huggingface_hub lays them out
            assert f.is_symlink() and f.resolve().parent == (base / "blobs").resolve()
    names = {repo: {p.name for p in snap.iterdir()} for repo, snap in snapshots.items()}
    assert names[HUB_MODELS["rad-dino"]] == {
        "config.json", "model.safetensors", "preprocessor_config.json"}  # fmt: skip
    assert {"vocab.json", "merges.txt", "tokenizer.json", "preprocessor_config.json"} <= names[
        HUB_MODELS["clip-vit-b16"]
    ]
    assert {"open_clip_config.json", "open_clip_pytorch_model.bin", "vocab.txt"} <= names[
        HUB_MODELS["biomedclip"]
    ]
    cfg = json.loads((snapshots[HUB_MODELS["biomedclip"]] / "open_clip_config.json").read_text())
    text = cfg["model_cfg"]["text_cfg"]
    assert text["hf_model_name"] == text["hf_tokenizer_name"] == BIOMEDCLIP_TEXT
    assert text["context_length"] == 256 and cfg["model_cfg"]["embed_dim"] == 512
    cxr = json.loads((snapshots[HUB_MODELS["cxr-bert-general"]] / "config.json").read_text())
    assert "auto_map" not in cxr and cxr["architectures"] == ["BertForMaskedLM"]
    for snap in snapshots.values():
        assert sum(p.stat().st_size for p in snap.iterdir()) < 5_000_000


def test_planting_is_deterministic_for_a_seed(planted):
    _, snapshots = planted
    again = build_repos(WORDS, seed=0)
    assert {repo: commit_of(repo, files) for repo, files in again.items()} == {
        repo: snap.name for repo, snap in snapshots.items()
    }
    other = build_repos(WORDS, seed=1)
    assert commit_of("microsoft/rad-dino", other["microsoft/rad-dino"]) != (
        snapshots["microsoft/rad-dino"].name
    )


def test_every_recipe_model_loads_offline_and_embeds(probe):
    assert set(probe) == set(EXPECTED)
    for name, (dim, model_type, pre) in EXPECTED.items():
        row = probe[name]
        n = len(TEXTS) if row["modality"] == "text" else 3
        assert row["dim"] == dim and row["shape"] == [n, dim], name
        assert row["finite"], name
        assert row["spread"] > 1e-4, f"{name}: two inputs give the same vector"
        assert row["model_type"] == model_type, name
        if pre is not None:
            resize, crop, mean, std = pre
            assert row["preprocess"][:2] == [list(resize), list(crop)], name
            np.testing.assert_allclose(row["preprocess"][2], mean, rtol=1e-6)
            np.testing.assert_allclose(row["preprocess"][3], std, rtol=1e-6)
            assert row["preprocess"][4] == "bicubic", name


def test_loaded_configs_keep_the_real_layout(probe):
    assert probe["rad-dino"]["vit"] == [518, 14, "Dinov2Config", ["Dinov2Model"]]
    assert probe["dinov2-base"]["vit"] == [518, 14, "Dinov2Config", ["Dinov2Model"]]
    for name in ("cxr-bert-general", "biomedbert", "bert-base"):
        assert probe[name]["bert"] == ["BertConfig", 512, ["BertForMaskedLM"]], name
    assert probe["clip-vit-b16:image"]["clip"] == [224, 16, 77, 512]
    bmc = probe["biomedclip:image"]
    np.testing.assert_allclose(bmc["preprocess_cfg"]["mean"], OPENAI_CLIP_MEAN, rtol=1e-6)
    np.testing.assert_allclose(bmc["preprocess_cfg"]["std"], OPENAI_CLIP_STD, rtol=1e-6)
    assert bmc["image_size"] == [224, 224]
    assert probe["biomedclip:text"]["context_length"] == 256


def test_reports_tokenise_into_words_not_unknowns(probe):
    words = ["there", "is", "a", "small", "left", "pleural", "effusion"]
    for name in ("cxr-bert-general", "biomedbert", "bert-base", "biomedclip:text"):
        tokens = probe[name]["tokens"]
        assert "[UNK]" not in tokens, name
        assert [t for t in tokens if t.isalpha()] == words, (name, tokens)
    for name in ("cxr-bert-general", "biomedbert", "bert-base"):
        assert probe[name]["tokenizer"][1] is True, name  # uncased, as the real ones
    clip = probe["clip-vit-b16:text"]["tokens"]
    assert clip[0] == "<|startoftext|>" and clip[-1] == "<|endoftext|>"
    assert [t for t in clip[1:-1] if t != ".</w>"] == [w + "</w>" for w in words], clip
