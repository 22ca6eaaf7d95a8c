"""Image decoding and model-input preparation for the image encoders.

``read_image`` gives float32 in [0, 1], (H, W) grey or (H, W, 3) colour, from a file (DICOM with
modality/VOI LUTs and MONOCHROME1 inverted, PNG/JPEG in 8 or 16 bit) or an in-memory array.

``Preprocess`` turns such an array into the (3, S, S) float32 tensor a model expects (resize,
optional centre crop, mean/std normalisation) in torch, at full precision (16-bit data is not
squeezed through 8 bits). ``Preprocess.load`` decodes a file straight to the size the model
needs (JPEG reduced in the DCT domain unless ``decode="exact"``). It holds only plain numbers so
it can travel to DataLoader workers.

Decoding of files is ``semalign.data.images.load_image``; this module only adapts its output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from semalign.errors import InputError


def read_image(source: str | os.PathLike[str] | np.ndarray) -> np.ndarray:
    """Decode ``source`` (path or array) to float32 in [0, 1]; (H, W) or (H, W, 3).

    Files go through ``semalign.data.images.load_image`` (DICOM LUTs, MONOCHROME1, 8/16 bit).
    """
    if isinstance(source, np.ndarray):
        return _from_array(source)
    from semalign.data.images import load_image

    return _from_array(load_image(source))  # a path, or ImageBytes decoded from its bytes


def _from_array(arr: np.ndarray) -> np.ndarray:
    """Accept (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); integer dtypes scaled by their range."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise InputError(f"image array of shape {a.shape}: expected (H, W) or (H, W, 3)")
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        out = (a.astype(np.float32) - info.min) / float(info.max - info.min)
    else:
        out = a.astype(np.float32)
        if out.size and (np.nanmin(out) < 0.0 or np.nanmax(out) > 1.0):
            raise InputError("float image outside [0, 1]: rescale it before embedding")
    if not np.all(np.isfinite(out)):
        raise InputError("image contains NaN or infinite values")
    return np.ascontiguousarray(out, dtype=np.float32)


DECODE_MODES = ("draft", "exact")


@dataclass(frozen=True)
class Preprocess:
    """Decode -> resize -> optional centre crop -> normalise; image -> (3, H, W) float32 tensor.

    ``resize``: ("shortest_edge", s) keeps the aspect ratio, ("exact", h, w) squashes to h x w.
    ``crop``: (h, w) centre crop after resizing, or None. ``mean``/``std``: per-channel, applied
    to values in [0, 1]. ``interpolation``: "bilinear" or "bicubic" (antialiased when shrinking).
    ``decode``: "draft" lets a JPEG decoder reduce the image in the DCT domain to the smallest
    power-of-two reduction still at least the resize size (then one float32 resize); "exact"
    decodes every file at full resolution. It is part of ``describe`` and so of cache keys.
    """

    resize: tuple[Any, ...]
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    decode: str = "draft"

    def __post_init__(self) -> None:
        if self.decode not in DECODE_MODES:
            raise InputError(f"decode mode {self.decode!r} is unknown: use 'draft' or 'exact'")

    def describe(self) -> dict[str, Any]:
        """Plain description for fingerprints."""
        return {
            "resize": list(self.resize),
            "crop": list(self.crop) if self.crop else None,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "decode": self.decode,
        }

    def resize_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) an (h, w) image is resized to, before any crop."""
        if self.resize[0] == "shortest_edge":
            s = int(self.resize[1])
            if h <= w:  # the long side is truncated, as transformers' processors do
                return s, max(1, int(s * w / h))
            return max(1, int(s * h / w)), s
        return int(self.resize[1]), int(self.resize[2])

    def load(self, source: str | os.PathLike[str] | np.ndarray) -> Any:
        """Decode ``source`` (path or array) and preprocess it: (3, H, W) float32 tensor."""
        if isinstance(source, np.ndarray):
            return self(_from_array(source))
        from semalign.data.images import decode_image

        target = self.resize_size if self.decode == "draft" else None
        pixels, full = decode_image(source, target=target)  # ImageBytes: from its bytes
        return self._finish(pixels, full)

    def __call__(self, image: np.ndarray) -> Any:
        """(H, W) or (H, W, 3) float32 in [0, 1] -> (3, H', W') normalised tensor."""
        return self._finish(image, (int(image.shape[0]), int(image.shape[1])))

    def _finish(self, image: np.ndarray, full: tuple[int, int]) -> Any:
        import torch

        size = self.resize_size(*full)
        planes = [image] if image.ndim == 2 else [image[:, :, c] for c in range(3)]
        planes = [_resize_plane(p, size, self.interpolation) for p in planes]
        x = np.stack(planes)  # (1 or 3, h, w): grey is broadcast to three channels only here
        if self.crop is not None:
            ch, cw = self.crop
            top = max(0, (x.shape[-2] - ch) // 2)
            left = max(0, (x.shape[-1] - cw) // 2)
            x = x[:, top : top + ch, left : left + cw]
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        return torch.from_numpy(np.ascontiguousarray((x - mean) / std, dtype=np.float32))


def _resize_plane(plane: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """One float32 (h, w) plane resized to ``size`` with PIL's antialiased filters, in [0, 1].

    PIL's float32 resampling needs no thread pool (torch's intra-op threads cost more than the
    work on small images) and matches ``torch.nn.functional.interpolate(antialias=True)`` to
    about 1e-5.
    """
    from PIL import Image

    p = np.ascontiguousarray(plane, dtype=np.float32)
    if p.shape == size:
        return p
    resample = (
        Image.Resampling.BILINEAR if interpolation == "bilinear" else Image.Resampling.BICUBIC
    )
    out = np.asarray(Image.fromarray(p, mode="F").resize((size[1], size[0]), resample))
    return np.clip(out, 0.0, 1.0)


def _field(size: Any, key: str) -> Any:
    """A field of a processor's size setting (a dict in transformers 4, a SizeDict in 5)."""
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)


def preprocess_from_hf(processor: Any, decode: str = "draft") -> Preprocess:
    """Build a ``Preprocess`` from a transformers image processor's settings."""
    size = getattr(processor, "size", None)
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if _field(size, "shortest_edge"):
        resize: tuple[Any, ...] = ("shortest_edge", int(_field(size, "shortest_edge")))
    elif _field(size, "height") and _field(size, "width"):
        resize = ("exact", int(_field(size, "height")), int(_field(size, "width")))
    else:
        raise InputError(f"image processor size {size!r} is not supported: use a ViT-like model")
    crop: tuple[int, int] | None = None
    if getattr(processor, "do_center_crop", False):
        cs = getattr(processor, "crop_size", None)
        if isinstance(cs, int):
            cs = {"height": cs, "width": cs}
        crop = (int(_field(cs, "height")), int(_field(cs, "width")))
    if getattr(processor, "do_normalize", True):
        mean = tuple(float(v) for v in processor.image_mean)
        std = tuple(float(v) for v in processor.image_std)
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if getattr(processor, "do_rescale", True) is False:
        raise InputError("image processors without rescaling to [0, 1] are not supported")
    resample = int(getattr(processor, "resample", 3) or 3)
    interpolation = "bilinear" if resample == 2 else "bicubic"
    return Preprocess(resize, crop, mean[:3], std[:3], interpolation, decode)  # type: ignore[arg-type]
