"""Decode chest X-ray files to float32 intensity arrays in [0, 1], bright = dense.

DICOM: stored values -> modality LUT (rescale slope/intercept) -> VOI (window centre/width, or a
VOI LUT sequence) -> [0, 1], inverted for MONOCHROME1 so that bone is bright as in MONOCHROME2.
PNG/JPEG: 8- or 16-bit grey (colour is converted by luminance), scaled by the bit depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from semalign.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
Scaling = Literal["dtype", "minmax"]


def is_dicom(path: Path) -> bool:
    """Whether ``path`` is DICOM: by suffix, else by the ``DICM`` magic at byte 128."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def load_image(path: str | Path, *, scaling: Scaling = "dtype", voi: bool = True) -> np.ndarray:
    """Read ``path`` as a float32 array of shape (H, W) with values in [0, 1].

    ``scaling`` applies to PNG/JPEG: ``dtype`` divides by the largest value of the bit depth
    (255 or 65535), ``minmax`` stretches the image's own range. ``voi`` applies to DICOM: when
    False the window is ignored and the modality values are stretched min-max.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image file {p} does not exist: check the dataset root and layout")
    if is_dicom(p):
        return _load_dicom(p, voi=voi)
    return _load_raster(p, scaling=scaling)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


def _load_raster(path: Path, *, scaling: Scaling) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                arr = np.asarray(im, dtype=np.float64)
                depth = 65535.0
            elif mode in ("I", "F"):
                arr = np.asarray(im, dtype=np.float64)
                depth = 65535.0 if mode == "I" else 1.0
            elif mode in ("L", "P", "1", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
                grey = im.convert("L") if mode != "L" else im
                arr = np.asarray(grey, dtype=np.float64)
                depth = 255.0
            else:
                raise InputError(f"image {path} has unsupported mode {mode}: save it as PNG/JPEG")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"image {path} cannot be decoded ({exc}): check the file") from exc
    if scaling == "minmax":
        return _minmax(arr)
    if scaling != "dtype":
        raise InputError(f"unknown scaling {scaling!r}: use 'dtype' or 'minmax'")
    return np.clip(arr / depth, 0.0, 1.0).astype(np.float32)


def _first(value: object) -> float:
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The DICOM VOI window (PS3.3 C.11.2.1.2) mapped to [0, 1] instead of the output range.

    ``values`` are modality values; ``function`` is LINEAR, LINEAR_EXACT or SIGMOID.
    """
    x = values.astype(np.float64)
    fn = function.upper()
    if fn == "SIGMOID":
        y = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    elif fn == "LINEAR_EXACT":
        y = (x - center) / width + 0.5
    else:
        if width < 1:
            raise InputError(f"DICOM window width {width} is below 1: the file is invalid")
        if width == 1:
            y = (x >= center - 0.5).astype(np.float64)
        else:
            y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def _load_dicom(path: Path, *, voi: bool) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
    except (InvalidDicomError, AttributeError, ValueError, RuntimeError) as exc:
        raise InputError(f"DICOM {path} cannot be decoded ({exc}): check the file") from exc
    if raw.ndim != 2:
        raise InputError(
            f"DICOM {path} has pixel array shape {raw.shape}: only single-frame grey images "
            "are supported"
        )
    values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
    if voi and "WindowCenter" in ds and "WindowWidth" in ds:
        fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        out = window(values, _first(ds.WindowCenter), _first(ds.WindowWidth), fn)
    elif voi and "VOILUTSequence" in ds:
        lut = ds.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2])
        mapped = np.asarray(apply_voi_lut(values, ds, prefer_lut=True), dtype=np.float64)
        out = np.clip(mapped / float(2**bits - 1), 0.0, 1.0).astype(np.float32)
    else:
        out = _minmax(values)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = (1.0 - out).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def to_pil_rgb(image: np.ndarray) -> Image.Image:
    """An 8-bit RGB PIL image from a (H, W) array in [0, 1] (values outside are clipped)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(f"image array has shape {arr.shape}: expected (H, W) grey values")
    grey = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")
