"""Command-line entry point. Thin: parses arguments, calls the API, prints.

Each command group lives in its own module and registers a Typer sub-app here; the modules
import heavy libraries only inside their command functions, so ``semalign --help`` is fast.
"""

from __future__ import annotations

import contextlib
import sys

import typer

from semalign import __version__
from semalign.cli import align as _align
from semalign.cli import data as _data
from semalign.cli import embed as _embed
from semalign.cli import encoders as _encoders
from semalign.cli import experiments as _experiments
from semalign.cli import quickstart as _quickstart
from semalign.cli import stitch as _stitch
from semalign.cli import store as _store
from semalign.cli import tasks as _tasks
from semalign.errors import SemalignError

app = typer.Typer(
    name="semalign",
    help="Training-free semantic alignment of unimodal encoders in medical imaging.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_align.app, name="align")
app.add_typer(_data.app, name="data")
app.add_typer(_encoders.app, name="encoders")
app.command("embed")(_embed.embed)
app.command("quickstart")(_quickstart.quickstart)
app.add_typer(_stitch.app, name="stitch")
app.add_typer(_store.app, name="store")
app.command("zeroshot")(_tasks.zeroshot)
app.command("retrieve")(_tasks.retrieve)
app.command("run")(_experiments.run)
app.command("demo")(_experiments.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semalign {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Training-free semantic alignment of unimodal encoders in medical imaging."""


def _aliases(argv: list[str]) -> list[str]:
    """Old option spellings (``--image-col``) rewritten to the current ones (``--image-column``)."""
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        new = _data.COLUMN_ALIASES.get(name)
        out.append(new + eq + value if new else arg)
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Usage errors are Click's; user errors print one line and exit with 2.

    Commands run under the BLAS thread policy (:mod:`semalign.threads`); help and version
    output skip it, so that they import no numpy.
    """
    args = _aliases(sys.argv[1:] if argv is None else argv)
    try:
        with contextlib.ExitStack() as stack:
            if args and not {"--help", "-h", "--version"} & set(args):
                from semalign.threads import blas_policy

                stack.enter_context(blas_policy())
            app(args=args, standalone_mode=True)
    except SemalignError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
