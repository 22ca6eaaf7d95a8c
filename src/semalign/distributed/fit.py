"""Streaming alignment fit on Ray: per-block sufficient statistics, merged on the driver.

The driver gathers paired anchor blocks (from two stores matched by id, or two arrays matched
by row) and ships them to Ray tasks; each task returns its block's ``Moments`` (O(d^2)); the
driver merges them in block order with ``Moments.merge`` and installs the total with
``Aligner.fit_moments``. The map equals the local fit to rounding. ``center-l2`` takes two
passes: block sums for the anchor means, then the moments of the centred, normalised rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from semalign.align.aligner import Aligner
from semalign.align.moments import Moments
from semalign.distributed.blocks import Rows, Source, paired_positions
from semalign.distributed.runtime import import_ray, ordered_map, ray_session
from semalign.errors import InputError

DEFAULT_BLOCK_ROWS = 8192


def _block_sums(x: np.ndarray, y: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, column sums of x, column sums of y) in float64."""
    return x.shape[0], x.astype(np.float64).sum(axis=0), y.astype(np.float64).sum(axis=0)


def _block_moments(
    params: dict[str, Any], x: np.ndarray, y: np.ndarray, means: tuple[Any, Any] | None
) -> Moments:
    return Aligner(**params).block_moments(x, y, means)


def fit_on_ray(
    aligner: Aligner,
    source: Source,
    target: Source,
    *,
    ids: Sequence[str] | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    window: int = 8,
    address: str | None = None,
) -> Aligner:
    """Fit ``aligner`` (in place; returned) on paired anchors with Ray tasks, one per block.

    ``source``/``target``: two store entries (paired by id: ``ids`` if given, else every source
    id also in the target, in source order) or two (n, d) arrays (paired by row).
    ``window`` bounds the blocks in flight. Uses the running Ray session, else starts one.
    """
    if block_rows < 1:
        raise InputError(f"block_rows={block_rows}: it must be a positive integer")
    params = aligner.get_params()
    xs, ys = Rows(source), Rows(target)
    px, py = paired_positions(xs, ys, ids)
    starts = range(0, len(px), block_rows)

    def blocks(moments: bool, means: tuple[Any, Any] | None = None) -> Any:
        ray = import_ray()
        for s in starts:
            x = ray.put(xs.take(px[s : s + block_rows]))
            y = ray.put(ys.take(py[s : s + block_rows]))
            yield (params, x, y, means) if moments else (x, y)

    with ray_session(address) as ray:
        means: tuple[np.ndarray, np.ndarray] | None = None
        if aligner.scaling == "center-l2":
            n, sx, sy = 0, np.zeros(xs.dim), np.zeros(ys.dim)
            for bn, bx, by in ordered_map(ray, ray.remote(_block_sums), blocks(False), window):
                n, sx, sy = n + bn, sx + bx, sy + by
            means = (sx / n, sy / n)
        total: Moments | None = None
        for m in ordered_map(ray, ray.remote(_block_moments), blocks(True, means), window):
            total = m if total is None else total.merge(m)
    if total is None:
        raise InputError("no anchors to fit on: pass non-empty stores or arrays")
    return aligner.fit_moments(total, means)
