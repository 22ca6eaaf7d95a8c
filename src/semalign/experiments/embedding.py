"""Embeddings for the runner, always through the store, with models loaded only when needed.

Each encoder alias resolves through the store's fingerprint records (``store.fingerprints``):
while the model's files are unchanged its recorded fingerprint keys the store entry and the
model is loaded only if chunks must be computed, so a finished recipe runs without loading any
model (nor importing torch).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semalign.errors import InputError
from semalign.experiments.recipe import EncoderSpec
from semalign.store.items import Items


def default_store() -> Path:
    """``$SEMALIGN_STORE``, else ``$XDG_CACHE_HOME/semalign/store`` (``~/.cache`` by default)."""
    env = os.environ.get("SEMALIGN_STORE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "semalign" / "store"


@dataclass
class Embedder:
    """Embeds items with the recipe's encoders through the store under ``root``."""

    root: Path
    encoders: dict[str, EncoderSpec]
    progress: Callable[[str, int], Any] | None = None
    resolved: dict[str, Any] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    entries: dict[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> list[str]:
        """Aliases whose model was loaded in this run."""
        return sorted(a for a, e in self.resolved.items() if getattr(e, "loaded", True))

    def encoder(self, alias: str) -> Any:
        """Encoder ``alias``: resolved once per run, its model loaded only when it embeds."""
        if alias not in self.resolved:
            from semalign.store.fingerprints import resolve_encoder

            spec = self.encoders[alias]
            self.resolved[alias] = resolve_encoder(spec.model, spec.options, self.root)
        return self.resolved[alias]

    def embed(self, alias: str, items: Items, what: str) -> tuple[str, np.ndarray]:
        """(store key, float64 (n, d) rows in ``items`` order) for encoder ``alias``.

        Chunks take the store's default size for the items' modality, as ``semalign embed``
        does, so the two commands share chunks."""
        from semalign.store import embed_to_store, open_store

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
            progress=tick,
        )
        if bar is not None:
            bar.close()
        if rep.cache_hit:
            self.reused += 1
        else:
            self.computed += 1
        ids, arr = open_store(rep.path, verify=False).read()  # just built or verified
        if list(ids) != items.ids:
            raise InputError(
                f"store entry {rep.path} does not hold the {len(items)} {what} items in order: "
                "delete it and run again"
            )
        self.entries[f"{alias}:{what}"] = str(rep.path)
        return rep.path.name, np.asarray(arr, dtype=np.float64)
