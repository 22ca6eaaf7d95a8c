"""`semalign run RECIPE` and `semalign demo`: run a TOML recipe into results files and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

OUT_HELP = "Output folder (results/, results.json, report.md, report.html)."
STORE_HELP = "Embedding store folder (default: $SEMALIGN_STORE or ~/.cache/semalign/store)."


def _roots(values: list[str]) -> dict[str, str]:
    from semalign.errors import InputError

    roots: dict[str, str] = {}
    for v in values:
        alias, sep, path = v.partition("=")
        if not sep or not alias.strip() or not path.strip():
            raise InputError(
                f"--root {v!r} must look like NAME=PATH, e.g. --root mimic=/data/mimic"
            )
        roots[alias.strip()] = str(Path(path.strip()).expanduser().resolve())
    return roots


JOBS_HELP = (
    "Processes that compute the units after embedding ([compute] jobs; default: the CPUs at "
    "hand, at most 4; 1: all in this process). The results are the same for any number."
)


def _load(recipe_path: Path, roots: dict[str, str], compute: dict[str, Any] | None = None) -> Any:
    """The validated recipe, its ``[compute]`` table overridden by the CLI's flags."""
    from dataclasses import asdict, replace

    from semalign.experiments import load_recipe
    from semalign.experiments.recipe import parse_compute

    recipe = load_recipe(recipe_path, roots)  # validated before any work
    given = {k: v for k, v in (compute or {}).items() if v is not None}
    if given:
        merged = {k: v for k, v in asdict(recipe.compute).items() if v is not None}
        if given.get("executor") == "local":
            for key in ("address", "workers", "num_gpus_per_worker"):
                merged.pop(key, None)
        recipe = replace(recipe, compute=parse_compute({**merged, **given}))
    return recipe


def _check(
    recipe_path: Path, roots: dict[str, str], compute: dict[str, Any], plan: bool,
    store: Path | None,
) -> None:  # fmt: skip
    """The pre-flight (``--check``), or the whole plan against the store (``--plan``)."""
    from semalign.experiments.preflight import preflight

    recipe = _load(recipe_path, roots, compute)
    if plan:
        from semalign.experiments.embedding import default_store
        from semalign.experiments.plan import make_plan

        store = Path(store or recipe.store or default_store()).expanduser()
        for line in make_plan(recipe, store).lines():
            typer.echo(line)
        return
    found = preflight(recipe)
    for notice in found.notices:
        typer.echo(f"note: {notice}")
    found.raise_if_failed()
    sizes = ", ".join(f"{a} {len(r)} records" for a, r in found.records.items())
    typer.echo(f"recipe {recipe.name!r} is ready to run ({sizes or 'no dataset read'})")


def _run(
    recipe_path: Path,
    out: Path,
    roots: dict[str, str],
    store: Path | None,
    compute: dict[str, Any] | None = None,
    splits: Path | None = None,
) -> None:
    from semalign.experiments import run_recipe

    recipe = _load(recipe_path, roots, compute)
    typer.echo(f"running recipe {recipe.name!r} from {recipe.path} into {out.resolve()}")
    summary = run_recipe(recipe, out, store=store, published=splits, take=splits is not None)
    _done(summary)


def _reproduce(results: Path, out: Path | None, store: Path | None, splits: Path | None) -> None:
    from semalign.experiments.reproduce import reproduce

    typer.echo(f"reproducing the run of {results}")
    _done(reproduce(results, out, store=store, splits=splits))


def _done(summary: Any) -> None:
    typer.echo(f"done: {summary.describe()}")
    typer.echo(f"results: {summary.out / 'results'}")
    typer.echo(f"report:  {summary.report_html}")
    typer.echo(f"         {summary.report_md}")


def run(
    recipe: Path = typer.Argument(
        None, help="Recipe TOML file (see recipes/demo.toml); none with --reproduce."
    ),
    out: Path = typer.Option(None, "--out", "-o", help=OUT_HELP + " Default: ./<recipe name>."),
    root: list[str] = typer.Option(
        [], "--root", help="Dataset folder as ALIAS=PATH (repeatable); overrides the recipe."
    ),
    store: Path = typer.Option(None, help=STORE_HELP),
    reproduce: Path = typer.Option(
        None,
        "--reproduce",
        help="A run's results.json: run its recorded recipe again (into --out, default "
        "OUT-reproduced); every split and anchor drawn must equal the ids in OUT/splits, and the "
        "result rows are compared with the published ones.",
    ),
    splits: Path = typer.Option(
        None,
        "--splits",
        help="A run's splits/ folder: stitch tasks take their rows and test split from it (by "
        "id, whatever the data's order); every other draw must equal the ids published there.",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Only the pre-flight: read the datasets, check the models are loadable here, list "
        "every problem; loads no model, computes nothing.",
    ),
    plan: bool = typer.Option(
        False,
        "--plan",
        help="The pre-flight, then per encoder the items to embed and those already stored, and "
        "per task the maps fitted and the cached units; loads no model, computes nothing.",
    ),
    device: str | None = typer.Option(None, help="auto | cpu | cuda[:N] | mps ([compute])."),
    precision: str | None = typer.Option(None, help="auto | float32 | float16 | bfloat16."),
    batch_size: int | None = typer.Option(None, help="Items per forward pass (default 32)."),
    num_workers: int | None = typer.Option(None, help="Image-decoding worker processes."),
    executor: str | None = typer.Option(None, help="local (this process) | ray (actor pool)."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: local Ray)."),
    workers: int | None = typer.Option(None, help="Ray: model-holding actors (default: fill)."),
    num_gpus_per_worker: float | None = typer.Option(None, help="Ray: GPUs per actor."),
    num_cpus_per_worker: float | None = typer.Option(None, help="Ray: CPUs per actor."),
    jobs: int | None = typer.Option(None, help=JOBS_HELP),
) -> None:
    """Run a recipe: embed (cached), fit, evaluate; write results files and the report.

    The flags from --device on override the recipe's [compute] table: how embeddings are
    computed, never what (precision aside, they leave every number as it is).
    """
    compute = {
        "device": device, "precision": precision, "batch_size": batch_size,
        "num_workers": num_workers, "executor": executor, "address": address, "workers": workers,
        "num_gpus_per_worker": num_gpus_per_worker, "num_cpus_per_worker": num_cpus_per_worker,
        "jobs": jobs,
    }  # fmt: skip
    from semalign.errors import InputError

    if reproduce is not None:
        if recipe is not None or check or plan or root:
            raise InputError(
                "--reproduce reads the recipe, its roots and settings from results.json: pass "
                "no RECIPE, --root, --check or --plan with it"
            )
        _reproduce(reproduce, out, store, splits)
        return
    if recipe is None:
        raise InputError("pass a RECIPE file, or --reproduce OUT/results.json")
    if check or plan:
        _check(recipe, _roots(root), compute, plan, store)
        return
    _run(recipe, out or Path(recipe.stem), _roots(root), store, compute, splits)


def demo(
    out: Path = typer.Option(Path("semalign-demo"), "--out", "-o", help=OUT_HELP),
    store: Path = typer.Option(None, help=STORE_HELP),
    jobs: int | None = typer.Option(None, help=JOBS_HELP),
) -> None:
    """The main job on the embedded default, offline: the packaged recipes/demo.toml."""
    from semalign.experiments import recipe_path

    _run(recipe_path("demo"), out, {}, store, {"jobs": jobs})
