"""`semalign align fit|apply|evaluate` on .npy/.npz/.safetensors arrays."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Fit, apply and evaluate a map between two latent spaces.", no_args_is_help=True
)
