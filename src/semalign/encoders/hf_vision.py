"""Image encoders from transformers (AutoModel + AutoImageProcessor) and dual encoders.

Images are decoded and preprocessed in DataLoader workers with the model's own processor
settings (resize, crop, mean/std) applied in torch at full precision; see ``images.Preprocess``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from semalign.encoders.base import EncoderBase, fingerprint_of, length_sorted_batches
from semalign.encoders.hf_common import display_name, hf_load, weights_identity
from semalign.encoders.images import preprocess_from_hf
from semalign.encoders.runtime import (
    TorchImageEncoder,
    autocast,
    resolve_precision,
    select_device,
)
from semalign.errors import InputError

VISION_POOLINGS = ("cls", "mean-patch", "pooler")


def _features(out: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor (transformers 4) or an output with pooler_output (5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class HFVisionEncoder(TorchImageEncoder, EncoderBase):
    """A transformers vision backbone pooled to one vector per image: (n, hidden_size).

    pooling: ``cls`` (class token of the last hidden states), ``mean-patch`` (mean of the patch
    tokens, register tokens excluded), ``pooler`` (the model's pooler output).
    """

    modality = "image"

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        pooling: str = "cls",
        normalize: bool = False,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int | None = None,
        decode: str = "draft",
    ) -> None:
        from transformers import AutoImageProcessor, AutoModel

        if pooling not in VISION_POOLINGS:
            raise InputError(f"image pooling {pooling!r} is unknown: use one of {VISION_POOLINGS}")
        self.name = name or model
        shown = display_name(self.name, model)
        kw: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        processor = hf_load(lambda: AutoImageProcessor.from_pretrained(model, **kw), model, shown)
        self.model = hf_load(lambda: AutoModel.from_pretrained(model, **kw), model, shown)
        if hasattr(self.model.config, "vision_config"):
            raise InputError(
                f"model {shown} is a dual (image-text) model: load it with the transformers-dual "
                f"backend, or pass '{self.name}:image'"
            )
        self.preprocess = preprocess_from_hf(processor, decode)
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.num_workers = num_workers
        self.model.to(self.device).eval()
        self.pooling, self.normalize = pooling, normalize
        self.dim = int(self.model.config.hidden_size)
        self.n_prefix = 1 + int(getattr(self.model.config, "num_register_tokens", 0) or 0)
        self._identity = weights_identity(model, revision, self.model)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            {
                "backend": "transformers-vision",
                "weights": self._identity,
                "pooling": self.pooling,
                "normalize": self.normalize,
                "preprocess": self.preprocess.describe(),  # type: ignore[attr-defined]
                "precision": self.precision,
            }
        )

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixels)
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise InputError(f"model {self.name!r} has no pooler output: use pooling cls")
            vec = pooled.float()
        else:
            hidden = out.last_hidden_state.float()
            vec = hidden[:, 0] if self.pooling == "cls" else hidden[:, self.n_prefix :].mean(1)
        return torch.nn.functional.normalize(vec, dim=-1) if self.normalize else vec


class _DualText(EncoderBase):
    modality = "text"

    def __init__(self, parent: HFDualEncoder) -> None:
        self.parent = parent
        self.name = f"{parent.name}:text"
        self.dim = parent.dim

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("text")

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        p = self.parent
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for rows in length_sorted_batches(items, batch_size):
            enc = p.tokenizer(
                [items[i] for i in rows],
                padding=p.padding,
                truncation=True,
                max_length=p.max_length,
                return_tensors="pt",
            )
            enc = {
                k: v.to(p.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")
            }
            with torch.inference_mode(), autocast(p.device, p.precision):
                vec = _features(p.model.get_text_features(**enc)).float()
            if p.normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[rows] = vec.cpu().numpy()
        return out


class _DualImage(TorchImageEncoder, EncoderBase):
    modality = "image"

    def __init__(self, parent: HFDualEncoder) -> None:
        self.parent = parent
        self.name = f"{parent.name}:image"
        self.dim = parent.dim
        self.device, self.precision = parent.device, parent.precision
        self.num_workers = parent.num_workers
        self.preprocess = parent.preprocess

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("image")

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        vec = _features(self.parent.model.get_image_features(pixel_values=pixels)).float()
        return torch.nn.functional.normalize(vec, dim=-1) if self.parent.normalize else vec


class HFDualEncoder:
    """A transformers image-text model (CLIPModel, SiglipModel, ...) in its joint space.

    ``text`` and ``image`` are Encoders whose outputs are directly comparable (cosine), with
    the model's own projections; L2-normalised by default.
    """

    joint_space = True

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        normalize: bool = True,
        max_length: int | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int | None = None,
        decode: str = "draft",
    ) -> None:
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.name = name or model
        shown = display_name(self.name, model)
        kw: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.tokenizer = hf_load(lambda: AutoTokenizer.from_pretrained(model, **kw), model, shown)
        processor = hf_load(lambda: AutoImageProcessor.from_pretrained(model, **kw), model, shown)
        self.model = hf_load(lambda: AutoModel.from_pretrained(model, **kw), model, shown)
        if not (
            hasattr(self.model, "get_text_features") and hasattr(self.model, "get_image_features")
        ):
            raise InputError(f"model {shown} is not an image-text dual encoder: load it by tower")
        self.preprocess = preprocess_from_hf(processor, decode)
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.num_workers = num_workers
        self.model.to(self.device).eval()
        self.normalize = normalize
        text_cfg = self.model.config.text_config
        limit = int(getattr(text_cfg, "max_position_embeddings", 77) or 77)
        self.max_length = min(max_length or limit, limit)
        siglip = "siglip" in str(getattr(self.model.config, "model_type", ""))
        self.padding: bool | str = "max_length" if siglip else True  # SigLIP trained on padded
        with torch.inference_mode():
            probe = self.tokenizer(["x"], return_tensors="pt")
            self.dim = int(
                _features(self.model.get_text_features(probe["input_ids"].to(self.device))).shape[
                    -1
                ]
            )
        self._identity = weights_identity(model, revision, self.model)
        self.text = _DualText(self)
        self.image = _DualImage(self)

    def tower_fingerprint(self, tower: str) -> str:
        """Fingerprint of one tower (both share the weights identity)."""
        return fingerprint_of(
            {
                "backend": "transformers-dual",
                "tower": tower,
                "weights": self._identity,
                "normalize": self.normalize,
                "max_length": self.max_length if tower == "text" else None,
                "preprocess": self.preprocess.describe() if tower == "image" else None,
                "precision": self.precision,
            }
        )

    def __repr__(self) -> str:
        return f"HFDualEncoder(name={self.name!r}, dim={self.dim}, joint_space=True)"
