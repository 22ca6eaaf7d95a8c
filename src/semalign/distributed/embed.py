"""Embedding into the store with a pool of model-holding Ray actors.

Each actor loads the encoder once (on its GPU when ``num_gpus_per_worker`` > 0) and embeds whole
chunks: items are read and decoded inside the actors, in parallel. The driver runs
``embed_to_store`` unchanged: it plans the entry, skips finished chunks, writes every returned
chunk atomically and writes the manifest, so the store, its resume behaviour and its cache key
are those of the local executor. Image paths must be readable from every node (shared storage).

Fault tolerance: an actor whose process dies is restarted by Ray (the model is reloaded) and
its unfinished chunks are retried; a driver killed mid-job leaves only complete chunk files,
which the next run keeps.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from semalign.distributed.runtime import get, import_ray, ray_session
from semalign.errors import InputError
from semalign.store.build import BuildReport, Progress, embed_to_store
from semalign.store.executor import ChunkJob, ChunkResult, compute_chunk
from semalign.store.items import Items

#: Testing aid, ``"<chunk>:<marker file>"``: the actor embedding that chunk kills its own process
#: (``os._exit``) the first time, i.e. while the marker file does not exist yet.
CRASH_ENV = "SEMALIGN_RAY_CRASH_ONCE"


@dataclass(frozen=True)
class EncoderSpec:
    """How a worker loads the encoder: registry name, hub id or folder, plus loader options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """``load_encoder(name, **options)``; a dual encoder must name its tower."""
        from semalign.encoders.registry import load_encoder

        encoder = load_encoder(self.name, **self.options)
        if not hasattr(encoder, "embed"):
            raise InputError(
                f"encoder {self.name!r} is a dual encoder: name a tower, {self.name}:image or "
                f"{self.name}:text"
            )
        return encoder


@dataclass(frozen=True)
class EncoderInfo:
    """What the driver needs of the workers' encoder to plan and key the store entry."""

    name: str
    modality: str
    dim: int
    fingerprint: str


class EmbedWorker:
    """Actor body: holds one encoder and embeds the chunks it is sent."""

    def __init__(self, spec: EncoderSpec, crash: str | None = None) -> None:
        self.encoder = spec.load()
        self.crash = crash

    def info(self) -> EncoderInfo:
        e = self.encoder
        return EncoderInfo(e.name, e.modality, int(e.dim), e.fingerprint)

    def embed_chunk(
        self, job: ChunkJob, ids: list[str], payloads: list[Any], batch_size: int
    ) -> ChunkResult:
        if self.crash:
            chunk, marker = self.crash.split(":", 1)
            if int(chunk) == job.index and not Path(marker).exists():
                Path(marker).touch()
                os._exit(13)
        return compute_chunk(self.encoder, job, ids, payloads, batch_size)


