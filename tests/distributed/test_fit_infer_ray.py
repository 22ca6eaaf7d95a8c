"""Streaming fit on Ray equals the local fit; inference over a store on Ray equals local."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from semalign.align import Aligner
from semalign.distributed.fit import fit_on_ray
from semalign.distributed.infer import predict_on_ray
from semalign.errors import InputError
from semalign.store import embed_to_store, items_from, read_store

RNG = np.random.default_rng(7)
N, D_S, D_T = 300, 12, 8
SOURCE = (RNG.normal(size=(N, D_S)) * RNG.uniform(0.5, 3, D_S) + 40.0).astype(np.float32)
TARGET = SOURCE[:, :D_T] @ RNG.normal(size=(D_T, D_T)) + 0.1 * RNG.normal(size=(N, D_T)) - 7
TARGET = TARGET.astype(np.float32)
CASES = [("orthogonal", "standard"), ("affine", "center"), ("ridge", "l2"),
         ("similarity", "center-l2")]  # fmt: skip


class TableEncoder:
    """A stand-in encoder: the text "k" embeds to row k of a fixed table."""

    modality = "text"

    def __init__(self, name: str, table: np.ndarray) -> None:
        self.name, self.table, self.dim = name, table, table.shape[1]
        self.fingerprint = f"table-{name}-{table.shape}"

    def embed(self, items, batch_size: int = 32) -> np.ndarray:
        return np.ascontiguousarray(self.table[[int(t) for t in items]])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Source store of all N ids (chunks of 64); target of 280 of them, shuffled (chunks of 50)."""
    root = tmp_path_factory.mktemp("stores")
    src_items = items_from([f"a{k}" for k in range(N)], [str(k) for k in range(N)], "text")
    order = RNG.permutation(N)[:280]
    tgt_items = items_from([f"a{k}" for k in order], [str(k) for k in order], "text")
    src = embed_to_store(TableEncoder("src", SOURCE), src_items, root, chunk_size=64).path
    tgt = embed_to_store(TableEncoder("tgt", TARGET), tgt_items, root, chunk_size=50).path
    common = [k for k in range(N) if k in set(order.tolist())]
    return src, tgt, common


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize(("method", "scaling"), CASES)
def test_fit_on_ray_equals_local_fit(ray_local, stores, method, scaling) -> None:
    src, tgt, common = stores
    local = Aligner(method, scaling).fit(SOURCE[common], TARGET[common])
    ray_fit = fit_on_ray(Aligner(method, scaling), src, tgt, block_rows=37)
    assert ray_fit.n_anchors_ == len(common) == local.n_anchors_
    assert rel(ray_fit.weight_, local.weight_) <= 1e-8
    assert rel(ray_fit.transform(SOURCE.astype(np.float64)),
               local.transform(SOURCE.astype(np.float64))) <= 1e-8  # fmt: skip
    arrays = fit_on_ray(Aligner(method, scaling), SOURCE[common], TARGET[common], block_rows=50)
    assert rel(arrays.weight_, local.weight_) <= 1e-8


def test_block_moments_merged_equal_fit_without_ray() -> None:
    for method, scaling in CASES:
        a = Aligner(method, scaling)
        means = (SOURCE.astype(np.float64).mean(0), TARGET.astype(np.float64).mean(0))
        blocks = [a.block_moments(SOURCE[s : s + 70], TARGET[s : s + 70], means)
                  for s in range(0, N, 70)]  # fmt: skip
        total = blocks[0]
        for m in blocks[1:]:
            total = total.merge(m)
        fitted = Aligner(method, scaling).fit_moments(total, means)
        local = Aligner(method, scaling).fit(SOURCE, TARGET)
        assert rel(fitted.weight_, local.weight_) <= 1e-8
        assert rel(fitted.bias_ + 1.0, local.bias_ + 1.0) <= 1e-8
    with pytest.raises(InputError, match="means"):
        Aligner("orthogonal", "center-l2").block_moments(SOURCE, TARGET)
    # every method's moments carry X^T X (the rank rule needs it), so moments computed for an
    # orthogonal map also fit an affine one, equal to the local affine fit
    m = Aligner("orthogonal", "standard").block_moments(SOURCE, TARGET)
    affine = Aligner("affine", "standard").fit_moments(m)
    assert rel(affine.weight_, Aligner("affine", "standard").fit(SOURCE, TARGET).weight_) <= 1e-8
    stripped = dataclasses.replace(m, cxx=None)
    with pytest.raises(InputError, match="source co-moment"):
        Aligner("affine", "standard").fit_moments(stripped)


def test_fit_on_ray_rejects_unpaired_stores(ray_local, stores) -> None:
    src, tgt, _ = stores
    with pytest.raises(InputError, match="not in both stores"):
        fit_on_ray(Aligner(), src, tgt, ids=["a0", "a1", "nope"])


def test_zero_shot_and_stitched_inference_on_ray_equal_local(ray_local, stores) -> None:
    from semalign.tasks.heads import LogisticHead
    from semalign.tasks.stitching import StitchedModel
    from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier

    src, _, common = stores
    ids, x = read_store(src)
    aligner = Aligner("orthogonal", "standard").fit(SOURCE[common], TARGET[common])
    prompts = PromptEmbeddings(
        ["effusion", "normal"],
        [RNG.normal(size=(3, D_T)) - 7, RNG.normal(size=(2, D_T)) - 7],
        [RNG.normal(size=(2, D_T)) - 7, RNG.normal(size=(2, D_T)) - 7],
        "test",
    )
    for rule in ("argmax", "pos-neg"):
        clf = ZeroShotClassifier(prompts, rule=rule, aligner=aligner, center=TARGET.mean(0))
        out_ids, proba = predict_on_ray(clf, src, block_rows=64)
        assert out_ids == ids and proba.shape == (N, 2)
        np.testing.assert_allclose(proba, clf.predict_proba(x), rtol=1e-10, atol=1e-12)
    labels = (TARGET[:, 0] > np.median(TARGET[:, 0])).astype(int)
    model = StitchedModel(aligner, LogisticHead().fit(TARGET, labels))
    out_ids, proba = predict_on_ray(model, src, block_rows=100)
    np.testing.assert_allclose(proba, model.predict_proba(x), rtol=1e-10, atol=1e-12)
    _, mapped = predict_on_ray(aligner, x, method="transform", block_rows=128)
    np.testing.assert_allclose(mapped, aligner.transform(x), rtol=1e-6, atol=1e-5)
    with pytest.raises(InputError, match="no method 'predict_proba'"):
        predict_on_ray(object(), x)
