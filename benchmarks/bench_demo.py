"""Benchmark: `semalign demo --out NEW` on a warm store / a cold demo (goal: below 0.1).

One run: the demo into a fresh store and output folder (cold: every model loaded, every item
embedded, every step computed), then ``--warm`` more demos into new output folders on that store
(nothing changed but ``--out``, so every embedding and step must be reused and no model loaded).
Real subprocesses, whole wall time each, both in the same run so the ratio holds when the
machine's speed drifts. Prints each run's time, the median warm time and the ratio.

Usage: python benchmarks/bench_demo.py [--warm 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def demo_seconds(out: Path, store: Path) -> tuple[float, str]:
    """Wall seconds of one `semalign demo` subprocess and its last output line."""
    cmd = [sys.executable, "-m", "semalign", "demo", "--out", str(out), "--store", str(store)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"demo failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    done = [line for line in proc.stdout.splitlines() if line.startswith("done:")]
    return seconds, done[-1] if done else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--keep", type=Path, default=None, help="keep store and outputs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        base = args.keep or Path(tmp)
        store = base / "store"
        cold, line = demo_seconds(base / "out-cold", store)
        print(f"cold demo: {cold:.1f} s  ({line})")
        warm = []
        for i in range(args.warm):
            seconds, line = demo_seconds(base / f"out-warm-{i}", store)
            warm.append(seconds)
            print(f"warm demo {i + 1}, new --out: {seconds:.1f} s  ({line})")
        median = statistics.median(warm)
        print(f"ratio warm (median of {len(warm)}) / cold = {median / cold:.3f}  (goal < 0.1)")


if __name__ == "__main__":
    main()
