"""Embedding throughput: the Ray executor against the local one, and encoder micro-benchmarks.

Modes (one run each; ratios are measured within the run, absolute times are noisy here):

- ``ray`` (default): minilm on N report-like texts into a fresh store, (a) local executor in
  this process (torch uses every core), (b) ``--executor ray`` with one single-threaded actor
  per core. Prints the steady-state throughput ratio, Ray's fixed start-up cost (``ray.init``
  + actors loading the model), and an estimate of wall time for 377,000 images on N GPUs.
- ``text``: semalign's minilm against sentence-transformers on the same checkpoint.
- ``image``: efficientnet-lite0 on the packaged chest X-rays for 0/1/2 decoding workers, and the
  per-image CPU cost of decoding + resizing alone (the part that scales with CPU cores).
- ``decode``: full-size chest X-rays (the 16 packaged CXRs upscaled to 3000 x 2500) as JPEG,
  16-bit PNG and DICOM, for efficientnet-lite0 (224 px): images/s of decode only, decode +
  preprocess, model only and end to end, for semalign's path (JPEGs drafted), its exact
  full-resolution path, the PIL floor (PIL decode with draft + one resize) and a transformers
  AutoImageProcessor on the fully decoded image; then `embed` on full-size JPEGs against the same
  images pre-resized by ``data resize``, and the DataLoader worker counts.
- ``estimate``: the 377,000-image estimate alone (decode cost measured, start-up not included).
- ``memory``: peak resident memory of a whole store job (a tiny randomly initialised BERT saved
  to a temporary folder, so the model costs nothing) for 10,000 and 50,000 texts, each in a
  fresh process: it must not grow with n beyond the input list itself.
- ``vit``: the image pipeline of a real-size ViT-B/14 at 518 px in RAD-DINO's layout (Dinov2Model
  config.json, model.safetensors with random weights, BitImageProcessor) loaded from a local
  folder as a user's RAD-DINO copy would be, on ``--device``, per precision: images/s end to end
  (``embed_to_store`` into a fresh store, as ``semalign embed`` does: files read and hashed,
  decoded in DataLoader workers, model, chunks written) on N full-size JPEG CXRs (3000 x 2500;
  16 distinct files, cycled), and of the model alone on preprocessed tensors (decode excluded,
  warm-up excluded); then the 377,000-image wall time on 1, 4 and 8 such devices from those
  measured rates. ``--hidden``/``--layers`` shrink the model for smoke tests.

Usage: python benchmarks/bench_embed.py [--mode ray|text|image|decode|estimate|memory|vit]
       [--n N (default 2000; vit: 16 on CPU, 512 on CUDA)] [--batch-size 32]
       vit only: [--hidden 768] [--layers 12] [--device auto|cpu|cuda[:N]]
       [--precisions float32,bfloat16[,float16 on CUDA]] [--num-workers N (default: semalign's)]
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semalign.encoders import load_encoder
from semalign.store import embed_to_store, items_from

FINDINGS = [
    "Small left pleural effusion.",
    "Heart size is normal.",
    "No acute cardiopulmonary process.",
    "Right lower lobe consolidation concerning for pneumonia.",
    "Mild pulmonary edema.",
    "The lungs are clear bilaterally without focal consolidation, effusion or pneumothorax.",
]
MIMIC_SCALE = 377_000


def texts(n: int) -> list[str]:
    """``n`` distinct report-like texts of 1 to 5 sentences (seeded)."""
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(FINDINGS, size=rng.integers(1, 6))) + f" ({i})" for i in range(n)]


def best_rate(fn: Callable[[], object], n: int, repeat: int) -> float:
    """Best items/s over ``repeat`` calls of ``fn`` processing ``n`` items."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def mode_ray(n: int, chunk_size: int, batch_size: int) -> None:
    import ray

    from semalign.distributed.embed import EncoderSpec, RayExecutor

    cores = os.cpu_count() or 1
    items = items_from([f"t{i}" for i in range(n)], texts(n), "text")
    warm = items_from(["w0", "w1"], ["Heart size is normal.", "No effusion."], "text")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        enc = load_encoder("minilm", device="cpu")
        embed_to_store(enc, warm, f"{tmp}/warm-local")
        local_load = time.perf_counter() - t0
        rep = embed_to_store(enc, items, f"{tmp}/local", chunk_size=chunk_size,
                             batch_size=batch_size)  # fmt: skip
        local_rate = n / rep.seconds

        t0 = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=256 * 1024**2,
                 log_to_driver=False)  # fmt: skip
        t_init = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            with RayExecutor(EncoderSpec("minilm", {"device": "cpu"}), workers=cores) as ex:
                assert ex.info is not None
                embed_to_store(ex.info, warm, f"{tmp}/warm-ray", executor=ex)
                t_actors = time.perf_counter() - t0
                rray = embed_to_store(ex.info, items, f"{tmp}/ray", chunk_size=chunk_size,
                                      batch_size=batch_size, executor=ex)  # fmt: skip
        finally:
            ray.shutdown()
    ray_rate = n / rray.seconds
    startup = t_init + t_actors
    print(f"minilm, {n} texts, chunks of {chunk_size}, batches of {batch_size}, {cores} cores")
    print(f"  local executor : {local_rate:8.1f} texts/s  (model load {local_load:.1f} s)")
    print(f"  ray executor   : {ray_rate:8.1f} texts/s  ({cores} actors x 1 thread)")
    print(f"  ratio ray/local (steady state): {ray_rate / local_rate:.2f}")
    print(f"  ray fixed start-up: {startup:.1f} s = ray.init {t_init:.1f} s + actors loading "
          f"the model {t_actors:.1f} s")  # fmt: skip
    e2e_local = local_load + n / local_rate
    e2e_ray = startup + n / ray_rate
    print(f"  end to end for {n} texts: local {e2e_local:.1f} s, ray {e2e_ray:.1f} s; "
          f"break-even where ray's start-up is repaid: "
          f"{_break_even(startup - local_load, local_rate, ray_rate)}")  # fmt: skip
    diff = (1.0 / ray_rate - 1.0 / local_rate) * cores
    print(f"  measured per-item cost: {cores / local_rate * 1e3:.2f} core-ms/text locally, "
          f"{cores / ray_rate * 1e3:.2f} on Ray (difference {diff * 1e3:+.2f}: thread layout, "
          f"scheduling and whatever else runs on the machine)")  # fmt: skip
    estimate(startup, rray.seconds / max(1, rray.chunks_computed), chunk_size)


