"""The open_clip backend on a tiny BiomedCLIP-like folder, against open_clip's own calls.

``load_encoder(folder)`` is the path ``biomedclip`` takes with the hub id replaced by the folder
(the hub id itself, from a planted cache, runs in test_cli_zeroshot.py).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from semalign.encoders import load_encoder  # noqa: E402
from semalign.encoders.images import read_image  # noqa: E402
from semalign.encoders.registry import infer_backend  # noqa: E402
from semalign.errors import InputError  # noqa: E402

TEXTS = [
    "there is a pleural effusion",
    "normal chest x ray",
    "lungs are clear",
    "focal consolidation in the lung",
    "enlarged heart size",
]


@pytest.fixture(scope="module")
def theirs(tiny):
    """open_clip's own model, preprocess and tokenizer for the folder."""
    model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{tiny.folder}")
    return model.eval(), preprocess, open_clip.get_tokenizer(f"local-dir:{tiny.folder}")


@pytest.fixture(scope="module")
def ours(tiny):
    return load_encoder(str(tiny.folder), device="cpu", precision="float32", num_workers=0)


def _unit(x: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(x, dim=-1).numpy()


def test_folder_is_an_open_clip_dual_encoder(tiny, ours):
    assert infer_backend(str(tiny.folder)) == "open_clip"
    assert ours.joint_space and ours.text.dim == ours.image.dim == 16
    assert (ours.text.modality, ours.image.modality) == ("text", "image")


def test_our_preprocessing_equals_open_clip_preprocess(tiny, ours, theirs):
    _, preprocess, _ = theirs
    for path in tiny.images:
        mine = ours.image.preprocess(read_image(path))
        ref = preprocess(Image.open(path).convert("RGB"))
        assert mine.shape == (3, 160, 160)
        assert torch.equal(mine, ref), path.name


def test_text_tower_equals_encode_text(ours, theirs):
    model, _, tokenizer = theirs
    with torch.no_grad():
        ref = _unit(model.encode_text(tokenizer(TEXTS)))
    got = ours.text.embed(TEXTS, batch_size=2)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert np.abs(ref[0] - ref[1]).max() > 1e-3  # the towers are not constant


def test_image_tower_equals_encode_image(tiny, ours, theirs):
    model, preprocess, _ = theirs
    pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in tiny.images])
    with torch.no_grad():
        ref = _unit(model.encode_image(pixels))
    got = ours.image.embed([str(p) for p in tiny.images], batch_size=5)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    one = load_encoder(f"{tiny.folder}:image", device="cpu", num_workers=0)
    np.testing.assert_allclose(one.embed([str(tiny.images[3])]), ref[3:4], atol=1e-5)
    raw = load_encoder(str(tiny.folder), device="cpu", normalize=False, num_workers=0)
    with torch.no_grad():
        unnormalised = model.encode_image(pixels[:2]).numpy()
    np.testing.assert_allclose(raw.image.embed(tiny.images[:2]), unnormalised, atol=1e-5)


def test_fingerprint_follows_content_not_path(tiny, ours, tmp_path):
    from openclip.tinyclip import save_model

    again = load_encoder(str(tiny.folder), device="cpu", precision="float32")
    assert again.text.fingerprint == ours.text.fingerprint
    assert again.image.fingerprint == ours.image.fingerprint
    assert ours.text.fingerprint != ours.image.fingerprint
    moved = shutil.copytree(tiny.folder, tmp_path / "moved")
    copy = load_encoder(str(moved), device="cpu", precision="float32")
    assert copy.image.fingerprint == ours.image.fingerprint  # a copied folder keeps its cache
    other = load_encoder(
        str(save_model(tmp_path / "seed1", tiny.bert, seed=1)), device="cpu", precision="float32"
    )
    assert other.text.fingerprint != ours.text.fingerprint
    assert other.image.fingerprint != ours.image.fingerprint
    raw = load_encoder(str(tiny.folder), device="cpu", precision="float32", normalize=False)
    assert raw.image.fingerprint != ours.image.fingerprint


def test_incomplete_folder_is_named(tiny, tmp_path):
    broken = shutil.copytree(tiny.folder, tmp_path / "no-weights")
    (broken / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(InputError, match="not a complete open_clip model") as info:
        load_encoder(str(broken), device="cpu")
    assert "open_clip_pytorch_model.bin" in str(info.value)
