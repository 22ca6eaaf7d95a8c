"""A reduced demo run shared by the experiments tests (one cold run per session)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from semalign.experiments import recipe_path

# (pattern, replacement) applied to the demo recipe to make the test-size recipe
SHRINK = [
    (r"bootstrap = 500", "bootstrap = 50"),
    (r"permutations = 100 ", "permutations = 20 "),
    (r"max_per_class = 600", "max_per_class = 25"),
    (r"anchors = \[16, 32, 64, 128, 256, 512\]", "anchors = [8, 32, 72]"),
    (
        r"seeds = \[0, 1, 2\]\nmethods = \[\"orthogonal\", \"affine\", \"linear\", \"ridge-cv\"\]",
        'seeds = [0, 1]\nmethods = ["orthogonal", "affine"]',
    ),
    (r"anchors = \[8, 16, 32, 56\]", "anchors = [8, 56]"),
    (r"anchors = 512 \}", "anchors = 72 }"),
    (r"space_sizes = \[64, 128, 256, 512\]", "space_sizes = [16, 32, 64]"),
]


def small_demo_text() -> str:
    """The demo recipe at test size: same tasks, fewer items, anchors, seeds and resamples."""
    text = recipe_path("demo").read_text(encoding="utf-8")
    for pattern, repl in SHRINK:
        text, n = re.subn(pattern, repl, text)
        assert n >= 1, f"demo recipe no longer contains {pattern!r}: update SHRINK"
    return text


@pytest.fixture(scope="session")
def small_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "small.toml"
    path.write_text(small_demo_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def small_run(small_recipe: Path, store: Path, tmp_path_factory: pytest.TempPathFactory):
    from semalign.experiments import load_recipe, run_recipe

    out = tmp_path_factory.mktemp("demo-out")
    summary = run_recipe(load_recipe(small_recipe), out, store=store, progress=False)
    return summary
