"""open_clip dual encoders (BiomedCLIP, CLIP variants); optional extra ``semalign[openclip]``.

Not exercised by the test suite (open_clip needs torchvision, which this project's CPU torch
build does not ship with); the code path mirrors ``hf_vision.HFDualEncoder``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semalign.encoders.base import EncoderBase, batches, fingerprint_of
from semalign.encoders.hf_common import offline_hint
from semalign.encoders.runtime import (
    TorchImageEncoder,
    autocast,
    resolve_precision,
    select_device,
)
from semalign.errors import InputError


@dataclass(frozen=True)
class _ViaPil:
    """float32 [0,1] image -> 8-bit RGB PIL image -> open_clip's own preprocessing."""

    transform: Callable[[Any], Any]

    def __call__(self, image: np.ndarray) -> Any:
        from PIL import Image

        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        return self.transform(Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8), "RGB"))


class _Text(EncoderBase):
    modality = "text"

    def __init__(self, parent: OpenCLIPEncoder) -> None:
        self.parent, self.name, self.dim = parent, f"{parent.name}:text", parent.dim

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("text")

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        p = self.parent
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for idx in batches(len(items), batch_size):
            tokens = p.tokenizer([items[i] for i in idx]).to(p.device)
            with torch.inference_mode(), autocast(p.device, p.precision):
                vec = p.model.encode_text(tokens).float()
            if p.normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[idx.start : idx.stop] = vec.cpu().numpy()
        return out


class _Image(TorchImageEncoder, EncoderBase):
    modality = "image"

    def __init__(self, parent: OpenCLIPEncoder) -> None:
        self.parent, self.name, self.dim = parent, f"{parent.name}:image", parent.dim
        self.device, self.precision = parent.device, parent.precision
        self.num_workers = parent.num_workers
        self.preprocess = _ViaPil(parent.transform)

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("image")

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        vec = self.parent.model.encode_image(pixels).float()
        return torch.nn.functional.normalize(vec, dim=-1) if self.parent.normalize else vec


class OpenCLIPEncoder:
    """An open_clip model (e.g. ``hf-hub:microsoft/BiomedCLIP-...``) in its joint space."""

    joint_space = True

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        pretrained: str | None = None,
        normalize: bool = True,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int | None = None,
    ) -> None:
        try:
            import open_clip
        except ImportError as exc:
            raise InputError(
                f"encoder {name or model!r} needs open_clip: pip install 'semalign[openclip]' "
                f"(it brings torchvision; install the build that matches your torch)"
            ) from exc
        self.name = name or model
        try:
            net, transform = open_clip.create_model_from_pretrained(model, pretrained=pretrained)
            self.tokenizer = open_clip.get_tokenizer(model)
        except (OSError, RuntimeError) as exc:
            raise InputError(offline_hint(model.removeprefix("hf-hub:"), repr(self.name))) from exc
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.num_workers = num_workers
        self.model = net.to(self.device).eval()
        self.transform = transform
        self.normalize = normalize
        self.model_id, self.pretrained = model, pretrained
        with torch.inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["x"]).to(self.device)).shape[-1])
        first = next(iter(self.model.state_dict().values()))
        self._probe = float(first.float().sum())  # cheap weights identity beside the model id
        self.text = _Text(self)
        self.image = _Image(self)

    def tower_fingerprint(self, tower: str) -> str:
        """Fingerprint of one tower."""
        return fingerprint_of(
            {
                "backend": "open_clip",
                "tower": tower,
                "model": self.model_id,
                "pretrained": self.pretrained,
                "weights_probe": self._probe,
                "normalize": self.normalize,
                "preprocess": repr(self.transform) if tower == "image" else None,
                "precision": self.precision,
            }
        )

    def __repr__(self) -> str:
        return f"OpenCLIPEncoder(name={self.name!r}, dim={self.dim}, joint_space=True)"
