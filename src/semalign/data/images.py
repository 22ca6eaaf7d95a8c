"""Decode chest X-ray files to float32 intensity arrays in [0, 1], bright = dense.

DICOM: stored values -> modality LUT (rescale slope/intercept) -> VOI (window centre/width, or a
VOI LUT sequence) -> [0, 1], inverted for MONOCHROME1 so that bone is bright as in MONOCHROME2.
Compressed transfer syntaxes decode through pydicom's pixel-data plugins (the ``dicom-codecs``
extra); a missing plugin is named in the error.
PNG/JPEG: 8- or 16-bit grey (colour is converted by luminance), scaled by the bit depth.

Nothing passes through a full-resolution float64 array: values are converted once to float32
(exact for 8- and 16-bit data). ``decode_image(..., target=)`` lets a JPEG decoder reduce the
image in the DCT domain (``Image.draft``) to the smallest power-of-two reduction that still
covers the size the model needs, so a 3000 x 2500 radiograph is never decoded at full size.

``ImageBytes`` is a path that carries the file's bytes: the store hashes an image's bytes and
the decoder decodes those same bytes (``io.BytesIO``), so each file is read once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from semalign.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
Scaling = Literal["dtype", "minmax"]
#: (full height, full width) -> (height, width) the caller will resize to.
TargetSize = Callable[[int, int], tuple[int, int]]

#: pydicom pixel-data plugins that decode each compressed transfer syntax (by UID prefix).
_DICOM_PLUGINS = (
    ("1.2.840.10008.1.2.4.5", "pylibjpeg with pylibjpeg-libjpeg (or pillow)"),  # JPEG 8/12-bit
    ("1.2.840.10008.1.2.4.57", "pylibjpeg with pylibjpeg-libjpeg"),  # JPEG lossless
    ("1.2.840.10008.1.2.4.70", "pylibjpeg with pylibjpeg-libjpeg"),  # JPEG lossless SV1
    ("1.2.840.10008.1.2.4.8", "pylibjpeg with pylibjpeg-libjpeg (or pyjpegls)"),  # JPEG-LS
    ("1.2.840.10008.1.2.4.9", "pylibjpeg with pylibjpeg-openjpeg (or pillow)"),  # JPEG 2000
    ("1.2.840.10008.1.2.5", "pylibjpeg with pylibjpeg-rle"),  # RLE lossless
)
CODECS_HINT = "pip install 'semalign[dicom-codecs]'"


class ImageBytes(str):
    """An image path (the string) with the file's bytes already read (``data``).

    Anything that takes a path still works (it reads the file again); ``decode_image`` and
    ``load_image`` decode ``data`` instead, so the bytes that were hashed are the ones decoded.
    """

    data: bytes

    def __new__(cls, path: str | Path, data: bytes) -> ImageBytes:
        obj = super().__new__(cls, str(path))
        obj.data = data
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (ImageBytes, (str(self), self.data))


def _opened(source: str | Path) -> Any:
    """What PIL / pydicom open: the bytes of an ``ImageBytes``, else the path."""
    return io.BytesIO(source.data) if isinstance(source, ImageBytes) else Path(source)


def is_dicom(path: str | Path) -> bool:
    """Whether ``path`` is DICOM: by suffix, else by the ``DICM`` magic at byte 128."""
    if Path(path).suffix.lower() in DICOM_SUFFIXES:
        return True
    if isinstance(path, ImageBytes):
        return path.data[128:132] == b"DICM"
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def load_image(
    path: str | os.PathLike[str], *, scaling: Scaling = "dtype", voi: bool = True
) -> np.ndarray:
    """Read ``path`` at full resolution as a float32 array (H, W) with values in [0, 1].

    ``scaling`` applies to PNG/JPEG: ``dtype`` divides by the largest value of the bit depth
    (255 or 65535), ``minmax`` stretches the image's own range. ``voi`` applies to DICOM: when
    False the window is ignored and the modality values are stretched min-max.
    """
    return decode_image(path, scaling=scaling, voi=voi)[0]


def decode_image(
    path: str | os.PathLike[str],
    *,
    scaling: Scaling = "dtype",
    voi: bool = True,
    target: TargetSize | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode ``path`` -> (float32 (h, w) in [0, 1], full (H, W) of the stored image).

    With ``target`` a JPEG is reduced while decoding (by 1, 2, 4 or 8, the largest factor whose
    result still covers ``target(H, W)``); other formats are decoded in full (h, w = H, W).
    An ``ImageBytes`` path is decoded from its bytes, without reading the file.
    """
    p = path if isinstance(path, ImageBytes) else Path(path)
    if not isinstance(p, ImageBytes) and not p.is_file():
        raise InputError(f"image file {p} does not exist: check the dataset root and layout")
    if scaling not in ("dtype", "minmax"):
        raise InputError(f"unknown scaling {scaling!r}: use 'dtype' or 'minmax'")
    if is_dicom(p):
        out = _load_dicom(p, voi=voi)
        return out, (int(out.shape[0]), int(out.shape[1]))
    return _load_raster(p, scaling=scaling, target=target)