class RayExecutor:
    """Chunk executor over ``workers`` actors; use as a context manager (starts/kills actors).

    ``workers`` defaults to as many as the cluster's free GPUs (``num_gpus_per_worker`` > 0) or
    CPUs allow. Each actor keeps ``depth`` chunks queued so that it never waits for the driver.
    A dead actor is restarted up to ``max_restarts`` times and its chunks retried.
    """

    def __init__(
        self,
        spec: EncoderSpec,
        *,
        workers: int | None = None,
        num_gpus_per_worker: float = 0.0,
        num_cpus_per_worker: float = 1.0,
        max_restarts: int = 3,
        depth: int = 2,
    ) -> None:
        if workers is not None and workers < 1:
            raise InputError(f"workers={workers}: it must be a positive integer")
        if num_gpus_per_worker < 0 or num_cpus_per_worker < 0:
            raise InputError("GPUs and CPUs per worker must be >= 0")
        self.spec = spec
        self.workers = workers
        self.num_gpus = float(num_gpus_per_worker)
        self.num_cpus = float(num_cpus_per_worker)
        self.max_restarts = max_restarts
        self.depth = max(1, depth)
        self._actors: list[Any] = []
        self.info: EncoderInfo | None = None

    def _pool_size(self, ray: Any) -> int:
        res = ray.cluster_resources()
        if self.num_gpus > 0:
            have, need, what = float(res.get("GPU", 0)), self.num_gpus, "GPU"
        else:
            have, need, what = float(res.get("CPU", 0)), max(self.num_cpus, 1e-3), "CPU"
        fits = int(have / need + 1e-9)
        n = self.workers if self.workers is not None else fits
        if fits < 1 or n > fits:
            raise InputError(
                f"{n or 1} worker(s) x {need:g} {what} do not fit in the Ray cluster's {have:g} "
                f"{what}: lower --workers or the {what}s per worker"
            )
        return n

    def start(self) -> EncoderInfo:
        """Start the actors, load the encoder in each; returns what they embed with."""
        ray = import_ray()
        n = self._pool_size(ray)
        actor_cls = ray.remote(EmbedWorker).options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_restarts,
        )
        crash = os.environ.get(CRASH_ENV) or None
        self._actors = [actor_cls.remote(self.spec, crash) for _ in range(n)]
        infos = self._get([a.info.remote() for a in self._actors])
        if len({i.fingerprint for i in infos}) != 1:
            raise InputError(
                f"the workers loaded different versions of {self.spec.name!r} (fingerprints "
                f"differ): install the same packages and weights on every node"
            )
        self.info = infos[0]
        return self.info

    def stop(self) -> None:
        """Kill the actors (queued chunks are dropped)."""
        if self._actors:
            ray = import_ray()
            for a in self._actors:
                ray.kill(a, no_restart=True)
        self._actors = []

    def __enter__(self) -> RayExecutor:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _get(refs: Any) -> Any:
        return get(import_ray(), refs)

    def map_chunks(
        self, encoder: Any, ids: Sequence[str], payloads: Sequence[Any], jobs: Sequence[ChunkJob],
        batch_size: int,
    ) -> Iterator[ChunkResult]:  # fmt: skip
        """Yield results as actors finish them; ``encoder`` is unused (actors hold their own)."""
        if not self._actors:
            raise RuntimeError("RayExecutor is not started: use it as a context manager")
        ray = import_ray()
        queue = deque(jobs)
        inflight: dict[Any, int] = {}

        def submit(k: int) -> None:
            job = queue.popleft()
            ref = self._actors[k].embed_chunk.remote(
                job, list(ids[job.lo : job.hi]), list(payloads[job.lo : job.hi]), batch_size
            )
            inflight[ref] = k

        for _ in range(self.depth):
            for k in range(len(self._actors)):
                if queue:
                    submit(k)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            k = inflight.pop(ready[0])
            result: ChunkResult = self._get(ready[0])
            if queue:
                submit(k)
            yield result


def embed_on_ray(
    encoder: str | EncoderSpec,
    items: Items,
    root: str | os.PathLike[str],
    *,
    options: dict[str, Any] | None = None,
    workers: int | None = None,
    num_gpus_per_worker: float = 0.0,
    num_cpus_per_worker: float = 1.0,
    address: str | None = None,
    num_cpus: int | None = None,
    chunk_size: int | None = None,
    batch_size: int = 32,
    on_error: str = "fail",
    progress: Progress | None = None,
) -> tuple[BuildReport, EncoderInfo]:
    """``embed_to_store`` with the chunks computed by Ray actors; same entry, same resume.

    ``encoder``: a name for ``load_encoder`` (with ``options``) or an :class:`EncoderSpec`.
    ``address``: an existing cluster (``"auto"``, ``"ray://head:10001"``); default: the running
    session, else a local Ray with ``num_cpus`` CPUs. Returns the build report and the workers'
    encoder identity (name, modality, dim, fingerprint).
    """
    spec = encoder if isinstance(encoder, EncoderSpec) else EncoderSpec(encoder, options or {})
    with ray_session(address, num_cpus), RayExecutor(
        spec, workers=workers, num_gpus_per_worker=num_gpus_per_worker,
        num_cpus_per_worker=num_cpus_per_worker,
    ) as executor:  # fmt: skip
        assert executor.info is not None
        report = embed_to_store(
            executor.info, items, root, chunk_size=chunk_size, batch_size=batch_size,
            on_error=on_error, progress=progress, executor=executor,
        )  # fmt: skip
        return report, executor.info
