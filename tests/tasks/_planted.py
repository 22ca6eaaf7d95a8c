"""Planted structure shared by the task tests: one latent class geometry seen through two maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import ortho_group


@dataclass
class Spaces:
    source: np.ndarray  # (n, d) encoder A
    target: np.ndarray  # (n, d) encoder B = rotated, scaled, shifted A-latent + noise
    y: np.ndarray  # (n,) class indices
    centres: np.ndarray  # (K, d) latent class centres
    rotation: np.ndarray  # (d, d)
    test: np.ndarray  # test row indices


def planted_spaces(
    n: int = 1200,
    d: int = 32,
    k: int = 4,
    separation: float = 0.9,
    noise: float = 0.3,
    seed: int = 0,
) -> Spaces:
    """Classes from K Gaussian centres in a latent space; A sees it directly, B through
    ``2 * z @ R + 3`` (R a random rotation), both with independent noise. Last third is test."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * separation
    y = rng.integers(0, k, size=n)
    z = centres[y] + rng.normal(size=(n, d))
    rotation = ortho_group.rvs(d, random_state=seed + 1)
    source = z + noise * rng.normal(size=(n, d))
    target = 2.0 * z @ rotation + 3.0 + noise * rng.normal(size=(n, d))
    test = np.arange(2 * n // 3, n)
    return Spaces(source.astype(np.float32), target.astype(np.float32), y, centres, rotation, test)
