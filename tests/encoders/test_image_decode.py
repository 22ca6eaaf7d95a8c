"""Decoding to the size the model needs: same numbers as the full-resolution path, declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from semalign.data.images import load_image
from semalign.data.packaged import kermany_mini_dir
from semalign.encoders import load_encoder
from semalign.encoders.images import Preprocess
from semalign.errors import InputError
from semalign.store import embed_to_store, items_from


@pytest.fixture(scope="module")
def full_size_cxrs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The 16 packaged paediatric chest X-rays, upscaled to MIMIC-CXR size (3000 x 2500 JPEG)."""
    try:
        sources = sorted(kermany_mini_dir().glob("*.jpeg"))
    except InputError:
        pytest.skip("pneumonia-model-package is not installed (make setup installs it)")
    out = tmp_path_factory.mktemp("fullsize")
    paths = []
    for src in sources:
        with Image.open(src) as im:
            big = im.convert("L").resize((2500, 3000), Image.Resampling.BICUBIC)
        big.save(out / f"{src.stem}.jpg", quality=95)
        paths.append(out / f"{src.stem}.jpg")
    return paths


@pytest.fixture(scope="module")
def draft_and_exact() -> tuple[Any, Any]:
    """efficientnet-lite0 with the default (draft) decoding and with exact decoding."""
    return (
        load_encoder("efficientnet-lite0", device="cpu", num_workers=0),
        load_encoder("efficientnet-lite0", device="cpu", num_workers=0, decode="exact"),
    )


def test_draft_decoding_keeps_the_embeddings_of_full_size_cxrs(
    full_size_cxrs: list[Path], draft_and_exact: tuple[Any, Any]
) -> None:
    draft, exact = draft_and_exact
    a = draft.embed(full_size_cxrs, batch_size=8)
    b = exact.embed(full_size_cxrs, batch_size=8)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"cosine draft vs exact over {len(cos)} CXRs: min {cos.min():.4f} mean {cos.mean():.4f}")
    assert cos.min() >= 0.98, cos
    assert not np.array_equal(a, b)  # the paths really differ (the JPEGs were drafted)
    # the drafted decode is what reached the model: 1/8 of the full size still covers 224 px
    pixels = draft.preprocess.load(full_size_cxrs[0])
    assert pixels.shape == (3, 224, 224)


def test_decode_mode_is_part_of_the_fingerprint_and_the_store_key(
    tmp_path: Path, draft_and_exact: tuple[Any, Any]
) -> None:
    draft, exact = draft_and_exact
    assert draft.preprocess.describe()["decode"] == "draft"
    assert draft.fingerprint != exact.fingerprint
    img = tmp_path / "a.png"
    Image.fromarray(np.full((40, 30), 100, np.uint8)).save(img)
    items = items_from(["a"], [str(img)], "image")
    ra = embed_to_store(draft, items, tmp_path / "store")
    rb = embed_to_store(exact, items, tmp_path / "store")
    assert ra.key != rb.key
    with pytest.raises(InputError, match="decode mode 'fast'"):
        load_encoder("efficientnet-lite0", device="cpu", decode="fast")


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("resize", [("exact", 224, 224), ("shortest_edge", 96)])
def test_resize_matches_torch_antialiased_interpolation(
    interpolation: str, resize: tuple[object, ...]
) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((301, 257)).astype(np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    crop = (80, 80) if resize[0] == "shortest_edge" else None
    prep = Preprocess(resize, crop, mean, std, interpolation)
    got = prep(img).numpy()
    # oracle: the previous torch path, on a three-channel copy
    x = torch.from_numpy(np.repeat(img[None], 3, axis=0))[None]
    size = prep.resize_size(301, 257)
    ref = F.interpolate(x, size=size, mode=interpolation, align_corners=False, antialias=True)
    ref = ref.clamp(0, 1)[0]
    if crop:
        top, left = (ref.shape[1] - 80) // 2, (ref.shape[2] - 80) // 2
        ref = ref[:, top : top + 80, left : left + 80]
    ref = (ref - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert got.shape == tuple(ref.shape)
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-4)


def test_exact_mode_decodes_at_full_resolution(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:1600, 0:1200]
    path = tmp_path / "g.jpg"
    Image.fromarray((128 + 90 * np.sin(xx / 9.0 + yy / 13.0)).astype(np.uint8)).save(path)
    prep = Preprocess(("exact", 64, 64), None, (0, 0, 0), (1, 1, 1), "bilinear", "exact")
    np.testing.assert_allclose(prep.load(path).numpy()[0], prep(load_image(path)).numpy()[0])