def _break_even(extra_start: float, local_rate: float, ray_rate: float) -> str:
    if ray_rate <= local_rate:
        return "never on this machine (no extra cores to gain; Ray pays off across nodes/GPUs)"
    return f"{extra_start / (1 / local_rate - 1 / ray_rate):.0f} items"


def decode_seconds() -> dict[str, float]:
    """Measured: seconds per image per core to decode + preprocess a chest X-ray JPEG, by size.

    Full size = a packaged CXR upscaled to 3000 x 2500 (MIMIC-CXR-JPG), decoded by semalign's
    default path (DCT-domain draft) to 224 px (ViT-B/16) and 518 px (RAD-DINO); pre-resized =
    the same image after ``data resize --size 512``. Best of interleaved repeats.
    """
    from PIL import Image

    from semalign.data.packaged import kermany_mini_dir
    from semalign.encoders.images import Preprocess

    src = sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg")))[0]
    norm = ((0.5,) * 3, (0.5,) * 3)
    p224 = Preprocess(("exact", 224, 224), None, *norm, "bicubic")
    p518 = Preprocess(("shortest_edge", 518), (518, 518), *norm, "bicubic")
    with tempfile.TemporaryDirectory() as tmp:
        full, small = Path(tmp) / "full.jpg", Path(tmp) / "small.jpg"
        with Image.open(src) as im:
            big = im.convert("L").resize((2500, 3000), Image.Resampling.BICUBIC)
        big.save(full, quality=95)
        big.resize((512, 614), Image.Resampling.BICUBIC).save(small, quality=95)
        fns: dict[str, Callable[[Path], object]] = {
            "full-size JPEG -> 224 px": p224.load,
            "full-size JPEG -> 518 px": p518.load,
            "pre-resized 512 JPEG -> 224 px": lambda _: p224.load(small),
            "pre-resized 512 JPEG -> 518 px": lambda _: p518.load(small),
        }
        rates = _rates(fns, [full], repeat=7)
    return {name: 1.0 / r for name, r in rates.items()}


