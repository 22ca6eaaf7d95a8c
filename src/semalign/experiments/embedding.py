"""Embeddings for the runner, always through the store, with models loaded only when needed.

The store keys an entry by the encoder's fingerprint, which needs the model loaded. To let a
finished recipe run without loading any model, the runner keeps a small index next to the store:
``STORE/experiments-index/<key>.json`` maps a key computed *without* the model (registry spec,
options, installed package version, encoder code version, item ids and content digests) to the
store entry. A miss loads the model and embeds (the store itself still resumes or reuses).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from semalign import __version__
from semalign.align.io import atomic_write_bytes
from semalign.errors import InputError
from semalign.experiments.cache import digest
from semalign.experiments.recipe import EncoderSpec
from semalign.store.items import Items

INDEX_DIR = "experiments-index"


def default_store() -> Path:
    """``$SEMALIGN_STORE``, else ``$XDG_CACHE_HOME/semalign/store`` (``~/.cache`` by default)."""
    env = os.environ.get("SEMALIGN_STORE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "semalign" / "store"


def _dist_version(model: str) -> str | None:
    from semalign.encoders.registry import REGISTRY

    spec = REGISTRY.get(model.split(":")[0])
    name = spec.model if spec is not None and spec.backend == "packaged" else None
    if name is None:
        return None
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _indexed_store(index: Path) -> Any:
    """The finished, verified store entry an index file points to; None if any check fails.

    A chunk that fails its checksum or is missing makes this a miss: the caller then embeds
    through ``embed_to_store``, which recomputes exactly the bad chunks.
    """
    from semalign.errors import FormatError
    from semalign.store import open_store

    try:
        recorded = Path(json.loads(index.read_text(encoding="utf-8"))["entry"])
        return open_store(recorded, verify=True)
    except (OSError, ValueError, KeyError, TypeError, InputError, FormatError):
        return None


@dataclass
class Embedder:
    """Embeds items with the recipe's encoders through the store under ``root``."""

    root: Path
    encoders: dict[str, EncoderSpec]
    progress: Callable[[str, int], Any] | None = None
    loaded: dict[str, Any] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    entries: dict[str, str] = field(default_factory=dict)

    def encoder(self, alias: str) -> Any:
        """The loaded encoder ``alias`` (loaded once per run)."""
        if alias not in self.loaded:
            from semalign.encoders import load_encoder

            spec = self.encoders[alias]
            self.loaded[alias] = load_encoder(spec.model, **spec.options)
        return self.loaded[alias]

    def _index_key(self, alias: str, items: Items) -> str:
        spec = self.encoders[alias]
        from semalign.encoders import ENCODER_CODE_VERSION

        return digest(
            {
                "model": spec.model,
                "options": spec.options,
                "dist": _dist_version(spec.model),
                "code": ENCODER_CODE_VERSION,
                "semalign": __version__,
                "modality": items.modality,
                "items": digest([items.ids, items.digests()]),
            }
        )

    def embed(self, alias: str, items: Items, what: str) -> tuple[str, np.ndarray]:
        """(store key, float64 (n, d) rows in ``items`` order) for encoder ``alias``."""
        from semalign.store import embed_to_store, open_store

        key = self._index_key(alias, items)
        index = self.root / INDEX_DIR / f"{key[:32]}.json"
        store = _indexed_store(index)
        if store is None:
            encoder = self.encoder(alias)
            bar = self.progress(f"embed {what} with {alias}", len(items)) if self.progress else None

            def tick(done: int, total: int) -> None:
                if bar is not None:
                    bar.update(done - bar.n)

            rep = embed_to_store(
                encoder,
                items,
                self.root,
                batch_size=self.encoders[alias].batch_size,
                chunk_size=256,
                progress=tick,
            )
            if bar is not None:
                bar.close()
            entry = rep.path
            store = open_store(entry, verify=False)  # just built or verified
            if rep.cache_hit:
                self.reused += 1
            else:
                self.computed += 1
            payload = {"entry": str(entry), "encoder": alias, "n": len(items)}
            atomic_write_bytes(index, json.dumps(payload).encode("utf-8"))
        else:
            self.reused += 1
            entry = store.path
        ids, arr = store.read()
        if list(ids) != items.ids:
            raise InputError(
                f"store entry {entry} does not hold the {len(items)} {what} items in order: "
                "delete it and run again"
            )
        self.entries[f"{alias}:{what}"] = str(entry)
        return entry.name, np.asarray(arr, dtype=np.float64)
