"""semalign: training-free semantic alignment of unimodal encoders in medical imaging.

Heavy libraries (torch, transformers, open_clip, ray) are never imported here; the public
objects below are loaded on first access so that ``import semalign`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from semalign._version import __version__

__all__ = ["Aligner", "__version__", "load_aligner", "select_anchors"]

if TYPE_CHECKING:  # pragma: no cover
    from semalign.align import Aligner, load_aligner, select_anchors


def __getattr__(name: str) -> Any:
    if name in {"Aligner", "load_aligner", "select_anchors"}:
        from semalign import align

        return getattr(align, name)
    raise AttributeError(f"module 'semalign' has no attribute {name!r}")