def estimate(startup: float, chunk_seconds: float | None = None, chunk_size: int = 0) -> None:
    """Print the 377,000-image estimate: formula, measured inputs, assumed GPU figures."""
    dec = decode_seconds()
    r_gpu = 1000.0
    print(f"\nEstimate: {MIMIC_SCALE:,} chest X-rays (MIMIC-CXR scale), a ViT-B on N GPUs")
    print("  wall(N) ~= S + n / (N * r),  r = min(r_gpu, k / c_dec)  images/s per GPU actor")
    print(f"  MEASURED here: S = {startup:.1f} s start-up (Ray init + model load in the actors);")
    print("    c_dec = seconds per image per core to decode + preprocess (semalign's draft path):")
    for name, sec in dec.items():
        print(f"      {name:32s} {sec * 1e3:6.1f} ms")
    if chunk_seconds is not None:
        print(f"    one chunk round trip through an actor = {chunk_seconds:.2f} s for "
              f"{chunk_size} texts, nearly all of it the model itself")  # fmt: skip
    print(f"  ASSUMED (no GPU here): r_gpu ~ {r_gpu:.0f} images/s, ViT-B/16 at 224 px, fp16,")
    print("    batch 256, one A100/H100-class GPU, forward only; k = CPU cores decoding per GPU")
    print("    (data-loader workers)")
    for label in dec:
        if not label.endswith("224 px"):
            continue
        print(f"  {label}:")
        for k in (8, 16, 32):
            r = min(r_gpu, k / dec[label])
            row = ", ".join(
                f"N={g}: {(startup + MIMIC_SCALE / (g * r)) / 60:6.1f} min" for g in (1, 4, 8, 16)
            )
            print(f"    k={k:2d} (r={r:5.0f}/s) {row}")
    print("  Decoding, not the GPU, bounds the rate for full-size images: give each GPU many")
    print("  cores (or pre-resize once); the GPU saturates only when k / c_dec > r_gpu.")


def mode_text(n: int) -> None:
    from sentence_transformers import SentenceTransformer

    from semalign.encoders.packaged import minilm_path

    t = texts(n)
    ours = load_encoder("minilm", device="cpu")
    st = SentenceTransformer(str(minilm_path()), device="cpu")
    ours.embed(t[:64])
    st.encode(t[:64])
    r_ours, r_st = 0.0, 0.0
    for _ in range(3):  # interleaved, so shared CPU load hits both alike
        r_ours = max(r_ours, best_rate(lambda: ours.embed(t, batch_size=32), n, 1))
        r_st = max(r_st, best_rate(lambda: st.encode(t, batch_size=32), n, 1))
    print(f"minilm on {n} texts: semalign {r_ours:.0f}/s, sentence-transformers {r_st:.0f}/s, "
          f"ratio {r_ours / r_st:.3f}")  # fmt: skip


