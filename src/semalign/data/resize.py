"""A resized mirror of a dataset folder: same relative paths, small files, resumable.

``resize_mirror(root, out, size)`` walks ``root`` and writes under ``out``:

- JPEG and PNG images with a shorter side above ``size``, resized so that it equals ``size``
  (aspect kept): JPEGs are reduced in the DCT domain while decoding, then resized once in 8-bit
  and saved as JPEG; 8-bit PNGs are resized in 8-bit, 16-bit PNGs in float32 and saved as 16-bit;
- DICOMs, decoded exactly (modality/VOI LUT, MONOCHROME1 inverted) and resized in float32, as an
  uncompressed 16-bit MONOCHROME2 DICOM whose LINEAR_EXACT window maps 0..65535 onto [0, 1], with
  the other header fields (patient, view, ...) kept;
- every other file (tables, reports) and every image already small enough, copied byte for byte.

So a dataset reader accepts ``out`` as its root. Each output is written atomically; a rerun
skips outputs that exist and deletes the temporaries of killed writers (a run killed at any
moment resumes where it stopped). The mirror's own
manifest ``semalign-resize.json`` (size, quality, source, every image's stored shape) is written
at the end of each run.
"""

from __future__ import annotations

import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semalign.artefacts import atomic_write_bytes
from semalign.data.images import DICOM_SUFFIXES, is_dicom, load_image
from semalign.errors import InputError

MANIFEST = "semalign-resize.json"
RASTER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


@dataclass(frozen=True)
class ResizeReport:
    """What one run did: images resized, files copied, outputs found done, seconds."""

    resized: int
    copied: int
    skipped: int
    seconds: float
    manifest: Path


def _target(h: int, w: int, size: int) -> tuple[int, int] | None:
    """(h, w) with the shorter side ``size``, or None when the image is small enough."""
    short = min(h, w)
    if short <= size:
        return None
    return max(1, round(h * size / short)), max(1, round(w * size / short))


def _resize_float(pixels: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((hw[1], hw[0]), Image.Resampling.BICUBIC))
    return np.clip(out, 0.0, 1.0)


def _raster(src: Path, size: int, quality: int) -> tuple[bytes | None, tuple[int, int]]:
    """Encoded resized image (None: copy the source as it is) and its stored (h, w)."""
    from PIL import Image

    with Image.open(src) as im:
        full = (im.height, im.width)
        hw = _target(*full, size)
        if hw is None:
            return None, full
        fmt = im.format
        if fmt == "JPEG":
            im.draft(im.mode, (hw[1], hw[0]))  # DCT-domain reduction, still >= the target
        im.load()
        buf = io.BytesIO()
        if im.mode.startswith("I;16") or im.mode in ("I", "F"):
            depth = 1.0 if im.mode == "F" else 65535.0
            values = np.asarray(im, dtype=np.float32) / np.float32(depth)
            small = _resize_float(values, hw)
            Image.fromarray(np.rint(small * 65535.0).astype(np.uint16)).save(buf, format="PNG")
        else:
            base = im if im.mode in ("L", "RGB") else im.convert("RGB")
            small_im = base.resize((hw[1], hw[0]), Image.Resampling.BICUBIC)
            if fmt == "JPEG":
                small_im.save(buf, format="JPEG", quality=quality)
            else:
                small_im.save(buf, format="PNG")
    return buf.getvalue(), hw


def _dicom(src: Path, size: int) -> tuple[bytes | None, tuple[int, int]]:
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian

    pixels = load_image(src)
    hw = _target(int(pixels.shape[0]), int(pixels.shape[1]), size)
    if hw is None:
        return None, (int(pixels.shape[0]), int(pixels.shape[1]))
    small = _resize_float(pixels, hw)
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    dropped = (
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "ModalityLUTSequence",
        "VOILUTSequence",
        "PixelSpacing",
        "ImagerPixelSpacing",
        "NumberOfFrames",
    )
    for key in dropped:
        if key in ds:
            del ds[key]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = hw
    ds.SamplesPerPixel = 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 32767.5, 65535, "LINEAR_EXACT"
    ds.PixelData = np.rint(small * 65535.0).astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), hw


