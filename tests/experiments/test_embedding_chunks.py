"""`semalign run` (the runner's Embedder) and `semalign embed` chunk images alike."""

from __future__ import annotations

import numpy as np

from semalign.experiments.embedding import Embedder
from semalign.experiments.recipe import EncoderSpec
from semalign.store import embed_to_store
from semalign.store.build import default_chunk_size
from semalign.store.items import items_from


class BytesImageEncoder:
    """A stand-in image encoder whose rows are a function of each file's bytes."""

    modality = "image"
    name = "bytes-encoder"
    fingerprint = "bytes-encoder:1"
    dim = 4

    def embed(self, paths, batch_size=32):
        rows = [np.frombuffer(open(p, "rb").read()[:16], dtype="<f4") for p in paths]
        return np.asarray(rows, dtype=np.float32)


def _chunks(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file() and "chunks" in p.parts)


def test_run_and_embed_share_image_chunks(tmp_path):
    # 600 images: one chunk at the image default (1024), several at the text one (256)
    assert default_chunk_size("image") > 600 > default_chunk_size("text")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(600):
        p = tmp_path / "img" / f"x{i:04d}.png"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(rng.standard_normal(4).astype("<f4").tobytes())
        paths.append(str(p))
    items = items_from([f"i{i:04d}" for i in range(600)], paths, "image")
    enc = BytesImageEncoder()
    run_root, embed_root = tmp_path / "run", tmp_path / "embed"
    emb = Embedder(run_root, {"b": EncoderSpec("b", "bytes-encoder", {}, 32)})
    emb.resolved["b"] = enc  # what resolve_encoder would return
    _, x = emb.embed("b", items, "images")
    rep = embed_to_store(enc, items, embed_root)  # `semalign embed` without --chunk-size
    assert x.shape == (600, 4) and x.dtype == np.float64
    _, x32 = emb.embed("b", items, "images", np.float32)  # the anchor pool's rows, as stored
    assert x32.dtype == np.float32 and np.array_equal(x32, x)
    assert _chunks(run_root) and _chunks(run_root) == _chunks(embed_root)
    assert rep.chunks_total == 1
