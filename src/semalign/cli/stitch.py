"""`semalign stitch [evaluate] | head | export | predict`.

``semalign stitch A.npy B.npy ...`` (no sub-command) runs ``evaluate``, the stitching table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from semalign.cli import _inputs
from semalign.cli import tasks as _tasks
from semalign.errors import InputError


class _DefaultEvaluate(TyperGroup):
    """A group whose first argument, when it is not a sub-command, goes to ``evaluate``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["evaluate", *args]
        result: list[str] = super().parse_args(ctx, args)
        return result


app = typer.Typer(
    cls=_DefaultEvaluate,
    no_args_is_help=True,
    help="Stitching: score B's head on A through a map; train heads; export stitched models.",
)
app.command("evaluate")(_tasks.stitch)


@app.command("head")
def head(
    embeddings: Path = typer.Argument(..., help="Embeddings (n, d) or store to train on."),
    labels: Path = typer.Option(..., help="Labels CSV, one row per embedding row."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the head (.safetensors)."),
    label_column: str = _tasks.LABEL_COLUMN,
    label_columns: str = _tasks.LABEL_COLUMNS,
    uncertain: str = _tasks.UNCERTAIN,
    missing: str = _tasks.MISSING,
    c: float = _tasks.C,
    class_weight: str = _tasks.CLASS_WEIGHT,
    encoder: str = typer.Option(
        None, help="Encoder id the embeddings came from (header; default: the store's)."
    ),
    intersect_ids: bool = _inputs.INTERSECT,
    allow_encoder_mismatch: bool = _inputs.ALLOW_MISMATCH,
) -> None:
    """Train a logistic head on one encoder's embeddings and save it."""
    from semalign.tasks.heads import LogisticHead

    (rows,), table = _inputs.pair(
        [_inputs.read_rows(embeddings, "embeddings")], labels, intersect_ids
    )
    _inputs.check_encoders(
        f"store {embeddings}", rows.encoder, "--encoder", encoder, allow_encoder_mismatch,
        "pass the store's encoder (or leave --encoder out)",
    )  # fmt: skip
    x = rows.x
    y, mask, names = _tasks._labels(table, label_column, label_columns, uncertain, missing)
    if label_column is not None:
        table.check_classes(label_column, y)
    fitted = LogisticHead(c, class_weight=_tasks._class_weight(class_weight))
    fitted.fit(x, y, mask=mask, label_names=names)
    fitted.save(out, encoder=encoder or rows.encoder)
    typer.echo(
        f"trained a {fitted.task_} logistic head on {x.shape[0]} rows "
        f"({', '.join(fitted.label_names_)}); wrote {out}"
    )


@app.command("export")
def export(
    encoder: str = typer.Option(..., help="Source encoder A: registry name, hub id or folder."),
    aligner: Path = typer.Option(..., help="Map A -> B from `semalign align fit`."),
    head_file: Path = typer.Option(..., "--head", help="Head trained on B's space."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the stitched model."),
    encoder_options: str = typer.Option(
        "{}", help='Encoder options as JSON, e.g. \'{"pooling": "mean", "max_length": 256}\'.'
    ),
    device: str = typer.Option(None, help="Device used to fingerprint the encoder (cpu, cuda)."),
    allow_encoder_mismatch: bool = _inputs.ALLOW_MISMATCH,
) -> None:
    """Write encoder A -> T -> B's head as one reloadable stitched model."""
    from semalign.align import load_aligner
    from semalign.encoders import load_encoder
    from semalign.tasks.export import export_stitched
    from semalign.tasks.heads import load_head

    try:
        options = json.loads(encoder_options)
    except json.JSONDecodeError as exc:
        raise InputError(f"--encoder-options is not valid JSON ({exc}): pass an object") from exc
    if not isinstance(options, dict):
        raise InputError('--encoder-options must be a JSON object, e.g. \'{"pooling": "cls"}\'')
    fitted_map, fitted_head = load_aligner(aligner), load_head(head_file)
    _inputs.check_encoders(
        f"the source of map {aligner}", fitted_map.source_encoder_, "--encoder", encoder,
        allow_encoder_mismatch, f"pass --encoder {fitted_map.source_encoder_} (or refit the map)",
    )  # fmt: skip
    _inputs.check_encoders(
        f"the target of map {aligner}", fitted_map.target_encoder_, f"head {head_file}'s encoder",
        fitted_head.encoder, allow_encoder_mismatch,
        "pass a head trained on the map's target space (or a map into the head's encoder)",
    )  # fmt: skip
    enc = load_encoder(encoder, **options, device=device)
    if enc.dim != fitted_map.n_features_in_:
        raise InputError(
            f"encoder {encoder!r} gives {enc.dim}-d embeddings but the map expects "
            f"{fitted_map.n_features_in_}: pass the encoder the map was fitted from"
        )
    export_stitched(
        out,
        encoder=encoder,
        aligner=fitted_map,
        head=fitted_head,
        encoder_options=options,
        fingerprint=enc.fingerprint,
    )
    typer.echo(f"exported {encoder} -> {fitted_map.method} map -> head; wrote {out}")


@app.command("predict")
def predict(
    model: Path = typer.Argument(..., help="A stitched model from `semalign stitch export`."),
    input: Path = typer.Option(..., "--input", "-i", help="Manifest (CSV/TSV/JSONL) of items."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write probabilities (CSV)."),
    batch_size: int = typer.Option(32, help="Encoder batch size."),
    device: str = typer.Option(None, help="cpu, cuda, mps (default: auto)."),
) -> None:
    """Run a stitched model on raw texts or images; write one probability column per class."""
    import csv
    import io

    import torch

    from semalign.artefacts import atomic_write_bytes
    from semalign.store import read_manifest
    from semalign.tasks.export import load_stitched

    module = load_stitched(model, device=device)
    items = read_manifest(input)
    if items.modality != module.encoder.modality:
        raise InputError(
            f"manifest {input} holds {items.modality} items but the stitched model's encoder "
            f"takes {module.encoder.modality}: pass a manifest with a "
            f"{module.encoder.modality} column"
        )
    with torch.inference_mode():
        probs = module(items.payloads, batch_size=batch_size).numpy()
    names = module.label_names
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", *names])
    for item_id, row in zip(items.ids, probs, strict=True):
        writer.writerow([item_id, *(f"{p:.6f}" for p in row)])
    atomic_write_bytes(out, buf.getvalue().encode("utf-8"))
    typer.echo(f"scored {len(items.ids)} items; wrote {out}")
