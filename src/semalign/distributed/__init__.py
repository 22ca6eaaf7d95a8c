"""Scale-out on Ray: embedding into the store, streaming alignment fits, batch inference.

Nothing here imports Ray until a function is called; install it with
``pip install 'semalign[ray]'``. Every function works against a local Ray started on demand
(``ray.init``) or an existing cluster (``address="ray://host:10001"`` or ``"auto"``), and reuses a
Ray session that the caller already started.

- :func:`embed_on_ray`: the store's missing chunks computed by model-holding actors; the driver
  writes every chunk atomically and the manifest, so format and resume match the local executor.
- :func:`fit_on_ray`: an :class:`~semalign.align.Aligner` fitted from per-block sufficient
  statistics (``Moments``) computed by Ray tasks and merged on the driver.
- :func:`predict_on_ray`: a model's ``predict_proba`` (zero-shot classifier, stitched model, head)
  or an aligner's ``transform`` applied to a store, block by block, in item order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semalign.distributed.embed import EncoderSpec, RayExecutor, embed_on_ray
    from semalign.distributed.fit import fit_on_ray
    from semalign.distributed.infer import predict_on_ray

__all__ = ["EncoderSpec", "RayExecutor", "embed_on_ray", "fit_on_ray", "predict_on_ray"]

_WHERE = {
    "EncoderSpec": "semalign.distributed.embed",
    "RayExecutor": "semalign.distributed.embed",
    "embed_on_ray": "semalign.distributed.embed",
    "fit_on_ray": "semalign.distributed.fit",
    "predict_on_ray": "semalign.distributed.infer",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'semalign.distributed' has no attribute {name!r}")
