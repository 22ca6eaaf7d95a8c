"""Benchmarks of the embedding store; one run, ratios printed (absolute times here are noisy).

1. verify: what checking every chunk's sha256 costs when reading a 50,000-row entry (384-d,
   float32, 1024-row chunks): ``open_store(verify=True).read()`` / ``open_store(verify=False)
   .read()``, both with the files in the page cache (best of ``--repeat``).
2. edit: ``semalign embed`` of ``--texts`` report sentences with the packaged MiniLM (real
   subprocesses, model load included), cold, then again after editing one text: wall time of
   the re-embed / the cold embed (goal: below 0.15), and a fully cached embed / cold.

Usage: python benchmarks/bench_store.py [--rows 50000] [--dim 384] [--repeat 5] [--texts 10000]
       [--only verify|edit]
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


def _embed_seconds(manifest: Path, root: Path) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "semalign", "embed", "-e", "minilm", "-i", str(manifest),
           "-o", str(root), "--device", "cpu", "-q"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, proc.stdout.splitlines()[1]


def _write_texts(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": f"r{i:06d}", "report": t}) + "\n")


def edit_benchmark(n: int) -> None:
    findings = ["Small left pleural effusion.", "Heart size is normal.", "No pneumothorax.",
                "Right lower lobe consolidation.", "Clear lungs."]  # fmt: skip
    texts = [f"{findings[i % len(findings)]} Study {i}, follow-up." for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        manifest, root = Path(tmp) / "reports.jsonl", Path(tmp) / "store"
        _write_texts(manifest, texts)
        cold, _ = _embed_seconds(manifest, root)
        cached, _ = _embed_seconds(manifest, root)
        texts[n // 2] = "Large right pleural effusion with compressive atelectasis."
        _write_texts(manifest, texts)
        edited, line = _embed_seconds(manifest, root)
        print(f"edit: {n} texts, minilm, `semalign embed` wall time (model load included)")
        print(f"  cold {cold:.1f} s, one text edited {edited:.1f} s ({line.split('; ')[1]}),")
        print(f"  fully cached {cached:.1f} s")
        print(f"  ratio edited / cold = {edited / cold:.3f} (goal < 0.15)")
        print(f"  ratio cached / cold = {cached / cold:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--only", choices=["verify", "edit"])
    args = parser.parse_args()
    if args.only in (None, "verify"):
        verify_benchmark(args.rows, args.dim, args.repeat)
    if args.only in (None, "edit"):
        edit_benchmark(args.texts)


if __name__ == "__main__":
    main()
