"""Benchmark of the alignment core; one run, ratios printed (absolute times here are noisy).

1. fit + apply of ``orthogonal`` + ``standard``, 20,000 anchors, 768 -> 1024 dims, against
   (a) scipy's ``orthogonal_procrustes`` with the same standardisation done in numpy (source
   zero-padded to 1024 columns, as scipy needs equal widths) and (b) the floor: the work no
   implementation can skip on pre-standardised float64 data (cross-covariance, its SVD, one
   matrix product to apply).
2. streaming fit of 1,000,000 x 768 anchors in chunks, in a child process whose peak resident
   memory is read from the kernel.

Usage: python benchmarks/bench_align.py [--n 20000] [--stream-rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from scipy.linalg import orthogonal_procrustes

from semalign.align import Aligner


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def paired(n: int, d_s: int, d_t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_s), dtype=np.float32) * 2 + 1
    q = np.linalg.qr(rng.standard_normal((d_t, d_t)))[0][:d_s].astype(np.float32)
    y = x @ q * 3 - 2 + 0.1 * rng.standard_normal((n, d_t), dtype=np.float32)
    return x, y


def fit_apply_benchmark(n: int, d_s: int, d_t: int, repeat: int) -> None:
    x, y = paired(n, d_s, d_t)

    def ours() -> np.ndarray:
        return Aligner("orthogonal", "standard").fit(x, y).transform(x)

    def scipy_ref() -> np.ndarray:
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        mx, sx, my, sy = x64.mean(0), x64.std(0), y64.mean(0), y64.std(0)
        xs = np.zeros((n, d_t))
        xs[:, :d_s] = (x64 - mx) / sx
        ys = (y64 - my) / sy
        r, _ = orthogonal_procrustes(xs, ys)
        return (xs @ r) * sy + my

    xs = (x - x.mean(0)) / x.std(0)
    ys = (y - y.mean(0)) / y.std(0)
    xs64, ys64 = xs.astype(np.float64), ys.astype(np.float64)

    def floor() -> np.ndarray:
        u, _, vt = np.linalg.svd(xs64.T @ ys64, full_matrices=False)
        return xs64 @ (u @ vt)

    diff = np.abs(ours() - scipy_ref()).max() / np.abs(y).max()
    timings: dict[str, list[float]] = {"ours": [], "scipy": [], "floor": []}
    for _ in range(repeat):  # interleaved, so that load from other processes hits all three
        for name, fn in (("ours", ours), ("scipy", scipy_ref), ("floor", floor)):
            timings[name].append(best_of(1, fn))
    t_ours, t_scipy, t_floor = (min(timings[k]) for k in ("ours", "scipy", "floor"))
    print(f"fit+apply orthogonal/standard, {n} anchors, {d_s} -> {d_t} (best of {repeat}):")
    print(f"  semalign {t_ours:.3f} s | scipy+numpy {t_scipy:.3f} s | floor {t_floor:.3f} s")
    print(f"  ratio semalign/floor = {t_ours / t_floor:.2f} (target <= 1.30)")
    print(f"  ratio semalign/scipy = {t_ours / t_scipy:.2f}")
    print(f"  max |semalign - scipy| / max|y| = {diff:.1e}")


STREAM_CHILD = """
import sys, time
import numpy as np
from semalign.align import Aligner
rows, d, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
q = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
aligner = Aligner("orthogonal", "standard")
t0 = time.perf_counter()
for lo in range(0, rows, chunk):
    m = min(chunk, rows - lo)
    x = rng.standard_normal((m, d), dtype=np.float32)
    y = x @ q + 0.1 * rng.standard_normal((m, d), dtype=np.float32)
    aligner.partial_fit(x, y)
w = aligner.weight_
elapsed = time.perf_counter() - t0
err = np.abs(w - q).max()
# VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited at fork)
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM")) / 1024
print(f"{aligner.n_anchors_} {elapsed:.1f} {peak:.0f} {err:.2e}")
"""


def streaming_benchmark(rows: int, d: int, chunk: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, str(rows), str(d), str(chunk)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    n, elapsed, peak, err = int(out[0]), float(out[1]), float(out[2]), float(out[3])
    print(f"streaming fit of {n} x {d} anchors in chunks of {chunk}:")
    print(f"  {elapsed:.1f} s including data generation; peak resident memory {peak:.0f} MB")
    print(f"  (target < 1024 MB); max |W - planted rotation| = {err:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d-source", type=int, default=768)
    parser.add_argument("--d-target", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stream-rows", type=int, default=1_000_000)
    parser.add_argument("--stream-dim", type=int, default=768)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    if args.stream_rows:
        streaming_benchmark(args.stream_rows, args.stream_dim, args.chunk)
    fit_apply_benchmark(args.n, args.d_source, args.d_target, args.repeat)


if __name__ == "__main__":
    main()
