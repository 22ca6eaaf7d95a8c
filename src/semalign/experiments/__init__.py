"""Experiments: TOML recipes, the cached runner, and the Markdown/HTML report.

>>> from semalign.experiments import load_recipe, run_recipe
>>> summary = run_recipe(load_recipe(recipe_path("demo")), "semalign-demo")
>>> summary.report_html

Built-in recipes (``demo``, ``paper``) ship inside the package (``semalign/experiments/recipes``);
the repository's ``recipes/`` folder links to them.
"""

from __future__ import annotations

from pathlib import Path

from semalign.experiments.recipe import Recipe, load_recipe, parse_recipe
from semalign.experiments.runner import RunSummary, run_recipe

__all__ = ["Recipe", "RunSummary", "load_recipe", "parse_recipe", "recipe_path", "run_recipe"]


def recipe_path(name: str) -> Path:
    """Path of the built-in recipe ``name`` (``demo`` or ``paper``)."""
    from importlib import resources

    from semalign.errors import InputError

    folder = resources.files("semalign.experiments").joinpath("recipes")
    path = Path(str(folder.joinpath(f"{name}.toml")))
    if not path.is_file():
        names = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))
        raise InputError(f"no built-in recipe {name!r}: built-in recipes are {', '.join(names)}")
    return path
