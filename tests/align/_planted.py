from __future__ import annotations

import numpy as np
from scipy.stats import ortho_group


def planted(
    n: int,
    d_s: int,
    d_t: int,
    kind: str = "orthogonal",
    noise: float = 1e-3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source anchors with offsets and anisotropy, and a target related by a known map."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_s)) * rng.uniform(0.5, 2.0, size=d_s) + rng.normal(size=d_s) * 3
    if kind == "orthogonal":
        q = ortho_group.rvs(max(d_s, d_t), random_state=seed + 1)[:d_s, :d_t]
        w, b = q, np.zeros(d_t)
    elif kind == "similarity":
        q = ortho_group.rvs(max(d_s, d_t), random_state=seed + 1)[:d_s, :d_t]
        w, b = 2.5 * q, rng.normal(size=d_t)
    else:
        w, b = rng.normal(size=(d_s, d_t)) / np.sqrt(d_s), rng.normal(size=d_t)
    y = x @ w + b + noise * rng.normal(size=(n, d_t))
    return x, y, w, b
