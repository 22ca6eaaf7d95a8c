"""Importing Ray on demand and starting (or joining) a Ray session."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from semalign.errors import InputError, SemalignError

INSTALL_HINT = "pip install 'semalign[ray]'"
#: Object store of a Ray started here: embeddings and chunks are small; keep memory modest.
DEFAULT_OBJECT_STORE_BYTES = 512 * 1024**2


def import_ray() -> ModuleType:
    """The ``ray`` module, or InputError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(
            f"the Ray executor needs Ray, which is not installed: {INSTALL_HINT}"
        ) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Use the running Ray session, or join ``address``, or start a local Ray; yields ``ray``.

    A session started here is shut down on exit; one that was already running is left alone.
    ``num_cpus`` sizes a local Ray (default: all cores); it is ignored for a cluster.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=DEFAULT_OBJECT_STORE_BYTES,
            )
    except (ConnectionError, TimeoutError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray"
        raise InputError(
            f"cannot start or reach {where} ({exc}): check the address, or start a cluster "
            f"with `ray start --head`"
        ) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def ordered_map(
    ray: ModuleType, remote_fn: Any, args: Iterable[tuple[Any, ...]], window: int
) -> Iterator[Any]:
    """Run ``remote_fn.remote(*a)`` for each ``a``; yield results in submission order.

    At most ``window`` calls are in flight, so the driver never holds more than that many
    blocks in Ray's object store. A worker's semalign error is re-raised as itself.
    """
    pending: deque[Any] = deque()
    for a in args:
        pending.append(remote_fn.remote(*a))
        if len(pending) >= max(1, window):
            yield get(ray, pending.popleft())
    while pending:
        yield get(ray, pending.popleft())


def get(ray: ModuleType, refs: Any) -> Any:
    """``ray.get``, re-raising a worker's own semalign error (a one-line user message)."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SemalignError):
            raise cause from None
        raise
