"""One checked loader for maps, heads and stitched models: checksum, finite weights, no pickle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file, save, save_file

from semalign.align import Aligner, load_aligner, read_metadata
from semalign.artefacts import CHECKSUM_KEY, artefact_checksum
from semalign.errors import FormatError, InputError, SemalignError
from semalign.tasks.export import export_stitched, read_stitched
from semalign.tasks.heads import LogisticHead, load_head

from ._planted import planted


def _aligner() -> Aligner:
    x, y, _, _ = planted(40, 3, 3, "affine", noise=0.1)
    return Aligner("affine", "standard").fit(x, y)


def _head() -> LogisticHead:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return LogisticHead().fit(x, (x[:, 0] > 0).astype(int))


def _save_map(path: Path) -> Path:
    return _aligner().save(path)


def _save_head(path: Path) -> Path:
    return _head().save(path)


def _save_stitched(path: Path) -> Path:
    return export_stitched(path, encoder="minilm", aligner=_aligner(), head=_head())


def _read_stitched(path: Path) -> Any:
    return read_stitched(path)


KINDS: dict[str, tuple[Callable[[Path], Path], Callable[[Path], Any]]] = {
    "map": (_save_map, load_aligner),
    "head": (_save_head, load_head),
    "stitched": (_save_stitched, _read_stitched),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_any_flipped_byte_is_refused(kind: str, tmp_path: Path) -> None:
    write, load = KINDS[kind]
    path = write(tmp_path / "a.safetensors")
    load(path)
    original = path.read_bytes()
    corrupt = tmp_path / "corrupt.safetensors"
    loaded = []
    for offset in range(len(original)):
        data = bytearray(original)
        data[offset] ^= 0x01
        corrupt.write_bytes(bytes(data))
        try:
            load(corrupt)
        except SemalignError:
            continue
        loaded.append(offset)
    assert loaded == [], f"{len(loaded)} of {len(original)} single-bit flips loaded: {loaded[:5]}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_flipped_data_byte_names_the_file_and_the_fix(kind: str, tmp_path: Path) -> None:
    write, load = KINDS[kind]
    path = write(tmp_path / "a.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"a\.safetensors was modified or corrupted.*re-create"):
        load(path)


def _resign(path: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Rewrite a file with edited tensors and a checksum that matches them."""
    tensors, meta = load_file(str(path)), read_metadata(path)
    edit(tensors)
    meta = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
    path.write_bytes(
        save(tensors, metadata={**meta, CHECKSUM_KEY: artefact_checksum(tensors, meta)})
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_non_finite_weights_are_refused_even_with_a_valid_checksum(
    kind: str, tmp_path: Path
) -> None:
    write, load = KINDS[kind]
    path = write(tmp_path / "a.safetensors")

    def poison(tensors: dict[str, np.ndarray]) -> None:
        name = sorted(k for k in tensors if k.endswith("weight"))[0]
        tensors[name] = tensors[name].copy()
        tensors[name].flat[0] = np.nan

    _resign(path, poison)
    with pytest.raises(FormatError, match="weight' holds NaN or infinite values"):
        load(path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_files_without_a_checksum_are_refused(kind: str, tmp_path: Path) -> None:
    write, load = KINDS[kind]
    path = write(tmp_path / "a.safetensors")
    tensors, meta = load_file(str(path)), read_metadata(path)
    save_file(tensors, str(path), metadata={k: v for k, v in meta.items() if k != CHECKSUM_KEY})
    with pytest.raises(FormatError, match=r"carries no checksum.*re-create it with"):
        load(path)


def test_edited_metadata_is_refused(tmp_path: Path) -> None:
    path = _save_map(tmp_path / "a.safetensors")
    tensors, meta = load_file(str(path)), read_metadata(path)
    save_file(tensors, str(path), metadata={**meta, "target_norm": "2.0"})
    with pytest.raises(FormatError, match="modified or corrupted"):
        load_aligner(path)


def test_saving_non_finite_weights_is_refused(tmp_path: Path) -> None:
    head = _head()
    head.layers_[0][0].flat[0] = np.inf
    with pytest.raises(InputError, match=r"'layer0\.weight' holds NaN or infinite"):
        head.save(tmp_path / "h.safetensors")
    assert list(tmp_path.iterdir()) == []
