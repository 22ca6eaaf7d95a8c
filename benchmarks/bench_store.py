"""Benchmarks of the embedding store; one run, ratios printed (absolute times here are noisy).

1. verify: what checking every chunk's sha256 costs when reading a 50,000-row entry (384-d,
   float32, 1024-row chunks): ``open_store(verify=True).read()`` / ``open_store(verify=False)
   .read()``, both with the files in the page cache (best of ``--repeat``).

Usage: python benchmarks/bench_store.py [--rows 50000] [--dim 384] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    verify_benchmark(args.rows, args.dim, args.repeat)


if __name__ == "__main__":
    main()
