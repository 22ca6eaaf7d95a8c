"""Evaluation units in worker processes (``[compute] jobs``, ``semalign run --jobs``).

A unit is a pure function of its arguments: a picklable ``functools.partial`` of a module-level
function over arrays and plain values, seeded by its own settings. It gives the same rows in any
process and in any order, so the runner hands the units it cannot read from the step cache to
``jobs`` worker processes and applies their outputs in the order the recipe asked for them: the
results files are the same, byte for byte, whatever ``jobs`` is.

The workers are spawned, not forked, because the parent may already hold torch's and OpenMP's
threads, which a forked child cannot use. They start on the first unit that needs computing,
so a re-run that finds every unit in the cache starts none. Each worker runs numpy's and
scipy's BLAS under the thread policy of :mod:`semalign.threads` (one thread by default), so
``jobs`` processes use ``jobs`` cores.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from semalign.errors import FormatError, InputError, SemalignError

__all__ = ["MAX_DEFAULT_JOBS", "UnitPool", "available_cpus", "resolve_jobs"]

#: ``jobs`` when neither the recipe nor the CLI sets it: the CPUs at hand, at most this many
#: (each worker holds its own copy of a unit's arrays)
MAX_DEFAULT_JOBS = 4


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(os.cpu_count() or 1, 1)


def resolve_jobs(jobs: int | None) -> int:
    """The worker processes a run uses: ``jobs``, or the CPUs at hand (at most
    :data:`MAX_DEFAULT_JOBS`); 1 computes every unit in the running process."""
    return int(jobs) if jobs is not None else min(available_cpus(), MAX_DEFAULT_JOBS)


def _start_worker() -> None:
    """Worker initialiser: BLAS under the run's thread policy (read from the environment), for
    the worker's whole life."""
    from semalign.threads import blas_threads, limit_blas

    n = blas_threads()
    if n is not None:
        limit_blas(n)


def _timed(compute: Callable[[], Any]) -> tuple[Any, float]:
    """Run one unit in a worker: its output and its own wall time in seconds. A semalign error
    crosses back as its base class (one message, always picklable)."""
    start = time.perf_counter()
    try:
        out = compute()
    except FormatError as exc:
        raise FormatError(str(exc)) from None
    except SemalignError as exc:
        raise InputError(str(exc)) from None
    return out, time.perf_counter() - start


class UnitPool:
    """``jobs`` spawned worker processes that compute units; start on the first submit."""

    def __init__(self, jobs: int) -> None:
        if jobs < 2:
            raise ValueError(f"a pool needs at least 2 workers, got {jobs}")
        self.jobs = jobs
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def submit(self, compute: Callable[[], Any]) -> Future[tuple[Any, float]]:
        """Compute ``compute()`` in a worker; the future gives (output, seconds)."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
            )
        return self._executor.submit(_timed, compute)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers (after the running units; ``cancel`` drops those not started)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self._executor = None