def _one(job: tuple[str, str, int, int]) -> tuple[str, str, list[int] | None]:
    """Mirror one file: ('resized' | 'copied', rel, stored [h, w] of an image or None)."""
    src, dst, size, quality = job
    s, d = Path(src), Path(dst)
    suffix = s.suffix.lower()
    hw: tuple[int, int] | None = None
    data: bytes | None = None
    if suffix in RASTER_SUFFIXES:
        data, hw = _raster(s, size, quality)
    elif suffix in DICOM_SUFFIXES or is_dicom(s):
        data, hw = _dicom(s, size)
    if data is None:
        atomic_write_bytes(d, s.read_bytes())
        return "copied", dst, list(hw) if hw else None
    atomic_write_bytes(d, data)
    return "resized", dst, list(hw) if hw else None


def _stored_shape(path: Path) -> list[int] | None:
    """(h, w) of an output image already written by an earlier run, read from its header."""
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        from PIL import Image

        with Image.open(path) as im:
            return [im.height, im.width]
    if suffix in DICOM_SUFFIXES or is_dicom(path):
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return [int(ds.Rows), int(ds.Columns)]
    return None


def _remove_stale_temporaries(out: Path) -> None:
    """Delete the temporaries of writers that died (kill -9) mid-write: ``.NAME.tmp-PID-TID``."""
    if not out.is_dir():
        return
    for folder, _, names in os.walk(out):
        for name in names:
            if not (name.startswith(".") and ".tmp-" in name):
                continue
            try:
                pid = int(name.rsplit(".tmp-", 1)[1].split("-")[0])
                os.kill(pid, 0)  # still writing
            except ProcessLookupError:
                Path(folder, name).unlink(missing_ok=True)
            except (ValueError, PermissionError):
                continue


def _files(root: Path, out: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != out)
        found.extend(here / n for n in sorted(names) if ".tmp-" not in n and n != MANIFEST)
    return found


def resize_mirror(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    size: int = 512,
    *,
    quality: int = 95,
    workers: int | None = None,
) -> ResizeReport:
    """Write the resized mirror of ``root`` under ``out`` (see the module docstring)."""
    src_root, dst_root = Path(root).resolve(), Path(out).resolve()
    if not src_root.is_dir():
        raise InputError(f"dataset root {root} is not a folder: pass the folder as downloaded")
    if size < 1:
        raise InputError(f"--size {size} must be a positive number of pixels")
    if not 1 <= quality <= 100:
        raise InputError(f"--quality {quality} must lie in 1..100")
    if dst_root == src_root or src_root in dst_root.parents:
        raise InputError(f"--out {out} lies inside --root {root}: choose a folder outside it")
    manifest = dst_root / MANIFEST
    settings = {"size": size, "quality": quality}
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in settings} != settings:
            raise InputError(
                f"{out} is a mirror made with size {old.get('size')} and quality "
                f"{old.get('quality')}: write size {size} to a new --out folder"
            )
    t0 = time.perf_counter()
    _remove_stale_temporaries(dst_root)
    shapes: dict[str, list[int]] = {}
    jobs: list[tuple[str, str, int, int]] = []
    skipped = 0
    for src in _files(src_root, dst_root):
        rel = src.relative_to(src_root).as_posix()
        dst = dst_root / rel
        if dst.is_file():  # complete: every output is written atomically
            skipped += 1
            shape = _stored_shape(dst)
            if shape:
                shapes[rel] = shape
            continue
        jobs.append((str(src), str(dst), size, quality))
    counts = {"resized": 0, "copied": 0}
    n = max(1, workers) if workers is not None else (os.cpu_count() or 1)
    if n > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=n) as pool:
            results: Any = list(pool.map(_one, jobs, chunksize=max(1, len(jobs) // (8 * n))))
    else:
        results = map(_one, jobs)
    for kind, dst_s, shape in results:
        counts[kind] += 1
        if shape:
            shapes[Path(dst_s).relative_to(dst_root).as_posix()] = shape
    body = {"format": "semalign-resize", "version": 1, **settings, "source": str(src_root),
            "images": dict(sorted(shapes.items()))}  # fmt: skip
    atomic_write_bytes(manifest, (json.dumps(body, indent=1) + "\n").encode())
    return ResizeReport(
        counts["resized"], counts["copied"], skipped, time.perf_counter() - t0, manifest
    )


__all__ = ["MANIFEST", "ResizeReport", "resize_mirror"]
