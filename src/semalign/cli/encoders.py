"""`semalign encoders list`: the named models, their backend, source and dimension."""

from __future__ import annotations

import typer

app = typer.Typer(help="Encoders: the registry of named models.", no_args_is_help=True)


@app.command("list")
def list_cmd(
    offline: bool = typer.Option(
        False, "--offline", help="Only models whose weights ship offline."
    ),
) -> None:
    """List the named encoders (any hub id or local checkpoint folder also works)."""
    from semalign.encoders.registry import list_models

    rows = [s for s in list_models() if s.offline or not offline]
    w = max(len(s.name) for s in rows)
    typer.echo(f"{'name':<{w}}  {'modality':<10}  {'dim':>4}  {'backend':<21}  source")
    for s in rows:
        dim = str(s.dim) if s.dim else "?"
        source = s.model + ("  [offline]" if s.offline else "")
        typer.echo(f"{s.name:<{w}}  {s.modality:<10}  {dim:>4}  {s.backend:<21}  {source}")
        typer.echo(f"{'':<{w}}  {s.description}")
    typer.echo("\nDual encoders: add :text or :image to pick a tower, e.g. clip-vit-b16:image.")
