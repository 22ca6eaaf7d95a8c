"""Embedding throughput: the Ray executor against the local one, and encoder micro-benchmarks.

Modes (one run each; ratios are measured within the run, absolute times are noisy here):

- ``ray`` (default): minilm on N report-like texts into a fresh store, (a) local executor in
  this process (torch uses every core), (b) ``--executor ray`` with one single-threaded actor
  per core. Prints the steady-state throughput ratio, Ray's fixed start-up cost (``ray.init``
  + actors loading the model), and an estimate of wall time for 377,000 images on N GPUs.
- ``text``: semalign's minilm against sentence-transformers on the same checkpoint.
- ``image``: efficientnet-lite0 on the packaged chest X-rays for 0/1/2 decoding workers, and the
  per-image CPU cost of decoding + resizing alone (the part that scales with CPU cores).
- ``memory``: peak resident memory of a whole store job (a tiny randomly initialised BERT saved
  to a temporary folder, so the model costs nothing) for 10,000 and 50,000 texts, each in a
  fresh process: it must not grow with n beyond the input list itself.

Usage: python benchmarks/bench_embed.py [--mode ray|text|image|memory] [--n 2000]
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def decode_seconds_per_megapixel() -> float:
    """Measured: seconds per megapixel per core to decode + resize the packaged chest X-rays."""
    from PIL import Image

    from semalign.data.packaged import kermany_mini_dir
    from semalign.encoders.images import read_image

    paths = sorted(glob.glob(str(kermany_mini_dir() / "*.jpeg")))
    prep = load_encoder("efficientnet-lite0", device="cpu").transform
    prep(read_image(paths[0]))
    megapixels = 0.0
    t0 = time.perf_counter()
    for p in paths:
        prep(read_image(p))
    elapsed = time.perf_counter() - t0
    for p in paths:
        with Image.open(p) as im:
            megapixels += im.size[0] * im.size[1] / 1e6
    return elapsed / megapixels


def estimate(startup: float, chunk_seconds: float, chunk_size: int) -> None:
    """Print the 377,000-image estimate: formula, measured inputs, assumed GPU figures."""
    dec = decode_seconds_per_megapixel()
    r_gpu = 1000.0
    print(f"\nEstimate: {MIMIC_SCALE:,} chest X-rays (MIMIC-CXR scale), a ViT-B on N GPUs")
    print("  wall(N) ~= S + n / (N * r),  r = min(r_gpu, k / (c_dec * MP))  images/s per GPU actor")
    print(f"  MEASURED here: S = {startup:.1f} s Ray start-up (init + model load in the actors);")
    print(f"    c_dec = {dec * 1e3:.0f} ms per megapixel per core to decode + resize (packaged")
    print("    paediatric JPEG CXRs, ~1.4 MP); one chunk round trip through an actor =")
    print(f"    {chunk_seconds:.2f} s for {chunk_size} texts, nearly all of it the model itself")
    print(f"  ASSUMED (no GPU here): r_gpu ~ {r_gpu:.0f} images/s, ViT-B/16 at 224 px, fp16,")
    print("    batch 256, one A100/H100-class GPU, forward only; k = CPU cores decoding per GPU")
    print("    (data-loader workers); MIMIC-CXR-JPG full size ~2500 x 3000 = 7.5 MP per image")
    for label, mp in (("full-size JPEGs, 7.5 MP", 7.5), ("pre-resized 512 x 512", 0.262)):
        print(f"  {label}:")
        for k in (8, 16, 32):
            r = min(r_gpu, k / (dec * mp))
            row = ", ".join(
                f"N={g}: {(startup + MIMIC_SCALE / (g * r)) / 60:6.1f} min" for g in (1, 4, 8, 16)
            )
            print(f"    k={k:2d} (r={r:5.0f}/s) {row}")
    print("  Decoding, not the GPU, bounds the rate for full-size images: give each GPU many")
    print("  cores (or pre-resize once); the GPU saturates only when k / (c_dec * MP) > r_gpu.")


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("ray", "text", "image", "memory"), default="ray")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    if args.mode == "ray":
        mode_ray(args.n, args.chunk_size, args.batch_size)
    elif args.mode == "text":
        mode_text(args.n)
    elif args.mode == "memory":
        mode_memory()
    else:
        mode_image()


if __name__ == "__main__":
    main()
