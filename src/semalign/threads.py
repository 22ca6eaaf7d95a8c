"""BLAS thread policy of the runner (``semalign run``/``demo``) and the CLI.

numpy's and scipy's OpenBLAS run one thread by default here: their work in semalign is many
small calls (few-anchor fits on the thin path, metrics, bootstrap resamples), where waking
OpenBLAS's spinning threads costs more than it gives, and on a loaded machine far more
(measured in ``benchmarks/bench_align.py --thread-check``). torch keeps its own thread pool,
so encoders are not affected. ``SEMALIGN_BLAS_THREADS=N`` sets N threads instead, and
``SEMALIGN_BLAS_THREADS=system`` leaves the libraries' own default (usually one per core).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from semalign.errors import InputError

ENV = "SEMALIGN_BLAS_THREADS"
DEFAULT_THREADS = 1


def blas_threads(value: str | None = None) -> int | None:
    """Threads the policy sets: ``value`` (default: ``$SEMALIGN_BLAS_THREADS``) as an integer
    >= 1, None for ``system`` (leave the libraries alone), or :data:`DEFAULT_THREADS`."""
    raw = os.environ.get(ENV, "") if value is None else value
    raw = raw.strip().lower()
    if not raw:
        return DEFAULT_THREADS
    if raw == "system":
        return None
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise InputError(f"{ENV}={raw!r}: set a number of threads >= 1, or 'system'")


def limit_blas(threads: int) -> Any:
    """Limit numpy's and scipy's BLAS to ``threads`` threads from now on; returns the
    threadpoolctl limiter (``restore_original_limits()`` undoes it). numpy and scipy.linalg are
    imported first, because threadpoolctl limits only the BLAS libraries already loaded (numpy
    and scipy each bring their own OpenBLAS)."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")


@contextlib.contextmanager
def blas_policy(threads: int | str | None = "env") -> Iterator[int | None]:
    """Limit numpy's and scipy's BLAS to the policy's threads inside the block (yields them).

    ``threads``: "env" reads :func:`blas_threads`; an int sets it; None changes nothing.
    """
    n = blas_threads() if threads == "env" else threads
    if n is None:
        yield None
        return
    with limit_blas(int(n)):
        yield int(n)
