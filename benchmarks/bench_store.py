"""Benchmarks of the embedding store; one run, ratios printed (absolute times here are noisy).

1. verify: what checking every chunk's sha256 costs when reading a 50,000-row entry (384-d,
   float32, 1024-row chunks): ``open_store(verify=True).read()`` / ``open_store(verify=False)
   .read()``, both with the files in the page cache (best of ``--repeat``).
2. edit: ``semalign embed`` of ``--texts`` report sentences with each of ``--models`` (default
   the packaged MiniLM, then e5-small, which needs no torch; real subprocesses, model load
   included), cold, then again after editing one text: wall time of the re-embed / the cold
   embed (goal: below 0.15), and a fully cached embed / cold.
3. cached: a fully cached ``semalign embed`` (no model loaded, no torch imported) / ``semalign
   data list``, best of ``--repeat`` (at most 3) real subprocesses each (goal: below 2).

Usage: python benchmarks/bench_store.py [--rows 50000] [--dim 384] [--repeat 5] [--texts 10000]
       [--models minilm,e5-small] [--only verify|edit|cached]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from semalign.store import embed_to_store, items_from, open_store


class HashEncoder:
    """A stand-in text encoder: float32 rows drawn from a generator seeded by each text."""

    modality = "text"
    name = "hash-encoder"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.fingerprint = f"hash-encoder:{dim}"

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for k, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            out[k] = np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
        return out


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def verify_benchmark(rows: int, dim: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        items = items_from([f"r{i}" for i in range(rows)], [f"report {i}" for i in range(rows)])
        rep = embed_to_store(HashEncoder(dim), items, Path(tmp), chunk_size=1024)

        def read(verify: bool) -> None:
            _, x = open_store(rep.path, verify=verify).read()
            float(x[:, 0].sum())  # touch the data

        read(True)  # warm the page cache
        verified = best_of(repeat, lambda: read(True))
        plain = best_of(repeat, lambda: read(False))
        mb = rows * dim * 4 / 1e6
        print(f"verify: {rows} x {dim} float32 ({mb:.0f} MB, {rep.chunks_total} chunks)")
        print(f"  verified read {verified * 1e3:.0f} ms, unverified read {plain * 1e3:.0f} ms")
        print(f"  ratio verified / unverified = {verified / plain:.2f}")


def _embed_cmd(model: str, manifest: Path, root: Path) -> list[str]:
    device = ["--device", "cpu"] if model != "e5-small" else []  # e5's C engine has no device
    return [sys.executable, "-m", "semalign", "embed", "-e", model, "-i", str(manifest),
            "-o", str(root), *device, "-q"]  # fmt: skip


def _seconds(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, proc.stdout


def _embed_seconds(model: str, manifest: Path, root: Path) -> tuple[float, str]:
    seconds, out = _seconds(_embed_cmd(model, manifest, root))
    return seconds, out.splitlines()[1]


def _write_texts(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": f"r{i:06d}", "report": t}) + "\n")


def _report_texts(n: int) -> list[str]:
    findings = ["Small left pleural effusion.", "Heart size is normal.", "No pneumothorax.",
                "Right lower lobe consolidation.", "Clear lungs."]  # fmt: skip
    return [f"{findings[i % len(findings)]} Study {i}, follow-up." for i in range(n)]


def edit_benchmark(n: int, model: str) -> None:
    texts = _report_texts(n)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        manifest, root = Path(tmp) / "reports.jsonl", Path(tmp) / "store"
        _write_texts(manifest, texts)
        cold, _ = _embed_seconds(model, manifest, root)
        cached, _ = _embed_seconds(model, manifest, root)
        texts[n // 2] = "Large right pleural effusion with compressive atelectasis."
        _write_texts(manifest, texts)
        edited, line = _embed_seconds(model, manifest, root)
        print(f"edit: {n} texts, {model}, `semalign embed` wall time (model load included)")
        print(f"  cold {cold:.1f} s, one text edited {edited:.1f} s ({line.split('; ')[1]}),")
        print(f"  fully cached {cached:.1f} s")
        print(f"  ratio edited / cold = {edited / cold:.3f} (goal < 0.15)")
        print(f"  ratio cached / cold = {cached / cold:.3f}")


def cached_benchmark(n: int, model: str, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        manifest, root = Path(tmp) / "reports.jsonl", Path(tmp) / "store"
        _write_texts(manifest, _report_texts(n))
        embed = _embed_cmd(model, manifest, root)
        _seconds(embed)  # cold: fills the store and records the fingerprint
        cached = min(_seconds(embed)[0] for _ in range(repeat))
        listing = min(
            _seconds([sys.executable, "-m", "semalign", "data", "list"])[0] for _ in range(repeat)
        )
        print(f"cached: {n} texts, {model}; best of {repeat} real subprocesses each")
        print(f"  fully cached embed {cached:.2f} s, `semalign data list` {listing:.2f} s")
        print(f"  ratio cached embed / data list = {cached / listing:.2f} (goal < 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--models", default="minilm,e5-small")
    parser.add_argument("--only", choices=["verify", "edit", "cached"])
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    if args.only in (None, "verify"):
        verify_benchmark(args.rows, args.dim, args.repeat)
    if args.only in (None, "edit"):
        for model in models:
            edit_benchmark(args.texts, model)
    if args.only in (None, "cached"):
        cached_benchmark(args.texts, models[0], min(3, args.repeat))


if __name__ == "__main__":
    main()
