"""`semalign quickstart`: an alignment round trip on generated data, no downloads."""

from __future__ import annotations

import typer


def quickstart(
    n_anchors: int = typer.Option(
        2000, help="Paired anchors to fit on (>= 2; methods that need more are skipped)."
    ),
    seed: int = typer.Option(0, help="Random seed of the generated spaces (>= 0)."),
) -> None:
    """Check the install in seconds: fit every method on generated paired spaces, no downloads.

    Two made-up "encoders" (256-d and 384-d) see the same 48 hidden factors through different
    random linear read-outs, offsets and noise. Each method is fitted on N_ANCHORS pairs and
    scored on 1000 held-out pairs (cosine, top-1/top-5 retrieval, MRR, CKA), next to the
    unaligned baseline.
    """
    from semalign.cli._inputs import at_least
    from semalign.quickstart import run_quickstart

    at_least(n_anchors, 2, "--n-anchors", "paired anchors to fit on")
    at_least(seed, 0, "--seed")

    typer.echo(run_quickstart(n_anchors=n_anchors, seed=seed))
