"""``[compute]``: how embeddings are computed (device, precision, batch size, executor) and
how many processes compute the units after them (jobs); also the form the CLI's
``semalign run --device ...`` flags are checked in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semalign.errors import InputError
from semalign.experiments.recipe.fields import check_keys, choice, integer, table
from semalign.experiments.recipe.schema import Compute
from semalign.experiments.recipe.vocabulary import (
    DEVICES_HELP,
    EXECUTORS,
    PRECISIONS,
    is_device_name,
)

__all__ = ["parse_compute"]

_COMPUTE = (
    "device", "precision", "batch_size", "num_workers", "executor", "address", "workers",
    "num_gpus_per_worker", "num_cpus_per_worker", "jobs",
)  # fmt: skip


def _share(t: Mapping[str, Any], key: str, where: str, default: float, zero_ok: bool) -> float:
    """A Ray resource share per worker (fractions allowed, e.g. 0.5 GPU)."""
    v = t.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise InputError(f"recipe: {where}{key} = {v!r} must be a number {bound} (e.g. 0.5)")
    return float(v)


def parse_compute(raw: Any, where: str = "compute.") -> Compute:
    """The ``[compute]`` table (or the CLI's flags as a dict, ``where`` naming them)."""
    t = table(raw, where.rstrip("."))
    check_keys(t, _COMPUTE, where)
    device = t.get("device")
    if device is not None and not is_device_name(device):
        raise InputError(f"recipe: {where}device = {device!r} must be one of {DEVICES_HELP}")
    precision = choice(t, "precision", where, PRECISIONS, "") if "precision" in t else None
    address = t.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise InputError(
            f'recipe: {where}address = {address!r} must be a Ray address such as "auto" or '
            '"ray://head:10001"'
        )
    out = Compute(
        device=device,
        precision=precision,
        batch_size=integer(t, "batch_size", where, None, 1) if "batch_size" in t else None,
        num_workers=integer(t, "num_workers", where, None, 0) if "num_workers" in t else None,
        executor=choice(t, "executor", where, EXECUTORS, "local"),
        address=address,
        workers=integer(t, "workers", where, None, 1) if "workers" in t else None,
        num_gpus_per_worker=_share(t, "num_gpus_per_worker", where, 0.0, zero_ok=True),
        num_cpus_per_worker=_share(t, "num_cpus_per_worker", where, 1.0, zero_ok=False),
        jobs=integer(t, "jobs", where, None, 1) if "jobs" in t else None,
    )
    if out.executor == "local" and (out.address or out.workers or out.num_gpus_per_worker):
        raise InputError(
            f"recipe: {where}address, workers and num_gpus_per_worker apply to executor = "
            '"ray": set it, or drop them'
        )
    return out
