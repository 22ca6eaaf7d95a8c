from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from clitools import TIMEOUT
from semalign.data.images import decode_image, is_dicom, load_image, to_pil_rgb, window
from semalign.errors import InputError

from .dicom_codecs import write_compressed
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


# --- decoding to the size the model needs; no float64 full-resolution copies -------------------


def test_sixteen_bit_png_is_exact_and_never_copied_through_float64(tmp_path: Path) -> None:
    import tracemalloc

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 65536, size=(600, 500), dtype=np.uint16)
    path = tmp_path / "big16.png"
    Image.fromarray(arr).save(path)
    tracemalloc.start()
    img = load_image(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # bitwise: float32 division is correctly rounded, as is float64 division cast to float32
    np.testing.assert_array_equal(img, (arr / 65535.0).astype(np.float32))
    # the 2-byte decoded values + the 4-byte result; one float64 copy alone would be 8 bytes/pixel
    assert peak < 7.0 * arr.size, peak / arr.size


def _jpeg(path: Path, h: int, w: int) -> Path:
    yy, xx = np.mgrid[0:h, 0:w]
    grey = (127 + 100 * np.sin(xx / 37.0) * np.cos(yy / 53.0)).astype(np.uint8)
    Image.fromarray(grey).save(path, quality=92)
    return path


@pytest.mark.parametrize(
    ("target", "factor"), [((224, 224), 8), ((300, 300), 4), ((700, 500), 2), ((1300, 900), 1)]
)
def test_jpeg_draft_takes_the_smallest_power_of_two_reduction_covering_the_target(
    tmp_path: Path, target: tuple[int, int], factor: int
) -> None:
    h, w = 2400, 2000
    path = _jpeg(tmp_path / "x.jpg", h, w)
    pixels, full = decode_image(path, target=lambda *_: target)
    assert full == (h, w)
    assert pixels.shape == (-(-h // factor), -(-w // factor))  # ceil division
    assert pixels.shape[0] >= target[0] and pixels.shape[1] >= target[1]
    if factor < 8:  # the next reduction would fall below the target
        assert -(-h // (2 * factor)) < target[0] or -(-w // (2 * factor)) < target[1]
    # a reduced decode agrees with the full decode averaged over factor x factor blocks
    exact = load_image(path)
    blocks = exact.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    assert np.abs(pixels - blocks).mean() < 0.01
    # formats without DCT-domain scaling decode in full
    png = tmp_path / "x.png"
    Image.fromarray(np.rint(exact * 255).astype(np.uint8)).save(png)
    assert decode_image(png, target=lambda *_: target)[0].shape == (h, w)


# --- compressed DICOM transfer syntaxes ----------------------------------------------------------

LOSSLESS = [RLELossless, JPEG2000Lossless, JPEGLSLossless, JPEGLosslessSV1]


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda u: u.name.split(",")[0])
def test_every_lossless_dicom_syntax_decodes_to_the_planted_pixels(
    tmp_path: Path, syntax: pydicom.uid.UID
) -> None:
    rng = np.random.default_rng(2)
    stored = rng.integers(0, 4096, size=(48, 37), dtype=np.uint16)
    attrs = {"RescaleSlope": 2, "RescaleIntercept": -1000, "WindowCenter": 3000,
             "WindowWidth": 6001}  # fmt: skip
    path = write_compressed(tmp_path / "c.dcm", stored, syntax, **attrs)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    modality = stored * 2.0 - 1000.0
    expected = np.clip((modality - 2999.5) / 6000.0 + 0.5, 0, 1)
    np.testing.assert_allclose(load_image(path), expected, rtol=0, atol=2e-7)


def test_jpeg_baseline_dicom_matches_an_independent_jpeg_decoder(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    grey = np.clip(rng.normal(120, 40, size=(64, 48)), 0, 255).astype(np.uint8)
    path = write_compressed(tmp_path / "b.dcm", grey, JPEGBaseline8Bit)
    frame = next(pydicom.encaps.generate_frames(pydicom.dcmread(path).PixelData))
    with Image.open(io.BytesIO(frame)) as im:
        decoded = np.asarray(im, dtype=np.float64)
    expected = (decoded - decoded.min()) / (decoded.max() - decoded.min())  # no window: min-max
    assert np.abs(load_image(path) - expected).max() <= 2.5 / 255  # IDCTs differ by +-1 level


def test_real_jpeg2000_radiograph_equals_its_uncompressed_twin(rg1_path: Path) -> None:
    j2k = rg1_path.with_name("RG1_J2KR.dcm")
    if not j2k.is_file():
        pytest.skip("RG1_J2KR.dcm not in pydicom-data")
    assert pydicom.dcmread(j2k).file_meta.TransferSyntaxUID == JPEG2000Lossless
    np.testing.assert_array_equal(load_image(j2k), load_image(rg1_path))


HIDE_PLUGINS = """
import sys
for name in ("pylibjpeg", "jpeg_ls", "gdcm"):
    sys.modules[name] = None  # as if not installed: pydicom's plugin checks fail to import them
from semalign.data.images import load_image
from semalign.errors import InputError
try:
    load_image(sys.argv[1])
except InputError as exc:
    print(exc)
"""


def test_missing_codec_plugin_is_named(tmp_path: Path) -> None:
    stored = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = write_compressed(tmp_path / "ll.dcm", stored, JPEGLosslessSV1)
    out = subprocess.run(
        [sys.executable, "-c", HIDE_PLUGINS, str(path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    msg = out.stdout.strip()
    assert out.returncode == 0 and len(msg.splitlines()) == 1, out.stderr
    assert "ll.dcm" in msg and "JPEG Lossless" in msg and "pylibjpeg-libjpeg" in msg, msg
    assert "semalign[dicom-codecs]" in msg, msg


def test_image_bytes_decode_exactly_like_their_file(
    rg1_path: Path, kermany_dir: Path, tmp_path: Path
) -> None:
    from semalign.data.images import ImageBytes

    jpeg = next(iter(sorted(kermany_dir.rglob("*.jpeg"))))
    png16 = tmp_path / "grey16.png"
    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(64, 48) * 21).astype(np.uint16)
    Image.fromarray(ramp).save(png16)
    dicom = write_dicom(tmp_path / "noext", np.arange(30, dtype=np.uint16).reshape(5, 6))
    for path in (rg1_path, jpeg, png16, dicom):
        held = ImageBytes(path, path.read_bytes())
        for target in (None, lambda h, w: (h // 5, w // 5)):
            a, full_a = decode_image(path, target=target)
            b, full_b = decode_image(held, target=target)
            assert full_a == full_b and np.array_equal(a, b), (path, target)
    gone = ImageBytes(tmp_path / "deleted.png", png16.read_bytes())
    assert np.array_equal(load_image(gone), load_image(png16))  # decoded from its bytes alone