def mode_image() -> None:
    from semalign.data.packaged import kermany_mini_dir
    from semalign.encoders.images import read_image

    paths = sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg"))) * 4
    for workers in (0, 1, 2):
        enc = load_encoder("efficientnet-lite0", device="cpu", num_workers=workers)
        enc.embed(paths[:8], batch_size=8)
        rate = best_rate(lambda: enc.embed(paths, batch_size=16), len(paths), 2)  # noqa: B023
        print(f"efficientnet-lite0, {len(paths)} JPEG CXRs, workers={workers}: {rate:.1f} images/s")
    prep = load_encoder("efficientnet-lite0", device="cpu").transform
    t0 = time.perf_counter()
    for p in paths:
        prep(read_image(p))
    per = (time.perf_counter() - t0) / len(paths)
    print(f"decode + resize alone: {per * 1e3:.1f} ms per image per core "
          f"({1 / per:.0f} images/s per core)")  # fmt: skip


def _full_size_cxrs(folder: Path, n: int) -> dict[str, list[Path]]:
    """``n`` full-size CXRs (3000 x 2500) from the packaged ones, as JPEG, PNG-16 and DICOM."""
    import pydicom
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from semalign.data.packaged import kermany_mini_dir

    sources = sorted(kermany_mini_dir().glob("*.jpeg"))
    folder.mkdir()
    out: dict[str, list[Path]] = {"JPEG": [], "PNG-16": [], "DICOM": []}
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as im:
            big = im.convert("L").resize((2500, 3000), Image.Resampling.BICUBIC)
        big.save(folder / f"{i}.jpg", quality=95)
        grey = np.asarray(big, dtype=np.uint16)
        Image.fromarray(grey * 257).save(folder / f"{i}.png")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{i}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Rows, ds.Columns = grey.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.WindowCenter, ds.WindowWidth = 1024, 4096
        ds.PixelData = (grey * 16).astype("<u2").tobytes()
        ds["PixelData"].VR = "OW"
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
        assert pydicom.dcmread(folder / f"{i}.dcm").Rows == 3000
        for fmt, suffix in (("JPEG", "jpg"), ("PNG-16", "png"), ("DICOM", "dcm")):
            out[fmt].append(folder / f"{i}.{suffix}")
    return out


def _pil_floor(path: Path, size: int) -> np.ndarray:
    """PIL alone: decode (JPEG drafted in the DCT domain) + one resize, as float32 [0, 1]."""
    from PIL import Image

    if path.suffix == ".dcm":  # pydicom's stored values, resized as float32 (no LUTs)
        import pydicom

        raw = pydicom.dcmread(path).pixel_array.astype(np.float32)
        small = Image.fromarray(raw, mode="F").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(small) / np.float32(4095)
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("L", (size, size))
        im.load()
        if im.mode.startswith("I;16"):
            small = im.convert("F").resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(small) / np.float32(65535)
        return np.asarray(im.resize((size, size), Image.Resampling.BILINEAR)) / np.float32(255)


def _hf_processor(folder: Path, mean: float, std: float) -> Any:
    """transformers' AutoImageProcessor for a 224 px ViT-style model (from a saved config)."""
    from transformers import AutoImageProcessor, ViTImageProcessor

    ViTImageProcessor(size={"height": 224, "width": 224}, resample=2, image_mean=[mean] * 3,
                      image_std=[std] * 3).save_pretrained(folder)  # fmt: skip
    return AutoImageProcessor.from_pretrained(folder)


def _rates(
    fns: dict[str, Callable[[Path], object]], paths: list[Path], repeat: int = 5
) -> dict[str, float]:
    """images/s of each function over ``paths``: per image the best of ``repeat`` calls, the
    functions interleaved image by image so that the machine's load hits all of them alike."""
    best = {name: [float("inf")] * len(paths) for name in fns}
    for _ in range(repeat):
        for i, p in enumerate(paths):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(p)
                best[name][i] = min(best[name][i], time.perf_counter() - t0)
    return {name: len(paths) / sum(times) for name, times in best.items()}