def _minmax_(x: np.ndarray) -> np.ndarray:
    """Stretch float32 ``x`` to [0, 1] in place (all zeros when constant)."""
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        x[...] = 0.0
        return x
    x -= np.float32(lo)
    x /= np.float32(hi - lo)
    return x


def _load_raster(
    path: str | Path, *, scaling: Scaling, target: TargetSize | None
) -> tuple[np.ndarray, tuple[int, int]]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(_opened(path)) as im:
            full = (im.height, im.width)
            if target is not None and im.format == "JPEG":
                th, tw = target(*full)
                im.draft("L", (max(1, tw), max(1, th)))  # DCT-domain reduction, >= (tw, th)
            im.load()
            arr, depth = _raster_values(im, path)
            if not arr.flags.writeable:  # a float32 image is a view of PIL's bytes
                arr = arr.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"image {path} cannot be decoded ({exc}): check the file") from exc
    if scaling == "minmax":
        return _minmax_(arr), full
    if depth != 1.0:
        arr /= np.float32(depth)  # correctly rounded: equals float64 division cast to float32
    return np.clip(arr, 0.0, 1.0, out=arr), full


def _raster_values(im: Image.Image, path: str | Path) -> tuple[np.ndarray, float]:
    """One float32 copy of the decoded grey values, and the largest value of the bit depth."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.float32), 65535.0
    if mode in ("I", "F"):
        return np.asarray(im, dtype=np.float32), (65535.0 if mode == "I" else 1.0)
    if mode in ("L", "P", "1", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
        grey = im.convert("L") if mode != "L" else im
        return np.asarray(grey, dtype=np.float32), 255.0
    raise InputError(f"image {path} has unsupported mode {mode}: save it as PNG/JPEG")


def _first(value: object) -> float:
    from pydicom.multival import MultiValue

    if isinstance(value, (MultiValue, list, tuple)):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The DICOM VOI window (PS3.3 C.11.2.1.2) mapped to [0, 1] instead of the output range.

    ``values`` are modality values; ``function`` is LINEAR, LINEAR_EXACT or SIGMOID. A float32
    ``values`` array is overwritten with the result (no full-resolution copy).
    """
    x = values if values.dtype == np.float32 else values.astype(np.float32)
    fn = function.upper()
    if fn == "SIGMOID":
        x -= np.float32(center)
        x *= np.float32(-4.0 / width)
        np.exp(x, out=x)
        x += np.float32(1.0)
        np.reciprocal(x, out=x)
    elif fn == "LINEAR_EXACT":
        x -= np.float32(center - 0.5 * width)
        x /= np.float32(width)
    else:
        if width < 1:
            raise InputError(f"DICOM window width {width} is below 1: the file is invalid")
        if width == 1:
            np.greater_equal(x, np.float32(center - 0.5), out=x)
        else:
            x -= np.float32(center - 0.5 - 0.5 * (width - 1))
            x /= np.float32(width - 1)
    return np.clip(x, 0.0, 1.0, out=x)


def _pixels(ds: Any, path: str | Path) -> np.ndarray:
    """The stored pixel array, decompressed through pydicom's plugins when needed."""
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is not None and uid.is_compressed:
        try:
            ready = get_decoder(uid).is_available
        except NotImplementedError:
            ready = False
        if not ready:
            plugin = next((name for pre, name in _DICOM_PLUGINS if str(uid).startswith(pre)), None)
            needs = f"the pydicom plugin {plugin}" if plugin else "a pydicom pixel-data plugin"
            raise InputError(
                f"DICOM {path} is compressed as {uid.name}, which needs {needs}: {CODECS_HINT}"
            )
    return ds.pixel_array


def _load_dicom(path: str | Path, *, voi: bool) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(_opened(path))
        raw = _pixels(ds, path)
    except InputError:
        raise
    except (InvalidDicomError, AttributeError, ValueError, RuntimeError) as exc:
        raise InputError(f"DICOM {path} cannot be decoded ({exc}): check the file") from exc
    if raw.ndim != 2:
        raise InputError(
            f"DICOM {path} has pixel array shape {raw.shape}: only single-frame grey images "
            "are supported"
        )
    if "ModalityLUTSequence" in ds:
        values = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    else:  # rescale in float32: exact for stored values up to 24 bits
        values = raw.astype(np.float32)
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        if slope != 1.0:
            values *= np.float32(slope)
        if intercept != 0.0:
            values += np.float32(intercept)
    if voi and "WindowCenter" in ds and "WindowWidth" in ds:
        fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        out = window(values, _first(ds.WindowCenter), _first(ds.WindowWidth), fn)
    elif voi and "VOILUTSequence" in ds:
        lut = ds.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2])
        out = np.asarray(apply_voi_lut(values, ds, prefer_lut=True), dtype=np.float32)
        out /= np.float32(2**bits - 1)
        np.clip(out, 0.0, 1.0, out=out)
    else:
        out = _minmax_(values)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        np.subtract(np.float32(1.0), out, out=out)
    return np.ascontiguousarray(out, dtype=np.float32)


def to_pil_rgb(image: np.ndarray) -> Image.Image:
    """An 8-bit RGB PIL image from a (H, W) array in [0, 1] (values outside are clipped)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(f"image array has shape {arr.shape}: expected (H, W) grey values")
    grey = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")
