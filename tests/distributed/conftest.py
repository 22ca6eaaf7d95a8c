"""One local Ray session (2 CPUs) shared by the distributed tests, plus real report texts."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from semalign.store import Items, items_from_records


@pytest.fixture(scope="session")
def ray_local():
    ray = pytest.importorskip("ray", reason="install semalign[ray]")
    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def reports() -> Items:
    """96 real IU X-ray reports (OpenI, read in place from the torchxrayvision wheel)."""
    from semalign.data.readers.demo import read_iu_reports

    return items_from_records(list(islice(read_iu_reports(), 96)), "text", "report")


@pytest.fixture(scope="session")
def local_store(reports: Items, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local executor's minilm store entry of ``reports`` (chunks of 16)."""
    from semalign.encoders import load_encoder
    from semalign.store import embed_to_store

    root = tmp_path_factory.mktemp("local-store")
    return embed_to_store(load_encoder("minilm", device="cpu"), reports, root, chunk_size=16).path


@pytest.fixture(scope="session")
def minilm_reference(local_store: Path) -> np.ndarray:
    """The local executor's minilm embeddings of ``reports``: float32 (96, 384)."""
    from semalign.store import read_store

    return read_store(local_store)[1]


def chunk_files(entry: Path) -> dict[str, tuple[int, int]]:
    """Finished chunk files of the store holding ``entry`` -> (inode, mtime_ns)."""
    out = {}
    for p in sorted((entry.parent / "chunks").glob("*/*.safetensors")):
        st = p.stat()
        out[p.name] = (st.st_ino, st.st_mtime_ns)
    return out