def mode_decode(n: int) -> None:
    import torch

    from semalign.data.images import decode_image, load_image
    from semalign.data.resize import resize_mirror

    n = min(n, 48)
    enc = load_encoder("efficientnet-lite0", device="cpu", num_workers=0)
    exact = load_encoder("efficientnet-lite0", device="cpu", num_workers=0, decode="exact")
    prep, prep_x = enc.preprocess, exact.preprocess
    mean, std = prep.mean[0], prep.std[0]
    with tempfile.TemporaryDirectory() as tmp:
        files = _full_size_cxrs(Path(tmp) / "full", n)
        hf = _hf_processor(Path(tmp) / "proc", mean, std)

        def hf_path(p: Path) -> Any:
            rgb = np.repeat(load_image(p)[:, :, None], 3, axis=2)
            return hf(images=rgb, do_rescale=False, input_data_format="channels_last",
                      return_tensors="pt")["pixel_values"]  # fmt: skip

        def floor_path(p: Path) -> Any:
            x = (_pil_floor(p, 224) - np.float32(mean)) / np.float32(std)
            return torch.from_numpy(np.repeat(x[None], 3, axis=0))

        batch = torch.stack([prep.load(p) for p in files["JPEG"][:16]])
        enc.embed_outcome(files["JPEG"][:4], batch_size=4)
        model_rate = best_rate(lambda: enc._forward(batch), len(batch), 3)
        print(f"efficientnet-lite0 (224 px) on CPU, {n} full-size CXRs (3000 x 2500) per format, "
              f"{os.cpu_count()} cores; images/s, per image best of 3, one process")  # fmt: skip
        print(f"  model only (batch 16, forward): {model_rate:7.1f} images/s")
        paths: dict[str, Callable[[Path], object]] = {
            "semalign (draft)": prep.load,
            "semalign --decode exact": prep_x.load,
            "PIL floor (draft + resize)": floor_path,
            "transformers AutoImageProcessor": hf_path,
        }
        decoders: dict[str, Callable[[Path], object]] = {
            "semalign (draft)": lambda p: decode_image(p, target=prep.resize_size),
            "semalign --decode exact": load_image,
            "PIL floor (draft + resize)": lambda p: _pil_floor(p, 224),
            "transformers AutoImageProcessor": load_image,
        }
        for fmt, group in files.items():
            print(f"  {fmt}:{'decode':>38s} {'+ preprocess':>13s} {'end to end*':>12s}")
            dec_rates = _rates(decoders, group, 3)
            rates = _rates(paths, group, 3)
            for name in paths:
                e2e = 1.0 / (1.0 / rates[name] + 1.0 / model_rate)
                print(f"    {name:32s} {dec_rates[name]:8.1f} {rates[name]:13.1f} {e2e:12.1f}")
            ours = rates["semalign (draft)"]
            print(f"    ratio PIL floor / semalign (time ours / floor): "
                  f"{rates['PIL floor (draft + resize)'] / ours:.2f}; semalign / transformers: "
                  f"{ours / rates['transformers AutoImageProcessor']:.1f}x")  # fmt: skip
        print("  * end to end = decode + preprocess, then the forward pass, one after the other")
        _embed_vs_resized(files["JPEG"], Path(tmp), resize_mirror)


def _embed_vs_resized(jpegs: list[Path], tmp: Path, resize_mirror: Any) -> None:
    """``embed`` on full-size JPEGs against the same images pre-resized; worker counts."""
    src = tmp / "jpegs"
    src.mkdir()
    for p in jpegs:
        (src / p.name).write_bytes(p.read_bytes())
    t0 = time.perf_counter()
    rep = resize_mirror(src, tmp / "mirror", 256)
    per = (time.perf_counter() - t0) / max(1, rep.resized)
    small = [tmp / "mirror" / p.name for p in jpegs]
    print(f"\nembed, {len(jpegs)} JPEGs, batch 4 (data resize --size 256 took "
          f"{per * 1e3:.0f} ms per image, {os.cpu_count()} processes)")  # fmt: skip
    for workers in (0, 1, 2):
        e = load_encoder("efficientnet-lite0", device="cpu", num_workers=workers)
        e.embed(small[:4], batch_size=4)
        full = best_rate(lambda: e.embed(jpegs, batch_size=4), len(jpegs), 2)  # noqa: B023
        pre = best_rate(lambda: e.embed(small, batch_size=4), len(small), 2)  # noqa: B023
        print(f"  workers={workers}: full size {full:6.1f} images/s, pre-resized {pre:6.1f} "
              f"images/s, time ratio full / pre-resized {pre / full:.2f}")  # fmt: skip


