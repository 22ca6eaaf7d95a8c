"""Who computes a store's chunks: the executor abstraction behind ``embed_to_store``.

``embed_to_store`` plans the entry, decides which chunks are missing and writes every chunk
file and the manifest itself; an executor only turns ``ChunkJob``s into ``ChunkResult``s. The
local executor runs the encoder in this process, chunk after chunk; the Ray executor
(``semalign.distributed``) spreads the same jobs over model-holding actors and yields results as
they complete, in any order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

EXECUTORS: tuple[str, ...] = ("local", "ray")
"""Who computes the chunks: :class:`LocalExecutor` (this process) or the Ray executor
(:class:`semalign.distributed.RayExecutor`, actors holding the model)."""


@dataclass(frozen=True)
class ChunkJob:
    """Chunk ``index`` covers items ``lo:hi`` of the job's item list."""

    index: int
    lo: int
    hi: int


@dataclass
class ChunkResult:
    """What one chunk computed: float32 (m, d) rows, their positions and ids, failed ids."""

    index: int
    embeddings: np.ndarray
    rows: np.ndarray  # (m,) int64 positions in the job's item list
    ids: list[str]
    failures: dict[str, str] = field(default_factory=dict)  # id -> reason


class ChunkExecutor(Protocol):
    """Computes chunks; may yield them in any order."""

    def map_chunks(
        self, encoder: Any, ids: Sequence[str], payloads: Sequence[Any], jobs: Sequence[ChunkJob],
        batch_size: int,
    ) -> Iterator[ChunkResult]:  # fmt: skip
        """Yield one result per job; closing the iterator cancels the remaining ones."""
        ...


def compute_chunk(
    encoder: Any, job: ChunkJob, ids: Sequence[str], payloads: Sequence[Any], batch_size: int
) -> ChunkResult:
    """Embed the items of one chunk (``ids``/``payloads`` are the chunk's own, ``lo:hi``).

    Bad items are reported in ``failures`` when the encoder tolerates them (``embed_outcome``);
    a plain encoder embeds all or raises.
    """
    if hasattr(encoder, "embed_outcome"):
        outcome = encoder.embed_outcome(list(payloads), batch_size=batch_size)
        emb, ok, failures = outcome.embeddings, list(outcome.ok), dict(outcome.failures)
    else:
        emb = encoder.embed(list(payloads), batch_size=batch_size)
        ok, failures = list(range(len(payloads))), {}
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if emb.shape != (len(ok), encoder.dim):
        raise RuntimeError(f"{encoder.name} returned {emb.shape} for {len(ok)} items")
    return ChunkResult(
        index=job.index,
        embeddings=emb,
        rows=np.asarray([job.lo + i for i in ok], dtype=np.int64),
        ids=[ids[i] for i in ok],
        failures={ids[i]: r for i, r in sorted(failures.items())},
    )


class LocalExecutor:
    """Runs the encoder in this process, one chunk after the other, in order."""

    def map_chunks(
        self, encoder: Any, ids: Sequence[str], payloads: Sequence[Any], jobs: Sequence[ChunkJob],
        batch_size: int,
    ) -> Iterator[ChunkResult]:  # fmt: skip
        for job in jobs:
            yield compute_chunk(
                encoder, job, ids[job.lo : job.hi], payloads[job.lo : job.hi], batch_size
            )
