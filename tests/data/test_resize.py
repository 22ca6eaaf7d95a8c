"""`semalign data resize`: a resized mirror, readable as a dataset root, resumable after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from clitools import TIMEOUT, fails_cleanly, run
from semalign.data.images import load_image
from semalign.data.registry import open_dataset
from semalign.data.resize import MANIFEST, resize_mirror

from .fixtures import write_dicom


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth image in [0, 1] (radiograph-like: no detail finer than the mirror keeps)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    a, b = rng.uniform(2, 6, size=2)
    return 0.5 + 0.4 * np.sin(a * xx * np.pi) * np.cos(b * yy * np.pi)


def _resized(values: np.ndarray, h: int, w: int) -> np.ndarray:
    """Oracle: float64 [0, 1] values resized to (h, w) with PIL's antialiased bicubic filter."""
    img = Image.fromarray(values.astype(np.float32), mode="F")
    return np.clip(np.asarray(img.resize((w, h), Image.Resampling.BICUBIC)), 0, 1)


def _dataset(root: Path) -> None:
    (root / "img" / "p1").mkdir(parents=True)
    jpg = np.rint(_smooth(1200, 1000, 0) * 255).astype(np.uint8)
    Image.fromarray(jpg).save(root / "img" / "p1" / "a.jpg", quality=95)
    png16 = np.rint(_smooth(900, 700, 1) * 65535).astype(np.uint16)
    Image.fromarray(png16).save(root / "img" / "b.png")
    Image.fromarray(np.full((60, 50), 7, np.uint8)).save(root / "img" / "small.png")
    stored = np.rint(_smooth(800, 640, 2) * 4095).astype(np.uint16)
    write_dicom(root / "img" / "c.dcm", stored, PhotometricInterpretation="MONOCHROME1",
                RescaleSlope=2, RescaleIntercept=-100, WindowCenter=4000, WindowWidth=8001,
                PatientID="P42")  # fmt: skip
    rows = ["id,image,report", "a,img/p1/a.jpg,No effusion.", "b,img/b.png,Small effusion.",
            "c,img/c.dcm,Clear lungs.", "s,img/small.png,Normal."]  # fmt: skip
    (root / "m.csv").write_text("\n".join(rows) + "\n")


def test_mirror_resizes_each_format_and_reads_as_a_root(tmp_path: Path) -> None:
    root, out = tmp_path / "ds", tmp_path / "mirror"
    root.mkdir()
    _dataset(root)
    rep = resize_mirror(root, out, 256, workers=2)
    assert (rep.resized, rep.copied, rep.skipped) == (3, 2, 0)
    # JPEG: shorter side 256, aspect kept, values as the full-resolution resize (to JPEG noise)
    a = load_image(out / "img" / "p1" / "a.jpg")
    assert a.shape == (307, 256)
    ref = _resized(load_image(root / "img" / "p1" / "a.jpg"), 307, 256)
    assert np.abs(a - ref).mean() < 2 / 255
    # 16-bit PNG stays 16-bit
    with Image.open(out / "img" / "b.png") as im:
        assert im.mode.startswith("I;16") and im.size == (256, 329)
    ref = _resized(load_image(root / "img" / "b.png"), 329, 256)
    assert np.abs(load_image(out / "img" / "b.png") - ref).max() < 2e-5
    # DICOM: the exact pixel path (rescale, window, MONOCHROME1) survives; header fields kept
    c = load_image(out / "img" / "c.dcm")
    ref = _resized(load_image(root / "img" / "c.dcm"), 320, 256)
    assert c.shape == (320, 256) and np.abs(c - ref).max() < 2e-5
    assert pydicom.dcmread(out / "img" / "c.dcm").PatientID == "P42"
    # small images and tables are copied byte for byte
    for rel in ("img/small.png", "m.csv"):
        assert (out / rel).read_bytes() == (root / rel).read_bytes()
    body = json.loads((out / MANIFEST).read_text())
    assert body["size"] == 256 and body["images"]["img/p1/a.jpg"] == [307, 256]
    assert len(body["images"]) == 4
    # a reader accepts the mirror as its root
    recs = list(
        open_dataset("manifest", out / "m.csv", image_col="image", text_col="report", id_col="id")
    )
    assert [r.id for r in recs] == ["a", "b", "c", "s"]
    for r in recs:
        assert out in r.image_paths[0].parents and load_image(r.image_paths[0]).ndim == 2
    # a rerun does nothing; another size is refused
    again = resize_mirror(root, out, 256)
    assert (again.resized, again.copied, again.skipped) == (0, 0, 5)


def test_resize_resumes_after_kill_9(tmp_path: Path) -> None:
    root, out, clean = tmp_path / "ds", tmp_path / "mirror", tmp_path / "clean"
    (root / "x").mkdir(parents=True)
    n = 40
    for i in range(n):
        img = np.rint(_smooth(1500, 1200, i) * 255).astype(np.uint8)
        Image.fromarray(img).save(root / "x" / f"{i:02d}.jpg", quality=90)
    # a named pipe sorted after 00..04: the job blocks there (no writer) after exactly 5 images,
    # so the kill lands part-way whatever the machine's load
    blocker = root / "x" / "05.fifo.jpg"
    os.mkfifo(blocker)
    args = [sys.executable, "-m", "semalign", "data", "resize", "--root", str(root), "--out",
            str(out), "--size", "128", "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT  # bounds a broken build only
    while len(list(out.glob("x/*.jpg"))) < 5 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted((out / "x").glob("*.jpg"))
    assert [p.name for p in done] == [f"{i:02d}.jpg" for i in range(5)]  # killed part-way
    assert not (out / MANIFEST).exists()
    for p in done:  # whatever exists is complete
        assert load_image(p).shape == (160, 128)
    blocker.unlink()
    Image.fromarray(np.rint(_smooth(1500, 1200, 99) * 255).astype(np.uint8)).save(
        blocker, format="JPEG", quality=90
    )
    res = run("data", "resize", "--root", root, "--out", out, "--size", "128", "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert f"already done {len(done)}" in res.stdout, res.stdout
    names = sorted([f"{i:02d}.jpg" for i in range(n)] + [blocker.name])
    assert sorted(p.name for p in (out / "x").iterdir()) == names
    resize_mirror(root, clean, 128, workers=1)
    for name in names:  # the resumed mirror equals an uninterrupted one
        rel = f"x/{name}"
        assert (out / rel).read_bytes() == (clean / rel).read_bytes()
    assert (
        json.loads((out / MANIFEST).read_text())["images"]
        == json.loads((clean / MANIFEST).read_text())["images"]
    )


def test_resize_errors_name_the_input(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    Image.fromarray(np.zeros((600, 600), np.uint8)).save(root / "a.png")
    fails_cleanly(run("data", "resize", "--root", root, "--out", root / "m"), "inside --root")
    fails_cleanly(run("data", "resize", "--root", tmp_path / "nope", "--out", tmp_path / "o"),
                  "nope")  # fmt: skip
    ok = run("data", "resize", "--root", root, "--out", tmp_path / "o", "--size", "64")
    assert ok.returncode == 0, ok.stderr
    fails_cleanly(
        run("data", "resize", "--root", root, "--out", tmp_path / "o", "--size", "32"), "size 64"
    )
