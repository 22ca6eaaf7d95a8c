"""Chest X-ray files derived from the real radiographs that ship offline.

Sources (read in place, never copied): the 16 paediatric X-rays of pneumonia-model-package
(8 normal ``N0..N7``, 8 bacterial pneumonia ``P0..P7``) and the adult PA radiograph
``RG1_UNCR.dcm`` of pydicom-data (``R``). Every derived file is a slightly rotated, cropped,
sometimes mirrored, contrast-changed and resized copy of one source, re-encoded at a varied JPEG
quality, so that no two files of a tree have the same bytes.

Files are written as JPEG (MIMIC-CXR-JPG, CheXpert) or as a JPEG-baseline DICOM in the manner of
the RSNA Pneumonia stage 2 files (8-bit MONOCHROME2, Secondary Capture, ``PatientID`` =
``patientId``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

SOURCE_SIDE = 640
"""Sources are decoded once and reduced to this longest side (pixels) before any derivation."""


@dataclass(frozen=True)
class Source:
    """One real radiograph: its name, kind (normal, pneumonia, adult) and uint8 pixels."""

    key: str
    name: str
    kind: str
    pixels: np.ndarray


@functools.cache
def sources() -> dict[str, Source]:
    """``N0..N7`` (normal), ``P0..P7`` (pneumonia) and ``R`` (RG1), bright = dense, uint8."""
    from PIL import Image

    from semalign.data.images import load_image
    from semalign.data.readers.demo import read_kermany_mini, read_rg1

    out: dict[str, Source] = {}
    counts = {"normal": 0, "pneumonia": 0}
    records = [*read_kermany_mini(), *read_rg1()]
    for r in records:
        path = r.image_paths[0]
        image = Image.fromarray(np.round(load_image(path) * 255).astype(np.uint8), mode="L")
        image.thumbnail((SOURCE_SIDE, SOURCE_SIDE), Image.Resampling.LANCZOS)
        if r.dataset == "rg1":
            key, kind = "R", "adult"
        else:
            kind = "pneumonia" if r.labels.get("Pneumonia") == 1.0 else "normal"
            key = f"{kind[0].upper()}{counts[kind]}"
            counts[kind] += 1
        out[key] = Source(key, path.stem, kind, np.asarray(image))
    return out


class Deriver:
    """Derives distinct image files from the sources with its own seeded generator.

    ``seen`` holds the SHA-256 of every file this deriver produced: a repeat is redrawn.
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def image(
        self, key: str, *, side: tuple[int, int], square: bool = False, lateral: bool = False
    ) -> Image.Image:
        """A new grey image from source ``key``: longest side drawn in ``side`` (pixels).

        ``square`` crops to a square first (as RSNA's 1024 x 1024 files); ``lateral`` takes a
        narrower, off-centre crop (no lateral radiograph ships offline: such files are
        derived from frontal sources too).
        """
        from PIL import Image

        rng = self.rng
        im = Image.fromarray(sources()[key].pixels, mode="L")
        w, h = im.size
        fw, fh = (
            (rng.uniform(0.55, 0.75), rng.uniform(0.8, 0.95))
            if lateral
            else rng.uniform(0.8, 0.97, size=2)
        )
        cw, ch = int(w * fw), int(h * fh)
        if square:
            cw = ch = min(cw, ch)
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        im = im.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.3:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        longest = int(rng.integers(side[0], side[1] + 1))
        scale = longest / max(im.size)
        size = (max(8, round(im.size[0] * scale)), max(8, round(im.size[1] * scale)))
        im = im.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        im = im.rotate(
            float(rng.uniform(-4.0, 4.0)), resample=Image.Resampling.BILINEAR, fillcolor=0
        )
        gamma = float(rng.uniform(0.8, 1.25))
        lo, hi = float(rng.uniform(0.0, 0.06)), float(rng.uniform(0.94, 1.0))
        lut = np.clip((np.linspace(0.0, 1.0, 256) ** gamma - lo) / (hi - lo), 0.0, 1.0)
        return im.point((np.round(lut * 255).astype(np.uint8)).tolist())

    def jpeg(self, key: str, *, side: tuple[int, int], lateral: bool = False) -> bytes:
        """The bytes of a new JPEG derived from source ``key`` (quality 72-95)."""
        while True:
            im = self.image(key, side=side, lateral=lateral)
            data = encode_jpeg(im, int(self.rng.integers(72, 96)))
            if self._new(data):
                return data

    def square_jpeg(self, key: str, *, side: int) -> tuple[bytes, int]:
        """A new square JPEG of ``side`` pixels (for DICOM frames): (bytes, side)."""
        from PIL import Image

        while True:
            im = self.image(key, side=(side, side), square=True)
            if im.size != (side, side):
                im = im.resize((side, side), Image.Resampling.BILINEAR)
            data = encode_jpeg(im, int(self.rng.integers(72, 96)))
            if self._new(data):
                return data, side

    def _new(self, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:
            return False
        self.seen.add(digest)
        return True


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """Baseline JPEG bytes of a grey PIL image."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(height, width) of JPEG bytes, read from the header."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size[1], im.size[0]


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_rsna_dicom(
    path: Path,
    frame: bytes,
    side: int,
    *,
    patient_id: str,
    view: str,
    age: str,
    sex: str,
    pixel_spacing: float,
    uid_seed: str,
) -> Path:
    """A DICOM file like RSNA Pneumonia's: one JPEG-baseline 8-bit MONOCHROME2 frame.

    Attributes follow the stage 2 files: Secondary Capture, Modality CR, ConversionType WSD,
    PatientName = PatientID = ``patient_id``, BodyPartExamined CHEST, ``ViewPosition``,
    PatientAge/PatientSex, PixelSpacing, series and instance number 1, StudyDate 19010101.
    UIDs are derived from ``uid_seed`` so that a tree is reproducible.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID, JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid

    def uid(part: str) -> UID:
        return generate_uid(entropy_srcs=[uid_seed, part])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = "19010101"
    ds.StudyTime = "000000.00"
    ds.AccessionNumber = ""
    ds.Modality = "CR"
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = f"view: {view}"
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = sex
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Invalid value for VR AS")
        ds.PatientAge = age
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.StudyID = ""
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = side
    ds.Columns = side
    ds.PixelSpacing = [f"{pixel_spacing:.6g}", f"{pixel_spacing:.6g}"]
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Invalid value for VR AS")  # as RSNA's: '51'
        ds.save_as(path, enforce_file_format=True)
    return path
