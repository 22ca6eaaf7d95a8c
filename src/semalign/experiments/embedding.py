"""Embeddings for the runner, always through the store, with models loaded only when needed.

Each encoder alias resolves through the store's fingerprint records (``store.fingerprints``):
while the model's files are unchanged its recorded fingerprint keys the store entry and the
model is loaded only if chunks must be computed, so a finished recipe runs without loading any
model (nor importing torch).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semalign.errors import InputError
from semalign.experiments.recipe import Compute, EncoderSpec
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
    """Embeds items with the recipe's encoders through the store under ``root``.

    ``compute`` says how (never what): device, precision, batch size and decoding workers for
    every encoder whose own options do not set them, and the executor. With ``executor = "ray"``
    missing chunks are computed by a pool of Ray actors (one model each, ``num_gpus_per_worker``
    GPUs), in one Ray session for the whole run, started only when something must be computed;
    finished entries are read without starting Ray or loading a model, as locally.
    """

    root: Path
    encoders: dict[str, EncoderSpec]
    progress: Callable[[str, int], Any] | None = None
    compute: Compute = field(default_factory=Compute)
    resolved: dict[str, Any] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    entries: dict[str, str] = field(default_factory=dict)
    _session: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _ray: bool = False

    @property
    def loaded(self) -> list[str]:
        """Aliases whose model was loaded in this run (here or on Ray workers)."""
        return sorted(a for a, e in self.resolved.items() if getattr(e, "loaded", True))

    def options(self, alias: str) -> dict[str, Any]:
        """Encoder ``alias``'s load options: ``[compute]`` defaults under its own."""
        return {**self.compute.encoder_options(), **self.encoders[alias].options}

    def batch_size(self, alias: str) -> int:
        return self.encoders[alias].batch_size or self.compute.batch_size or 32

    def encoder(self, alias: str) -> Any:
        """Encoder ``alias``: resolved once per run, its model loaded only when it embeds."""
        if alias not in self.resolved:
            from semalign.store.fingerprints import resolve_encoder

            spec = self.encoders[alias]
            self.resolved[alias] = resolve_encoder(spec.model, self.options(alias), self.root)
        return self.resolved[alias]

    def close(self) -> None:
        """End the Ray session this run started, if any."""
        self._session.close()
        self._ray = False

    def _on_ray(self, alias: str, items: Items, tick: Callable[[int, int], None]) -> Any:
        """Reuse a finished entry (no Ray, no model), else compute on the Ray actor pool."""
        from semalign.distributed.embed import embed_on_ray
        from semalign.distributed.runtime import ray_session
        from semalign.store import embed_to_store
        from semalign.store.build import find_entry
        from semalign.store.fingerprints import record_remote, recorded_encoder

        spec, opts, c = self.encoders[alias], self.options(alias), self.compute
        known = recorded_encoder(spec.model, opts, self.root)
        if known is not None and find_entry(self.root, known, items) is not None:
            self.resolved.setdefault(alias, known)
            return embed_to_store(known, items, self.root, batch_size=self.batch_size(alias))
        if not self._ray:
            self._session.enter_context(ray_session(c.address))
            self._ray = True
        report, info = embed_on_ray(
            spec.model, items, self.root, options=opts, workers=c.workers,
            num_gpus_per_worker=c.num_gpus_per_worker, num_cpus_per_worker=c.num_cpus_per_worker,
            batch_size=self.batch_size(alias), progress=tick,
        )  # fmt: skip
        record_remote(self.root, spec.model, opts, info)
        self.resolved[alias] = info
        return report

    def embed(
        self, alias: str, items: Items, what: str, dtype: type = np.float64
    ) -> tuple[str, np.ndarray]:
        """(store key, (n, d) rows in ``items`` order) for encoder ``alias``: the store's float32
        rows in ``dtype`` (float64 by default, an exact conversion, so that units compute in
        float64; ``np.float32`` keeps them as stored, at half the memory).

        Chunks take the store's default size for the items' modality, as ``semalign embed``
        does, so the two commands share chunks."""
        from semalign.store import embed_to_store, open_store

        bar = self.progress(f"embed {what} with {alias}", len(items)) if self.progress else None

        def tick(done: int, total: int) -> None:
            if bar is not None:
                bar.update(done - bar.n)

        if self.compute.executor == "ray":
            rep = self._on_ray(alias, items, tick)
        else:
            rep = embed_to_store(
                self.encoder(alias), items, self.root, batch_size=self.batch_size(alias),
                progress=tick,
            )  # fmt: skip
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
        return rep.path.name, np.ascontiguousarray(arr, dtype=dtype)
