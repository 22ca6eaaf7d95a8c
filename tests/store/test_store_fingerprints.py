"""Fingerprints recorded once per model: a cached `semalign embed` loads no model, imports no
torch, and a changed model file (even with its size and mtime preserved) is fingerprinted anew."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from clitools import run_with_imports
from semalign.encoders import load_encoder
from semalign.store import embed_to_store, items_from, open_store
from semalign.store.fingerprints import RecordedEncoder, record_path, resolve_encoder

from .conftest import report_texts, write_manifest

WORDS = "small left pleural effusion fluid in the space heart size is normal study no acute"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT saved to a folder (as a user's own checkpoint would be)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split(), "."] + [
        str(i) for i in range(10)
    ]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


def _embed(model: str | Path, manifest: Path, root: Path, npy: Path) -> tuple[str, set[str]]:
    proc, imported = run_with_imports(
        "embed", "-e", model, "-i", manifest, "-o", root, "--device", "cpu", "-q",
        "--npy", npy,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, imported


@pytest.mark.parametrize("which", ["folder", "minilm"])
def test_cached_embed_imports_no_torch(which, tiny_bert, tmp_path):
    model = str(tiny_bert) if which == "folder" else "minilm"
    manifest = write_manifest(tmp_path / "r.jsonl", report_texts(12))
    root = tmp_path / "store"
    first, imported = _embed(model, manifest, root, tmp_path / "a.npy")
    assert "1 chunk(s) computed" in first and "torch" in imported
    second, imported = _embed(model, manifest, root, tmp_path / "b.npy")
    assert "cache hit, no model run" in second
    assert imported == set(), imported  # neither torch nor transformers
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert second.splitlines()[0] == first.splitlines()[0]  # the same entry


def _flip_weight_byte(folder: Path) -> None:
    """Change one byte of the weights in place, keeping the file's size and mtime."""
    weights = folder / "model.safetensors"
    st = weights.stat()
    blob = bytearray(weights.read_bytes())
    n = int(np.frombuffer(bytes(blob[:8]), dtype="<u8")[0])
    header = json.loads(bytes(blob[8 : 8 + n]))
    name = next(k for k in sorted(header) if k.endswith("LayerNorm.weight"))
    at = 8 + n + header[name]["data_offsets"][0] + 3  # the exponent byte of its first float
    blob[at] ^= 0x01  # 1.0 -> 0.25
    weights.write_bytes(bytes(blob))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns


def test_changed_model_file_with_same_size_and_mtime_is_refingerprinted(tiny_bert, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    manifest = write_manifest(tmp_path / "r.jsonl", report_texts(12))
    root = tmp_path / "store"
    _embed(folder, manifest, root, tmp_path / "a.npy")
    before = load_encoder(str(folder), device="cpu").fingerprint

    os.utime(folder / "config.json")  # stats change, content does not: record reused
    touched, imported = _embed(folder, manifest, root, tmp_path / "t.npy")
    assert "cache hit, no model run" in touched and imported == set()

    _flip_weight_byte(folder)
    changed, imported = _embed(folder, manifest, root, tmp_path / "b.npy")
    assert "1 chunk(s) computed" in changed and "torch" in imported
    after = load_encoder(str(folder), device="cpu").fingerprint
    assert after != before
    # oracle: the numbers a fresh store gives with the changed model
    _embed(folder, manifest, tmp_path / "fresh", tmp_path / "c.npy")
    assert np.array_equal(np.load(tmp_path / "b.npy"), np.load(tmp_path / "c.npy"))
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    again, imported = _embed(folder, manifest, root, tmp_path / "d.npy")
    assert "cache hit, no model run" in again and imported == set()


def test_options_and_versions_key_the_record(tmp_path, monkeypatch):
    root = tmp_path / "store"
    base = record_path(root, "e5-small", {})
    assert record_path(root, "e5-small", {"prefix": "passage"}) != base
    assert record_path(root, "e5-small", {"num_workers": 3}) == base  # speed only
    assert record_path(root, "minilm", {}) != record_path(root, "minilm:text", {})
    monkeypatch.setattr("semalign.store.fingerprints.__version__", "999")
    assert record_path(root, "e5-small", {}) != base

    monkeypatch.undo()
    first = resolve_encoder("e5-small", {}, root)
    assert not isinstance(first, RecordedEncoder)  # nothing recorded yet: loaded
    other = resolve_encoder("e5-small", {"prefix": "passage"}, root)
    assert not isinstance(other, RecordedEncoder)  # other options: not the first record
    assert other.fingerprint != first.fingerprint
    again = resolve_encoder("e5-small", {}, root)
    assert isinstance(again, RecordedEncoder) and not again.loaded
    assert (again.fingerprint, again.dim, again.name) == (first.fingerprint, 384, "e5-small")


def test_a_wrong_record_never_keys_wrong_numbers(tmp_path):
    root = tmp_path / "store"
    items = items_from([f"r{i}" for i in range(6)], report_texts(6), "text")
    real = load_encoder("e5-small")
    resolve_encoder("e5-small", {}, root)  # records it
    path = record_path(root, "e5-small", {})
    record = json.loads(path.read_text())
    record["fingerprint"] = "0" * 64  # as if something outside the key had changed
    path.write_text(json.dumps(record))
    rep = embed_to_store("e5-small", items, root, chunk_size=4)
    ref = embed_to_store(real, items, tmp_path / "ref", chunk_size=4)
    assert rep.key == ref.key
    assert np.array_equal(open_store(rep.path).read()[1], open_store(ref.path).read()[1])
    assert json.loads(path.read_text())["fingerprint"] == real.fingerprint  # re-recorded


def test_warm_run_imports_no_torch(tmp_path):
    from .test_store_verify import TINY_RECIPE

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE, encoding="utf-8")
    store = tmp_path / "store"
    cold, imported = run_with_imports("run", recipe, "--out", tmp_path / "a", "--store", store)
    assert cold.returncode == 0, cold.stderr
    assert "torch" in imported  # minilm was loaded to embed
    warm, imported = run_with_imports("run", recipe, "--out", tmp_path / "b", "--store", store)
    assert warm.returncode == 0, warm.stderr
    assert "models loaded: none" in warm.stdout
    assert imported == set(), imported
    a, b = (tmp_path / d / "results" / "stitch.csv" for d in "ab")
    assert a.read_bytes() == b.read_bytes()
