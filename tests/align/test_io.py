"""Save/load round trips and clear failures on foreign, newer or corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from semalign.align import METHODS, Aligner, load_aligner, read_metadata
from semalign.artefacts import write_artefact
from semalign.errors import FormatError, InputError

from ._planted import planted


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scaling", ["standard", "center-l2"])
def test_round_trip(tmp_path: Path, method: str, scaling: str) -> None:
    x, y, _, _ = planted(300, 6, 9, "affine")
    fitted = Aligner(method, scaling, max_iter=5000).fit(x, y)
    path = fitted.save(tmp_path / "t.safetensors", source_encoder="minilm", target_encoder="e5")
    loaded = load_aligner(path)
    np.testing.assert_array_equal(loaded.transform(x), fitted.transform(x))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.n_anchors_ == 300
    assert (loaded.source_encoder_, loaded.target_encoder_) == ("minilm", "e5")
    meta = read_metadata(path)
    assert meta["method"] == method and meta["d_source"] == "6" and meta["d_target"] == "9"
    assert (meta["rank"], meta["null_space"]) == ("6", "none")
    assert (loaded.rank_, loaded.null_space_) == (6, "none")
    assert (loaded.n_iter_, loaded.converged_) == (fitted.n_iter_, fitted.converged_)
    assert meta["converged"] == "true" and len(meta["sha256"]) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]  # no temporary left


def test_rank_and_convergence_are_saved(tmp_path: Path) -> None:
    x, y, _, _ = planted(8, 20, 20)
    meta = read_metadata(Aligner("orthogonal").fit(x, y).save(tmp_path / "o.safetensors"))
    assert (meta["rank"], meta["null_space"]) == ("7", "zero")
    x, y, _, _ = planted(300, 6, 9, "affine")
    with pytest.warns(UserWarning, match="max_iter=3"):
        early = Aligner("sgd-affine", max_iter=3).fit(x, y)
    loaded = load_aligner(early.save(tmp_path / "s.safetensors"))
    assert (loaded.n_iter_, loaded.converged_) == (3, False)
    assert read_metadata(tmp_path / "s.safetensors")["converged"] == "false"


def _saved(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, str]]:
    x, y, _, _ = planted(50, 3, 3)
    path = Aligner().fit(x, y).save(tmp_path / "a.safetensors")
    return path, load_file(str(path)), read_metadata(path)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path, tensors, meta = _saved(tmp_path)
    save_file(tensors, str(path), metadata={**meta, "format_version": "99"})
    with pytest.raises(FormatError, match=r"version 99.*upgrade semalign"):
        load_aligner(path)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    path, tensors, meta = _saved(tmp_path)
    write_artefact(path, {**tensors, "bias": np.zeros(4)}, meta)  # re-signed: shapes checked
    with pytest.raises(FormatError, match="'bias' has shape"):
        load_aligner(path)


def test_foreign_and_unreadable_files(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(2)}, str(other))
    with pytest.raises(FormatError, match="not a semalign aligner"):
        load_aligner(other)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(InputError, match="cannot read"):
        load_aligner(junk)
    with pytest.raises(InputError, match="does not exist"):
        load_aligner(tmp_path / "missing.safetensors")
