"""transformers / sentence-transformers backends on tiny random models saved to a folder.

The folders are loaded through ``load_encoder(path)``: the same code path a hub id takes.
Poolings are checked against a manual computation on the model's own outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semalign.encoders import load_encoder
from semalign.encoders.registry import infer_backend
from semalign.errors import InputError

WORDS = "pleural effusion fluid in the space normal heart size no acute process lung clear"
TEXTS = ["pleural effusion", "fluid in the pleural space", "normal heart size is clear", "lung"]
CFG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)


def _tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split()]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    from transformers import (
        BertConfig,
        BertModel,
        BitImageProcessor,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        Dinov2Config,
        Dinov2Model,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    paths = {k: root / k for k in ("bert", "vit", "dinov2", "clip")}
    tok = _tokenizer(paths["bert"])
    BertModel(BertConfig(vocab_size=64, max_position_embeddings=64, **CFG)).save_pretrained(
        paths["bert"]
    )
    tok.save_pretrained(paths["bert"])
    ViTModel(ViTConfig(image_size=32, patch_size=8, **CFG)).save_pretrained(paths["vit"])
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(paths["vit"])
    Dinov2Model(Dinov2Config(image_size=28, patch_size=7, **CFG)).save_pretrained(paths["dinov2"])
    BitImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 28, "width": 28}, do_center_crop=True
    ).save_pretrained(paths["dinov2"])
    clip_cfg = CLIPConfig(
        text_config=dict(vocab_size=64, max_position_embeddings=32, **CFG),
        vision_config=dict(image_size=32, patch_size=8, **CFG),
        projection_dim=16,
    )
    CLIPModel(clip_cfg).save_pretrained(paths["clip"])
    _tokenizer(paths["clip"]).save_pretrained(paths["clip"])
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32).save_pretrained(paths["clip"])
    return paths


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((40 + 3 * i, 36 + 5 * i), dtype=np.float32) for i in range(n)]


def test_backend_inferred_from_folder(tiny):
    assert infer_backend(str(tiny["bert"])) == "transformers-text"
    assert infer_backend(str(tiny["vit"])) == "transformers-vision"
    assert infer_backend(str(tiny["dinov2"])) == "transformers-vision"
    assert infer_backend(str(tiny["clip"])) == "transformers-dual"


@pytest.mark.parametrize("pooling", ["cls", "mean", "pooler"])
def test_text_pooling_matches_manual(tiny, pooling):
    from transformers import AutoModel, AutoTokenizer

    enc = load_encoder(str(tiny["bert"]), pooling=pooling, device="cpu")
    got = enc.embed(TEXTS, batch_size=3)
    tok = AutoTokenizer.from_pretrained(tiny["bert"])
    model = AutoModel.from_pretrained(tiny["bert"]).eval()
    rows = []
    for t in TEXTS:  # one text at a time: no padding at all
        ids = tok([t], return_tensors="pt")
        with torch.no_grad():
            out = model(**ids)
        h = out.last_hidden_state[0]
        rows.append({"cls": h[0], "mean": h.mean(0), "pooler": out.pooler_output[0]}[pooling])
    want = torch.stack(rows).numpy()
    assert got.shape == (4, 32) and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_text_options_change_fingerprint_and_truncate(tiny):
    a = load_encoder(str(tiny["bert"]), pooling="mean", device="cpu")
    b = load_encoder(str(tiny["bert"]), pooling="mean", max_length=4, device="cpu")
    c = load_encoder(str(tiny["bert"]), pooling="mean", normalize=True, device="cpu")
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
    assert a.fingerprint == load_encoder(str(tiny["bert"]), pooling="mean").fingerprint
    x, y = a.embed(TEXTS[1:2]), b.embed(TEXTS[1:2])  # 5 word tokens + 2 specials > 4
    assert not np.allclose(x, y)
    np.testing.assert_allclose(np.linalg.norm(c.embed(TEXTS), axis=1), 1.0, atol=1e-5)
    with pytest.raises(InputError, match="no projected text embedding"):
        load_encoder(str(tiny["bert"]), pooling="projection")


def test_sentence_transformers_backend_on_folder(tiny):
    from sentence_transformers import SentenceTransformer

    enc = load_encoder(str(tiny["bert"]), backend="sentence-transformers", device="cpu")
    ref = SentenceTransformer(str(tiny["bert"]), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(enc.embed(TEXTS), ref, atol=1e-6)  # its default: mean pooling


VISION_CASES = [("vit", "cls"), ("vit", "pooler"), ("dinov2", "cls"), ("dinov2", "mean-patch")]


@pytest.mark.parametrize(("kind", "pooling"), VISION_CASES)
def test_vision_pooling_matches_manual(tiny, kind, pooling):
    from transformers import AutoImageProcessor, AutoModel

    enc = load_encoder(str(tiny[kind]), pooling=pooling, device="cpu", num_workers=0)
    imgs = _images(3)
    got = enc.embed(imgs, batch_size=2)
    model = AutoModel.from_pretrained(tiny[kind]).eval()
    pixels = torch.stack([enc.preprocess(im) for im in imgs])
    with torch.no_grad():
        out = model(pixel_values=pixels)
    h = out.last_hidden_state
    want = {"cls": h[:, 0], "mean-patch": h[:, 1:].mean(1), "pooler": out.pooler_output}[pooling]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    # our torch preprocessing agrees with the model's own processor on 8-bit input
    proc = AutoImageProcessor.from_pretrained(tiny[kind])
    u8 = (imgs[0] * 255).round().astype(np.uint8)
    theirs = proc(images=np.repeat(u8[:, :, None], 3, axis=2), return_tensors="pt")["pixel_values"]
    ours = enc.preprocess(u8.astype(np.float32) / 255)
    assert theirs.shape[1:] == ours.shape
    assert float((theirs[0] - ours).abs().mean()) < 0.05  # resampling kernels differ slightly


def test_clip_dual_encoder_joint_space(tiny):
    from transformers import AutoModel, AutoTokenizer

    dual = load_encoder(str(tiny["clip"]), device="cpu", num_workers=0)
    assert dual.joint_space and dual.text.dim == dual.image.dim == 16
    assert dual.text.fingerprint != dual.image.fingerprint
    t = dual.text.embed(TEXTS, batch_size=2)
    i = dual.image.embed(_images(2), batch_size=2)
    model = AutoModel.from_pretrained(tiny["clip"]).eval()
    tok = AutoTokenizer.from_pretrained(tiny["clip"])
    with torch.no_grad():
        ref = model.get_text_features(**tok(TEXTS[:1], return_tensors="pt"))
    ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
    np.testing.assert_allclose(t[0], torch.nn.functional.normalize(ref, dim=-1)[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(i, axis=1), 1.0, atol=1e-5)
    tower = load_encoder(f"{tiny['clip']}:image", device="cpu", num_workers=0)
    np.testing.assert_allclose(tower.embed(_images(2)), i, atol=1e-6)
    with pytest.raises(InputError, match="single tower"):
        load_encoder(f"{tiny['bert']}:text")


def test_incomplete_folder_is_named(tiny, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny["bert"] / "config.json").read_text())
    with pytest.raises(InputError, match="not a complete checkpoint"):
        load_encoder(str(broken))
