"""`semalign quickstart`: an alignment round trip on generated data, no downloads."""

from __future__ import annotations

import typer


def quickstart(
    n_anchors: int = typer.Option(2000, help="Number of paired anchors to generate."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Align two synthetic latent spaces related by a hidden rotation and report the metrics."""
    from semalign.quickstart import run_quickstart

    typer.echo(run_quickstart(n_anchors=n_anchors, seed=seed))