MEMORY_CHILD = """
import sys, tempfile
from semalign.encoders import load_encoder
from semalign.store import embed_to_store, items_from
folder, n = sys.argv[1], int(sys.argv[2])
words = "no acute cardiopulmonary process small left pleural effusion heart size normal".split()
texts = [" ".join(words[(i + j) % len(words)] for j in range(12)) + f" {i}" for i in range(n)]
enc = load_encoder(folder, device="cpu")
with tempfile.TemporaryDirectory() as store:
    embed_to_store(enc, items_from([f"t{i}" for i in range(n)], texts), store)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(peak / 1024)
"""


def mode_memory() -> None:
    import subprocess
    import sys

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    with tempfile.TemporaryDirectory() as folder:
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *" ".join(FINDINGS).lower().split()]
        (Path(folder) / "vocab.txt").write_text("\n".join(vocab) + "\n")
        BertTokenizerFast(vocab_file=str(Path(folder) / "vocab.txt")).save_pretrained(folder)
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64,
        )  # fmt: skip
        BertModel(config).save_pretrained(folder)
        for n in (10_000, 50_000):
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, folder, str(n)],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            print(
                f"store job, {n} texts (tiny BERT): peak resident memory {float(out[-1]):.0f} MiB"
            )


def _vit_folder(folder: Path, hidden: int, layers: int) -> int:
    """Write a RAD-DINO-layout checkpoint (Dinov2Model at 518 px, random weights, its processor)
    into ``folder``, ``hidden`` wide, ``layers`` deep, hidden // 64 heads; returns its parameters.
    """
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: rehearsal
    from rehearsal import models as rm

    heads = max(1, hidden // 64)
    cfg = {**rm.dinov2_config(hidden), "num_attention_heads": heads, "num_hidden_layers": layers}
    state = rm._hf_state(cfg, "Dinov2Model", seed=0)
    folder.mkdir()
    (folder / "config.json").write_bytes(rm._json(cfg))
    (folder / "model.safetensors").write_bytes(rm.safetensors_bytes(state))
    processor = rm.bit_processor(518, 518, rm.RAD_DINO_MEAN, rm.RAD_DINO_STD)
    (folder / "preprocessor_config.json").write_bytes(processor)
    return sum(t.numel() for t in state.values())


def _model_rate(enc: Any, paths: list[str], repeat: int) -> float:
    """images/s of the encoder's forward pass alone on one preprocessed batch (warmed up)."""
    import torch

    from semalign.encoders.runtime import autocast

    batch = torch.stack([enc.preprocess.load(p) for p in paths]).to(enc.device)

    def forward() -> None:
        with torch.inference_mode(), autocast(enc.device, enc.precision):
            enc._forward(batch)
        if enc.device.type == "cuda":
            torch.cuda.synchronize(enc.device)

    forward()
    return best_rate(forward, len(paths), repeat)


def mode_vit(
    n: int | None, hidden: int, layers: int, device: str, precisions: str | None,
    batch_size: int, num_workers: int | None,
) -> None:  # fmt: skip
    import torch

    from semalign.encoders.runtime import default_workers

    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    cuda = dev.startswith("cuda")
    n = n or (512 if cuda else 16)
    names = precisions.split(",") if precisions else ["float32", "bfloat16"]
    if not precisions and cuda:
        names.append("float16")
    bs = min(batch_size, n)
    workers = 0 if n <= bs else (default_workers() if num_workers is None else num_workers)
    shown = torch.cuda.get_device_name(torch.device(dev)) if cuda else f"{os.cpu_count()} cores"
    rates: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        params = _vit_folder(Path(tmp) / "model", hidden, layers)
        jpegs = _full_size_cxrs(Path(tmp) / "full", min(n, 16))["JPEG"]
        paths = [str(jpegs[i % len(jpegs)]) for i in range(n)]
        items = items_from([f"img{i}" for i in range(n)], paths, "image")
        print(
            f"Dinov2Model, RAD-DINO layout, random weights: hidden {hidden}, {layers} layers, "
            f"{max(1, hidden // 64)} heads, patch 14, 518 px, {params / 1e6:.1f}M parameters"
        )
        print(f"device {dev} ({shown}); {n} full-size JPEG CXRs (3000 x 2500, {len(jpegs)} "
              f"distinct files, cycled); batch {bs}; {workers} decoding worker(s)")  # fmt: skip
        for prec in names:
            t0 = time.perf_counter()
            enc = load_encoder(str(Path(tmp) / "model"), device=dev, precision=prec,
                               num_workers=num_workers)  # fmt: skip
            load_s = time.perf_counter() - t0
            warm = items_from([f"warm{i}" for i in range(bs)], paths[:bs], "image")
            embed_to_store(enc, warm, Path(tmp) / f"warm-{prec}", batch_size=bs)  # warm-up
            t0 = time.perf_counter()
            rep = embed_to_store(enc, items, Path(tmp) / f"store-{prec}", batch_size=bs)
            e2e = n / (time.perf_counter() - t0)
            assert rep.n_embedded == n and not rep.cache_hit
            model = _model_rate(enc, paths[:bs], repeat=10 if cuda else 3)
            rates[prec] = (load_s, e2e, model)
            print(f"  {prec:9s} end to end {e2e:8.1f} images/s (embed_to_store, decode in "
                  f"{workers} worker(s)); model only {model:8.1f} images/s (decode excluded); "
                  f"model load {load_s:.1f} s")  # fmt: skip
            del enc
            if cuda:
                torch.cuda.empty_cache()
    print(
        f"\nEstimate: {MIMIC_SCALE:,} images, wall(N) ~= S + n / (N * r), MEASURED on this "
        f"device ({dev}, {shown}) with {workers} decoding worker(s) per device;"
    )
    print("  S = model load, r = images/s per device above; N devices each as this one")
    for prec, (load_s, e2e, model) in rates.items():
        for label, r in (("end to end", e2e), ("model only", model)):
            row = ", ".join(
                f"N={g}: {(load_s + MIMIC_SCALE / (g * r)) / 60:8.1f} min" for g in (1, 4, 8)
            )
            print(f"  {prec:9s} {label}: {row}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = ("ray", "text", "image", "decode", "estimate", "memory", "vit")
    ap.add_argument("--mode", choices=modes, default="ray")
    ap.add_argument("--n", type=int, default=None, help="default 2000; vit: 16 CPU, 512 CUDA")
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=768, help="vit: width (heads = hidden // 64)")
    ap.add_argument("--layers", type=int, default=12, help="vit: transformer layers")
    ap.add_argument("--device", default="auto", help="vit: auto (cuda, else cpu) | cpu | cuda")
    ap.add_argument("--precisions", default=None, help="vit: comma-separated precisions")
    ap.add_argument("--num-workers", type=int, default=None, help="vit: decoding workers")
    args = ap.parse_args()
    n = 2000 if args.n is None else args.n
    if args.mode == "ray":
        mode_ray(n, args.chunk_size, args.batch_size)
    elif args.mode == "text":
        mode_text(n)
    elif args.mode == "memory":
        mode_memory()
    elif args.mode == "decode":
        mode_decode(n)
    elif args.mode == "estimate":
        estimate(0.0)
    elif args.mode == "vit":
        mode_vit(args.n, args.hidden, args.layers, args.device, args.precisions,
                 args.batch_size, args.num_workers)  # fmt: skip
    else:
        mode_image()


if __name__ == "__main__":
    main()
