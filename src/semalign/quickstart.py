"""A self-contained alignment round trip on generated spaces (no models, no downloads).

Two "encoders" observe the same 48 latent factors through different random linear read-outs,
offsets and noise (a 256-d source, a 384-d target). Every method is fitted on anchors and
scored on held-out pairs: how often the mapped source retrieves its own target.
"""

from __future__ import annotations

import numpy as np

from semalign.align import METHODS, Aligner
from semalign.metrics.space import space_report


def synthetic_spaces(
    n: int, seed: int = 0, d_source: int = 256, d_target: int = 384, n_factors: int = 48
) -> tuple[np.ndarray, np.ndarray]:
    """Paired float32 embeddings (n, d_source) and (n, d_target) sharing ``n_factors`` factors."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, n_factors))
    read_s = rng.normal(size=(n_factors, d_source)) / np.sqrt(n_factors)
    read_t = rng.normal(size=(n_factors, d_target)) / np.sqrt(n_factors)
    x = z @ read_s + 1.5 * rng.normal(size=(n, d_source)) + rng.normal(size=d_source)
    y = 4.0 * (z @ read_t) + 6.0 * rng.normal(size=(n, d_target)) + 2.0
    return x.astype(np.float32), y.astype(np.float32)


def run_quickstart(n_anchors: int = 2000, seed: int = 0, n_test: int = 1000) -> str:
    """Fit every method on ``n_anchors`` pairs and return a table of held-out metrics."""
    x, y = synthetic_spaces(n_anchors + n_test, seed)
    x_fit, y_fit, x_test, y_test = x[:n_anchors], y[:n_anchors], x[n_anchors:], y[n_anchors:]
    lines = [
        f"semalign quickstart: {n_anchors} anchors, {n_test} held-out pairs, "
        f"{x.shape[1]}-d source -> {y.shape[1]}-d target (generated)",
        f"{'method':<18}{'cosine':>8}{'top1':>8}{'top5':>8}{'mrr':>8}{'cka':>8}",
    ]
    for method in METHODS:
        try:
            aligner = Aligner(method, "standard").fit(x_fit, y_fit)
        except ValueError as exc:
            lines.append(f"{method:<18}  skipped: {exc}")
            continue
        r = space_report(aligner.transform(x_test), y_test)
        lines.append(
            f"{method:<18}{r['cosine']:>8.3f}{r['top1']:>8.3f}{r['top5']:>8.3f}"
            f"{r['mrr']:>8.3f}{r['cka']:>8.3f}"
        )
    r0 = space_report(x_test[:, : y.shape[1]], y_test[:, : x.shape[1]])
    lines.append(
        f"{'(no alignment)':<18}{r0['cosine']:>8.3f}{r0['top1']:>8.3f}"
        f"{r0['top5']:>8.3f}{r0['mrr']:>8.3f}{r0['cka']:>8.3f}"
    )
    return "\n".join(lines)
