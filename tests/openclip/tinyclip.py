"""A tiny, randomly initialised open_clip model saved in the layout of BiomedCLIP's hub repo.

BiomedCLIP (``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``) holds
``open_clip_config.json`` (a timm ViT image tower, a Hugging Face BERT text tower named by
``text_cfg.hf_model_name``), ``open_clip_pytorch_model.bin`` and the tokenizer files. Here the
ViT is timm's ``test_vit`` (64 wide, 6 blocks) and the BERT 32 wide with 2 layers; the config keys
are BiomedCLIP's own. Two copies are made:

``folder``  a local folder whose config names a local tiny BERT folder (``hf_model_name``);
``hub``     a Hugging Face cache (``HF_HUB_CACHE``) holding the same files under BiomedCLIP's
            repo id, and the tiny BERT under BiomedBERT's repo id, which the config there names:
            with ``HF_HUB_OFFLINE=1`` the registry name ``biomedclip`` loads it unchanged.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIOMEDCLIP = "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
BIOMEDBERT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
WORDS = (
    "a an the of in no with is are and there x ray chest lung lungs clear normal heart size "
    "pleural effusion fluid space pneumonia opacity consolidation cardiomegaly enlarged focal"
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
IMAGE_SIZE = 160


@dataclass(frozen=True)
class Tiny:
    folder: Path  # the model in BiomedCLIP's layout, text tower -> local BERT folder
    bert: Path  # the tiny BERT (config + tokenizer), as BiomedBERT's repo would hold it
    hub: Path  # an HF_HUB_CACHE holding both under the real repo ids
    images: list[Path]  # 8-bit grey PNGs of assorted sizes


def open_clip_config(text_model: str) -> dict:
    """BiomedCLIP's config, shrunk: same keys, tiny towers."""
    return {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {
                "timm_model_name": "test_vit",
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
                "image_size": IMAGE_SIZE,
            },
            "text_cfg": {
                "hf_model_name": text_model,
                "hf_tokenizer_name": text_model,
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": 48,
            },
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    }


def tiny_bert(folder: Path) -> Path:
    """A BERT config and WordPiece tokenizer files (no weights: open_clip's checkpoint has them)."""
    from transformers import BertConfig, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS.split())]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64,
    ).save_pretrained(folder)  # fmt: skip
    return folder


def save_model(folder: Path, bert: Path, seed: int) -> Path:
    """Write the config, random weights (seeded) and tokenizer files into ``folder``."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(open_clip_config(str(bert)), indent=2))
    for name in TOKENIZER_FILES:
        shutil.copy(bert / name, folder / name)
    torch.manual_seed(seed)
    net = open_clip.create_model(f"local-dir:{folder}", pretrained_text=False)
    torch.save(net.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


def plant_hub_cache(hub: Path, repo: str, files: dict[str, Path | str], commit: str) -> Path:
    """Lay out ``repo`` in a Hugging Face cache as a download of ``commit`` would."""
    base = hub / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    for name, src in files.items():
        if isinstance(src, Path):
            shutil.copy(src, snapshot / name)
        else:
            (snapshot / name).write_text(src)
    return snapshot


def grey_pngs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` smooth 8-bit grey PNGs of assorted shapes (resize and crop both matter)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h, w = 150 + 17 * i, 190 - 9 * i
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        f = rng.normal(size=4)
        img = np.sin(f[0] * 9 * xx + f[1] * 7 * yy) + 0.5 * np.cos(f[2] * 13 * xx * yy + f[3])
        img += 0.3 * rng.random((h, w))
        img = (img - img.min()) / (img.max() - img.min())
        path = folder / f"img{i:02d}.png"
        Image.fromarray((img * 255).astype(np.uint8), "L").save(path)
        paths.append(path)
    return paths


def build_tiny(root: Path, seed: int = 0) -> Tiny:
    bert = tiny_bert(root / "bert")
    folder = save_model(root / "biomedclip-tiny", bert, seed)
    hub = root / "hub"
    files: dict[str, Path | str] = {n: folder / n for n in TOKENIZER_FILES}
    files["open_clip_pytorch_model.bin"] = folder / "open_clip_pytorch_model.bin"
    files["open_clip_config.json"] = json.dumps(open_clip_config(BIOMEDBERT), indent=2)
    plant_hub_cache(hub, BIOMEDCLIP, files, "1" * 40)
    bert_files: dict[str, Path | str] = {n: bert / n for n in (*TOKENIZER_FILES, "config.json")}
    plant_hub_cache(hub, BIOMEDBERT, bert_files, "2" * 40)
    return Tiny(folder, bert, hub, grey_pngs(root / "images", 12))
