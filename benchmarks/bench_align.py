"""Benchmark of the alignment fits against their floor and scipy; one run, ratios printed.

Grid: n in {16, 64, 256, 1024, 20000} anchors x widths (d_s -> d_t) in {384, 768, 1280} (equal)
plus 1280 -> 384 and 384 -> 768, every closed-form method with scaling ``standard``; then every
method x scaling at two sizes. Each cell times ``Aligner(method, scaling).fit`` on float32
anchors (best of ``--repeat``, interleaved with the others so load hits all alike) against:

- floor: the least work that gives the same map, the rank included, written as straight numpy
  on the same float32 input (float64 conversion and the scaling included). For n < d_s: one
  eigendecomposition of the n x n Gram ``Z Z^T`` (``Zc Zc^T`` for ridge), the small SVD of the
  orthogonal family, forming W (n d_s d_t). For n >= d_s: the Grams ``Z^T Z`` (rank) and
  ``Z^T T``, the eigenvalues of ``Z^T Z`` (the rank rule needs them), and the method's own
  factorisation: the SVD of ``Z^T T`` (orthogonal family), a Cholesky solve (least squares),
  ``solve(Z^T Z + alpha I)`` (ridge).
- scipy: the textbook call without the rank rule or the null-space rule:
  ``scipy.linalg.orthogonal_procrustes`` (narrower side zero-padded), ``scipy.linalg.lstsq``
  (gelsd), ``scipy.linalg.solve(assume_a='pos')`` for ridge.

``sgd-affine`` is left out of the grid: it is iterative (up to max_iter steps of O(d_s^2 d_t),
or O(n d_s d_t) on the thin path), so its floor is its iterations, not a factorisation.
latentis 0.0.8 (PyPI) is not compared: it needs lightning, faiss-cpu, torchmetrics and GitPython
at import, which this project does not install; its Procrustes is ``torch.svd`` of the d x d
cross-Gram, which is what the scipy column's ``orthogonal_procrustes`` computes.

BLAS threads are limited to ``--threads`` (default 1) with threadpoolctl; ``--thread-check``
times a few fits under the default thread count too (the runner and CLI's policy).

``--sweep-check`` times every method x scaling on one anchor set, fitted one by one and through
:class:`semalign.align.AnchorSet` (shared preprocessing and factorisations).

Usage: python benchmarks/bench_align.py [--repeat 3] [--big-n 20000] [--thread-check]
       [--sweep-check] [--no-grid] [--stream-rows 0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.linalg as sl
from threadpoolctl import threadpool_limits

from semalign.align import Aligner, AnchorSet
from semalign.errors import InputError

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)
METHODS = ("orthogonal", "similarity", "linear", "affine", "ridge", "lstsq-orthogonal")
SCALINGS = ("none", "center", "std", "standard", "l2", "center-l2")
BIASED = {"affine", "ridge"}
WIDTHS = ((384, 384), (768, 768), (1280, 1280), (1280, 384), (384, 768))
NS = (16, 64, 256, 1024)
#: n = 20000: a subset (each fit forms two d x d Grams of 20,000 rows: seconds apiece)
BIG = (("orthogonal", (384, 384)), ("ridge", (768, 768)), ("affine", (1280, 384)))


def paired(n: int, d_s: int, d_t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_s), dtype=np.float32) * 2 + 1
    q = np.linalg.qr(rng.standard_normal((max(d_s, d_t),) * 2))[0][:d_s, :d_t]
    y = (x @ q.astype(np.float32)) * 3 - 2 + 0.1 * rng.standard_normal((n, d_t), dtype=np.float32)
    return x, y


def preprocess(x32: np.ndarray, scaling: str) -> np.ndarray:
    x = x32.astype(np.float64)
    mean = x.mean(axis=0)
    z = x - mean if scaling in {"center", "standard", "center-l2"} else x
    if scaling in {"std", "standard"}:
        z = z / x.std(axis=0)
    if scaling in {"l2", "center-l2"}:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return z


def floor_fit(method: str, scaling: str, x32: np.ndarray, y32: np.ndarray) -> np.ndarray:
    """The map with the least work (see the module docstring); the weight (d_s, d_t)."""
    z, t = preprocess(x32, scaling), preprocess(y32, scaling)
    n, d_s = z.shape
    d_t = t.shape[1]
    if method in BIASED and scaling not in {"center", "standard"}:
        z, t = z - z.mean(axis=0), t - t.mean(axis=0)
    tol2 = (d_s * EPS32) ** 2
    if n < d_s:
        lam, u = np.linalg.eigh(z @ z.T)
        if method == "ridge":
            return z.T @ (u @ ((u.T @ t) / (np.maximum(lam, 0) + 1.0)[:, None]))
        keep = lam > tol2 * lam.max()
        u, root = u[:, keep], np.sqrt(lam[keep])
        b = (u.T @ t) * (root[:, None] if method != "lstsq-orthogonal" else 1 / root[:, None])
        ub, sb, vbt = np.linalg.svd(b, full_matrices=False)
        k = int(np.count_nonzero(sb > max(d_s, d_t) * EPS64 * sb[0]))
        return z.T @ ((u @ (ub[:, :k] / root[:, None])) @ vbt[:k])
    gram, cross = z.T @ z, z.T @ t
    lam = np.linalg.eigvalsh(gram)
    assert np.count_nonzero(lam > tol2 * lam.max()) == d_s  # full rank in this benchmark
    if method in {"orthogonal", "similarity"}:
        u, _, vt = np.linalg.svd(cross, full_matrices=False)
        return u @ vt
    if method == "ridge":
        return np.linalg.solve(gram + np.eye(d_s), cross)
    w = sl.cho_solve(sl.cho_factor(gram), cross)
    if method == "lstsq-orthogonal":
        u, _, vt = np.linalg.svd(w, full_matrices=False)
        return u @ vt
    return w


def scipy_fit(method: str, scaling: str, x32: np.ndarray, y32: np.ndarray) -> np.ndarray:
    z, t = preprocess(x32, scaling), preprocess(y32, scaling)
    d_s, d_t = z.shape[1], t.shape[1]
    if method in {"orthogonal", "similarity"}:
        d = max(d_s, d_t)
        zp, tp = np.zeros((z.shape[0], d)), np.zeros((z.shape[0], d))
        zp[:, :d_s], tp[:, :d_t] = z, t
        return sl.orthogonal_procrustes(zp, tp)[0][:d_s, :d_t]
    if method == "ridge":
        zc, tc = z - z.mean(axis=0), t - t.mean(axis=0)
        return sl.solve(zc.T @ zc + np.eye(d_s), zc.T @ tc, assume_a="pos")
    if method == "affine":
        z = np.hstack([z, np.ones((z.shape[0], 1))])
    w = sl.lstsq(z, t)[0]
    if method == "lstsq-orthogonal":
        u, _, vt = np.linalg.svd(w, full_matrices=False)
        return u @ vt
    return w


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cell(method: str, scaling: str, n: int, d_s: int, d_t: int, repeat: int) -> str:
    x, y = paired(n, d_s, d_t)
    try:
        ours = Aligner(method, scaling).fit(x, y)
    except InputError as exc:  # too few rows or too low a rank: refused, as the floor would be
        return f"refused ({str(exc).split(':')[0][:60]})"
    ref = floor_fit(method, scaling, x, y)
    w = ours.weight_ / ours.scale_
    diff = np.linalg.norm(w - ref) / np.linalg.norm(ref)
    fns = {
        "ours": lambda: Aligner(method, scaling).fit(x, y),
        "floor": lambda: floor_fit(method, scaling, x, y),
        "scipy": lambda: scipy_fit(method, scaling, x, y),
    }
    best = {k: np.inf for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            best[k] = min(best[k], timed(fn))
    return (
        f"{best['ours'] * 1e3:9.2f} ms  /floor {best['ours'] / best['floor']:5.2f}  "
        f"/scipy {best['ours'] / best['scipy']:6.2f}  |W-floor| {diff:.0e}"
    )


def grid(repeat: int, big_n: int) -> None:
    print("method x (n, d_s -> d_t), scaling standard: fit time, ratio to floor and to scipy")
    for d_s, d_t in WIDTHS:
        for n in NS:
            for method in METHODS:
                res = cell(method, "standard", n, d_s, d_t, repeat)
                print(f"  n={n:5d} {d_s:4d}->{d_t:<4d} {method:17s} {res}", flush=True)
    if big_n:
        for method, (d_s, d_t) in BIG:
            res = cell(method, "standard", big_n, d_s, d_t, 1)
            print(f"  n={big_n:5d} {d_s:4d}->{d_t:<4d} {method:17s} {res}", flush=True)
    print("every method x scaling at 768 -> 768")
    for n in (64, 1024):
        for scaling in SCALINGS:
            for method in METHODS:
                res = cell(method, scaling, n, 768, 768, repeat)
                print(f"  n={n:5d} {scaling:10s} {method:17s} {res}", flush=True)


def sweep_check(repeat: int) -> None:
    """Every method x scaling on one anchor set: one Aligner.fit each vs AnchorSet's shared
    preprocessing and factorisations (the maps are the same)."""
    print("sweep: 6 methods x 6 scalings on one anchor set, separate fits vs AnchorSet")
    cells = [(m, s) for s in SCALINGS for m in METHODS]

    def separate(x: np.ndarray, y: np.ndarray) -> None:
        for m, s in cells:
            try:
                Aligner(m, s).fit(x, y)
            except InputError:
                pass

    def shared(x: np.ndarray, y: np.ndarray) -> None:
        anchors = AnchorSet(x, y)
        for m, s in cells:
            try:
                anchors.fit(m, s)
            except InputError:
                pass

    for n, d_s, d_t in ((64, 768, 768), (256, 1280, 384), (1024, 768, 768)):
        x, y = paired(n, d_s, d_t)
        t_sep = t_sh = np.inf
        for _ in range(repeat):
            t_sep = min(t_sep, timed(lambda x=x, y=y: separate(x, y)))
            t_sh = min(t_sh, timed(lambda x=x, y=y: shared(x, y)))
        print(
            f"  n={n} {d_s}->{d_t}: separate {t_sep * 1e3:.0f} ms, shared {t_sh * 1e3:.0f} ms "
            f"(shared / separate = {t_sh / t_sep:.2f})"
        )


def thread_check(repeat: int) -> None:
    """Fits under one BLAS thread (the runner and CLI's policy) against the library default."""
    print("BLAS threads: best-of fit time, 1 thread vs the default (threadpoolctl)")
    cases = (
        (16, 384, 384, "orthogonal"),
        (64, 768, 768, "orthogonal"),
        (256, 1280, 384, "ridge"),
        (1024, 768, 768, "affine"),
        (8192, 768, 768, "orthogonal"),
    )
    for n, d_s, d_t, method in cases:
        x, y = paired(n, d_s, d_t)

        def fit(m: str = method, x: np.ndarray = x, y: np.ndarray = y) -> None:
            Aligner(m).fit(x, y)

        out = {}
        for label, limit in (("1", 1), ("default", None)):
            with threadpool_limits(limits=limit, user_api="blas"):
                out[label] = min(timed(fit) for _ in range(repeat))
        print(
            f"  n={n} {d_s}->{d_t} {method}: 1 thread {out['1'] * 1e3:.1f} ms, default "
            f"{out['default'] * 1e3:.1f} ms (default / 1 = {out['default'] / out['1']:.2f})"
        )


STREAM_CHILD = """
import sys, time
import numpy as np
from semalign.align import Aligner, AnchorSet
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-n", type=int, default=20_000, help="0 skips the n = 20000 rows")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for the grid")
    parser.add_argument("--thread-check", action="store_true")
    parser.add_argument("--sweep-check", action="store_true")
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--stream-rows", type=int, default=0)
    parser.add_argument("--stream-dim", type=int, default=768)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    if args.stream_rows:
        streaming_benchmark(args.stream_rows, args.stream_dim, args.chunk)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        if not args.no_grid:
            grid(args.repeat, args.big_n)
        if args.sweep_check:
            sweep_check(args.repeat)
    if args.thread_check:
        thread_check(args.repeat)


if __name__ == "__main__":
    main()
