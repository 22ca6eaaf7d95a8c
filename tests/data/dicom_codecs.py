"""Writers of compressed DICOMs for the decoder tests, one per transfer syntax.

RLE, JPEG 2000 and JPEG-LS are encoded by pydicom's own encoder plugins; JPEG baseline by PIL;
JPEG lossless (process 14, selection value 1) by ``jpeg_lossless``, a small independent encoder
written from ITU-T T.81 (H.1) so that the decoder under test (libjpeg) has a planted truth.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from .fixtures import write_dicom


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def jpeg_lossless(pixels: np.ndarray, precision: int) -> bytes:
    """A one-component lossless JPEG (SOF3, predictor 1, no point transform) of ``pixels``.

    One Huffman table gives every difference category 0..16 a 5-bit code (T.81 Annex C/F).
    """
    img = pixels.astype(np.int64)
    rows, cols = img.shape
    pred = np.empty_like(img)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = img[0, :-1]  # first row: the left neighbour
    pred[1:, 0] = img[:-1, 0]  # first column: the pixel above
    pred[1:, 1:] = img[1:, :-1]  # predictor 1 elsewhere: the left neighbour
    diff = (img - pred) % 65536
    diff = np.where(diff > 32768, diff - 65536, diff).ravel()
    bits: list[str] = []
    for d in diff.tolist():
        ssss = int(abs(d)).bit_length()
        bits.append(format(ssss, "05b"))  # code of category ssss: its 5-bit index
        if 0 < ssss < 16:
            extra = d if d > 0 else d - 1
            bits.append(format(extra & ((1 << ssss) - 1), f"0{ssss}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    data = bytearray()
    for i in range(0, len(stream), 8):
        byte = int(stream[i : i + 8], 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0x00)  # byte stuffing
    counts = [0] * 16
    counts[4] = 17  # seventeen codes of length 5
    sof = (
        bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    )
    dht = b"\x00" + bytes(counts) + bytes(range(17))
    sos = b"\x01\x01\x00" + bytes([1, 0, 0])  # Ss = predictor 1, Se = 0, Ah/Al = 0
    return (
        b"\xff\xd8"
        + _segment(0xC3, sof)
        + _segment(0xC4, dht)
        + _segment(0xDA, sos)
        + bytes(data)
        + b"\xff\xd9"
    )


def _wrap(path: Path, frame: bytes, syntax: UID) -> Path:
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_compressed(path: Path, pixels: np.ndarray, syntax: UID, **attrs: object) -> Path:
    """A grey DICOM of ``pixels`` (uint16 for lossless syntaxes, uint8 for JPEG baseline)."""
    bits = 8 if syntax == JPEGBaseline8Bit else int(attrs.pop("BitsStored", 12))
    write_dicom(path, pixels, BitsStored=bits, **attrs)
    if syntax == JPEGBaseline8Bit:
        from PIL import Image

        ds = pydicom.dcmread(path)
        ds.BitsAllocated = 8
        ds.PixelData = pixels.astype(np.uint8).tobytes()
        ds.save_as(path, enforce_file_format=True)
        buf = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8), mode="L").save(buf, format="JPEG", quality=90)
        return _wrap(path, buf.getvalue(), syntax)
    if syntax == JPEGLosslessSV1:
        return _wrap(path, jpeg_lossless(pixels, bits), syntax)
    if syntax in (RLELossless, JPEG2000Lossless, JPEGLSLossless):
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(path, enforce_file_format=True)
        return path
    raise ValueError(f"no writer for {syntax}")
