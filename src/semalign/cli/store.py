"""`semalign store ls | verify | gc`: what the store holds, whether it is intact, and cleaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Store housekeeping: list entries, verify checksums, remove what is unused.",
    no_args_is_help=True,
)

STORE_HELP = "Store folder (default: $SEMALIGN_STORE or ~/.cache/semalign/store)."


def _root(store: Path | None) -> Path:
    from semalign.experiments.embedding import default_store
    from semalign.store.housekeeping import check_root

    return check_root(store if store is not None else default_store())


def _size(n: int) -> str:
    for unit, step in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def _day(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").rstrip("Z")[:16]


@app.command("ls")
def ls(
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the listing as JSON."),
) -> None:
    """One row per entry (encoder, items, size, created, last used, recipes), then totals."""
    from semalign.store.housekeeping import listing

    info = listing(_root(store))
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    header = ("ENTRY", "ENCODER", "MODALITY", "ITEMS", "SIZE", "CREATED", "LAST USED", "RECIPES")
    rows: list[tuple[str, ...]] = [header]
    for r in info["entries"]:
        state = "" if r["state"] == "finished" else f" ({r['state']})"
        rows.append(
            (
                r["entry"] + state,
                str(r["encoder"] or "?"),
                str(r["modality"] or "?"),
                str(r["items"]),
                _size(r["bytes"]),
                _day(r["created"]),
                _day(r["last_used"]),
                ", ".join(r["recipes"]) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    t, st, un = info["total"], info["steps"], info["unreferenced"]
    typer.echo(
        f"total: {t['entries']} entries, {t['chunks']} chunks, {_size(t['bytes'])} "
        f"(chunks shared between entries counted once)"
    )
    typer.echo(f"step cache: {st['units']} units, {_size(st['bytes'])}")
    hint = " (`semalign store gc` removes them)" if un["chunks"] else ""
    typer.echo(f"unreferenced chunks: {un['chunks']}, {_size(un['bytes'])}{hint}")
    for r in info["recipes"]:
        typer.echo(
            f"recipe {r['recipe']}: last run {_day(r['last_run'])}, {r['entries']} "
            f"entries, {r['units']} step units"
        )


def _check_unit(path: Path) -> None:
    from semalign.experiments.cache import UnitOutput

    UnitOutput.from_json(json.loads(path.read_text(encoding="utf-8")))


@app.command("verify")
def verify(store: Path | None = typer.Option(None, "--store", help=STORE_HELP)) -> None:
    """Check every chunk's sha256, every manifest's chunks and every step-cache unit.

    Exits non-zero when a file is bad, naming each with what is wrong and the fix.
    """
    from semalign.errors import FormatError
    from semalign.store.housekeeping import verify as verify_store

    root = _root(store)
    rep = verify_store(root, check_unit=_check_unit)
    for p in rep.problems:
        typer.echo(f"bad: {p}")
    typer.echo(
        f"checked {rep.entries} entries, {rep.chunks} chunks ({_size(rep.bytes)}), "
        f"{rep.units} step units: {len(rep.problems)} problem(s)"
    )
    if rep.problems:
        raise FormatError(
            f"store {str(root)!r} has {len(rep.problems)} bad file(s), listed above with their "
            f"fix: the first is {str(rep.problems[0].path)!r}"
        )


@app.command("gc")
def gc(
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
    unreferenced: bool = typer.Option(
        False, "--unreferenced", help="Chunks no entry references (default with no criterion)."
    ),
    unused_since: str | None = typer.Option(
        None, "--unused-since", help="Entries last used before YYYY-MM-DD (UTC), and their chunks."
    ),
    keep_recipe: list[str] = typer.Option(
        [], "--keep-recipe", help="Keep only what this recipe's last run used (repeatable)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Delete (default: list what would go)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """Remove unreferenced chunks, entries unused since a date, or all but what recipes need.

    Dry run by default: lists every file that would be deleted, with sizes; --yes deletes.
    Entries being written by another process are kept.
    """
    from semalign.store.housekeeping import apply_gc, parse_date, plan_gc

    root = _root(store)
    since = None if unused_since is None else parse_date(unused_since)
    plan = plan_gc(root, unreferenced=unreferenced, unused_since=since, keep_recipes=keep_recipe)
    files = plan.files()
    notices = list(plan.notices)
    if yes:
        result = apply_gc(plan)
        notices += result.notices
        files = result.deleted
    for n in notices:
        typer.echo(f"note: {n}", err=True)
    total = sum(files.values())
    if as_json:
        doc: dict[str, Any] = {
            "store": str(root),
            "deleted": yes,
            "files": [{"path": str(p), "bytes": b} for p, b in files.items()],
            "total_bytes": total,
            "notices": notices,
        }
        typer.echo(json.dumps(doc, indent=1))
        return
    verb = "deleted" if yes else "would delete"
    for p, b in files.items():
        typer.echo(f"{_size(b):>9}  {p}")
    tail = "" if yes or not files else " (dry run: nothing deleted; pass --yes to delete)"
    typer.echo(f"{verb} {len(files)} file(s), {_size(total)}{tail}")
