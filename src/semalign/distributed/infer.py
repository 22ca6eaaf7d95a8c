"""Batch inference over a store on Ray: zero-shot scores, stitched-model or head probabilities.

The model (a ``ZeroShotClassifier``, ``StitchedModel``, head or ``Aligner``) is put once into
Ray's object store; each task applies one of its methods to one block of embeddings (a store
chunk, or ``block_rows`` rows of an array); results come back in item order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semalign.distributed.blocks import Rows, Source
from semalign.distributed.runtime import import_ray, ordered_map, ray_session
from semalign.errors import InputError

DEFAULT_BLOCK_ROWS = 8192


def _apply(model: Any, method: str, x: np.ndarray) -> np.ndarray:
    return np.asarray(getattr(model, method)(x))


def predict_on_ray(
    model: Any,
    embeddings: Source,
    *,
    method: str = "predict_proba",
    block_rows: int = DEFAULT_BLOCK_ROWS,
    window: int = 8,
    address: str | None = None,
) -> tuple[list[str] | None, np.ndarray]:
    """``model.<method>`` over every row of a store entry (or (n, d) array), block by block.

    Returns (ids, output) with rows in store order; ids is None for an array. E.g.
    ``predict_on_ray(ZeroShotClassifier(...), image_store)`` gives (n, C) class probabilities;
    ``method="transform"`` with an ``Aligner`` maps a whole store into the target space.
    """
    if not callable(getattr(model, method, None)):
        raise InputError(
            f"{type(model).__name__} has no method {method!r}: pass a model with predict_proba "
            f"(zero-shot classifier, stitched model, head) or name its method"
        )
    if block_rows < 1:
        raise InputError(f"block_rows={block_rows}: it must be a positive integer")
    rows = Rows(embeddings)
    with ray_session(address) as ray:
        ref = ray.put(model)

        def blocks() -> Any:
            for s in range(0, rows.n, block_rows):
                block = rows.take(np.arange(s, min(rows.n, s + block_rows)))
                yield ref, method, import_ray().put(block)

        parts = list(ordered_map(ray, ray.remote(_apply), blocks(), window))
    if not parts:
        return rows.ids, np.zeros((0, 0))
    return rows.ids, np.concatenate(parts)
