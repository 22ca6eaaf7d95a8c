"""The offline packaged models give real, sensible embeddings."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from semalign.encoders import Encoder, load_encoder
from semalign.errors import InputError

PHRASES = ["pleural effusion", "fluid in the pleural space", "normal heart size"]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_minilm_matches_sentence_transformers_encode(minilm):
    from sentence_transformers import SentenceTransformer

    from semalign.encoders.packaged import minilm_path

    texts = [
        *PHRASES,
        "No acute cardiopulmonary process. Heart size is normal and the lungs are clear. " * 12,
        "Small left apical pneumothorax.",
    ]
    ours = minilm.embed(texts, batch_size=2)
    st = SentenceTransformer(str(minilm_path()), device="cpu")
    ref = st.encode(texts, batch_size=2, convert_to_numpy=True)
    assert isinstance(minilm, Encoder)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous and ours.shape == (5, 384)
    np.testing.assert_allclose(ours, ref, atol=2e-6)  # long text: truncated at 256 tokens by both
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_minilm_paraphrase_closer_than_unrelated(minilm):
    a, b, c = minilm.embed(PHRASES)
    assert _cos(a, b) > _cos(a, c) + 0.2


def test_minilm_batch_size_does_not_change_results(minilm):
    texts = [
        f"opacity in the {side} lower lobe, {k} cm" for side in ("left", "right") for k in range(5)
    ]
    np.testing.assert_allclose(
        minilm.embed(texts, batch_size=1), minilm.embed(texts, batch_size=7), atol=1e-6
    )


def test_minilm_rejects_empty_text_and_reports_it(minilm):
    with pytest.raises(InputError, match=r"item 1 .*empty text"):
        minilm.embed(["effusion", "   ", "edema"])
    out = minilm.embed_outcome(["effusion", "   ", "edema"])
    assert (
        out.ok == [0, 2] and out.failures == {1: "empty text"} and out.embeddings.shape == (2, 384)
    )


def test_e5_small_real_embeddings():
    e5 = load_encoder("e5-small")
    x = e5.embed(PHRASES)
    assert x.shape == (3, 384) and x.dtype == np.float32 and x.flags.c_contiguous
    assert _cos(x[0], x[1]) > _cos(x[0], x[2])
    passage = load_encoder("e5-small", prefix="passage")
    assert passage.fingerprint != e5.fingerprint
    assert not np.allclose(passage.embed(PHRASES[:1]), x[:1])


def test_efficientnet_is_the_imagenet_model(effnet):
    """On sklearn's bundled photos the ImageNet head names what is in them."""
    from sklearn.datasets import load_sample_image

    from semalign.encoders.images import read_image

    flower = effnet.transform(read_image(load_sample_image("flower.jpg")))
    china = effnet.transform(read_image(load_sample_image("china.jpg")))
    import torch

    logits = effnet.logits(torch.stack([flower, china]))
    assert int(logits[0].argmax()) == 985  # daisy
    top5 = set(logits[1].topk(5).indices.tolist())
    assert top5 & {442, 483, 698}  # bell cote, castle, palace


def test_efficientnet_embeds_real_chest_xrays(effnet):
    from semalign.data.packaged import kermany_mini_dir, rg1_dicom

    paths = [*sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg")))[:4], str(rg1_dicom())]
    x = effnet.embed(paths, batch_size=2)
    assert x.shape == (5, 1280) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.all(np.isfinite(x)) and np.all(x.std(axis=1) > 0)
    again = load_encoder("efficientnet-lite0", device="cpu", num_workers=2).embed(
        paths, batch_size=2
    )
    np.testing.assert_allclose(again, x, rtol=0, atol=1e-5)  # workers decode the same pixels


def test_efficientnet_reports_unreadable_images(effnet, tmp_path):
    from semalign.data.packaged import rg1_dicom

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    out = effnet.embed_outcome([str(rg1_dicom()), str(bad), str(tmp_path / "missing.png")])
    assert out.ok == [0] and set(out.failures) == {1, 2}
    assert "broken.png" in out.failures[1]
    with pytest.raises(InputError, match="item 1"):
        effnet.embed([str(rg1_dicom()), str(bad)])
