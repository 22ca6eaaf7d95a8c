from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from semalign.data.images import is_dicom, load_image, to_pil_rgb, window
from semalign.errors import InputError

from .fixtures import write_dicom


def test_real_monochrome1_radiograph_is_inverted_and_windowed(rg1_path: Path) -> None:
    ds = pydicom.dcmread(rg1_path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    img = load_image(rg1_path)
    raw = ds.pixel_array.astype(np.float64)
    assert img.shape == raw.shape == (1955, 1841)
    assert img.dtype == np.float32 and img.flags.c_contiguous
    assert 0.0 <= img.min() and img.max() <= 1.0
    # independent oracle: pydicom's own VOI windowing, rescaled to [0, 1], then inverted
    voi = pydicom.pixels.apply_voi_lut(raw, ds)
    lo, hi = 0.0, 2.0**ds.BitsStored - 1
    expected = 1.0 - np.clip((voi - lo) / (hi - lo), 0, 1)
    assert np.abs(img - expected).max() < 1e-3
    # MONOCHROME1: the largest stored value is the darkest output pixel
    assert img.flat[int(np.argmax(raw))] == img.min()


def test_planted_dicom_with_rescale_and_window(tmp_path: Path) -> None:
    stored = np.array([[0, 500, 1000], [1500, 2000, 4095]], dtype=np.uint16)
    path = write_dicom(
        tmp_path / "x.dcm",
        stored,
        RescaleSlope=2,
        RescaleIntercept=-1000,
        WindowCenter=1000,
        WindowWidth=2001,
    )
    img = load_image(path)
    modality = stored * 2.0 - 1000.0
    expected = np.clip((modality - 999.5) / 2000.0 + 0.5, 0, 1)
    np.testing.assert_allclose(img, expected, atol=1e-6)
    path1 = write_dicom(
        tmp_path / "y", stored, PhotometricInterpretation="MONOCHROME1", BitsStored=12
    )
    assert is_dicom(path1)
    np.testing.assert_allclose(load_image(path1), 1.0 - stored / 4095.0, atol=1e-6)


def test_sixteen_bit_png_keeps_its_full_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(37, 53), dtype=np.uint16)
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    img = load_image(path)
    np.testing.assert_allclose(img, arr / 65535.0, rtol=0, atol=1e-7)
    mm = load_image(path, scaling="minmax")
    assert mm.min() == 0.0 and mm.max() == 1.0


def test_eight_bit_round_trip_through_rgb(tmp_path: Path) -> None:
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(arr).save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    np.testing.assert_allclose(img, arr / 255.0, atol=1e-7)
    rgb = to_pil_rgb(img)
    assert rgb.mode == "RGB" and rgb.size == (16, 16)
    np.testing.assert_array_equal(np.asarray(rgb)[..., 1], arr)
    colour = np.stack([arr, arr, arr], axis=-1)
    Image.fromarray(colour).save(tmp_path / "c.jpg", quality=100)
    assert np.abs(load_image(tmp_path / "c.jpg") - arr / 255.0).max() < 0.02


def test_real_paediatric_jpeg(kermany_dir: Path) -> None:
    img = load_image(sorted(kermany_dir.glob("*.jpeg"))[0])
    assert img.ndim == 2 and img.dtype == np.float32 and 0 <= img.min() < img.max() <= 1


def test_window_functions() -> None:
    x = np.array([0.0, 50.0, 100.0])
    np.testing.assert_allclose(window(x, 50, 100, "LINEAR_EXACT"), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(window(x, 50, 100, "SIGMOID")[1], 0.5)


def test_bad_files_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"bad\.png"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(InputError):
        to_pil_rgb(np.zeros((2, 2, 2)))
