"""`semalign embed`: embed a manifest's items into the store (cached, chunked, resumable)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def embed(
    encoder: str = typer.Option(..., "--encoder", "-e", help="Registry name, hub id or folder."),
    input: str = typer.Option(
        ..., "--input", "-i", help="CSV/TSV/JSONL manifest, or a dataset name (semalign data list)."
    ),
    root: Path | None = typer.Option(None, help="Dataset folder, when --input is a dataset."),
    section: str = typer.Option(
        "report", help="Dataset text: report | findings | impression | findings+impression."
    ),
    modality: str | None = typer.Option(
        None, help="Dataset items to embed: text | image (default: the encoder's modality)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Store root folder (cache of entries)."),
    id_column: str | None = typer.Option(None, help="Id column (default: id, ...)."),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Text column (default: text, report)."
    ),
    image_column: str | None = typer.Option(
        None, "--image-column", help="Image path column (default: image)."
    ),
    batch_size: int = typer.Option(32, help="Items per forward pass."),
    chunk_size: int | None = typer.Option(
        None,
        help="Mean items per stored chunk, the unit of resumption and of recomputation "
        "after an edit (default: 256 texts, 1024 images).",
    ),
    on_error: str = typer.Option("fail", help="Bad items: fail | skip (recorded)."),
    device: str | None = typer.Option(None, help="auto | cpu | cuda[:N] | mps."),
    precision: str | None = typer.Option(None, help="auto | float32 | float16 | bfloat16."),
    pooling: str | None = typer.Option(None, help="cls | mean | pooler | projection | mean-patch"),
    max_length: int | None = typer.Option(None, help="Max tokens per text (truncation)."),
    normalize: bool | None = typer.Option(None, "--normalize/--no-normalize", help="L2-normalise."),
    revision: str | None = typer.Option(None, help="Hub revision (commit, tag, branch)."),
    trust_remote_code: bool | None = typer.Option(
        None, "--trust-remote-code", help="Allow the model's own code from the hub (CXR-BERT)."
    ),
    num_workers: int | None = typer.Option(None, help="Image-decoding worker processes."),
    decode: str | None = typer.Option(
        None, help="Images: draft (JPEGs reduced while decoding, default) | exact (full size)."
    ),
    npy: Path | None = typer.Option(None, help="Also export embeddings to this .npy (+ .ids.txt)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Fail at once when another process writes the same entry."
    ),
    executor: str = typer.Option("local", help="local (this process) | ray (actor pool)."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: local Ray)."),
    workers: int | None = typer.Option(None, help="Ray: model-holding actors (default: fill)."),
    num_gpus_per_worker: float = typer.Option(0.0, help="Ray: GPUs per actor (0: CPU actors)."),
    num_cpus_per_worker: float = typer.Option(1.0, help="Ray: CPUs per actor (torch threads)."),
) -> None:
    """Embed a manifest's or a dataset's items; prints the store entry. Re-running reuses it.

    With --executor ray the chunks are computed by a pool of Ray actors (each holding the model)
    and land in the same store entry, with the same resume behaviour.
    """
    from semalign.cli._inputs import at_least
    from semalign.store import embed_to_store, open_store
    from semalign.store.executor import EXECUTORS
    from semalign.store.fingerprints import resolve_encoder

    at_least(batch_size, 1, "--batch-size")
    at_least(chunk_size, 1, "--chunk-size")
    at_least(max_length, 1, "--max-length", "tokens kept per text")
    at_least(num_workers, 0, "--num-workers", "0 decodes images in this process")
    at_least(workers, 1, "--workers")
    options: dict[str, Any] = {
        "device": device,
        "precision": precision,
        "pooling": pooling,
        "max_length": max_length,
        "normalize": normalize,
        "revision": revision,
        "trust_remote_code": trust_remote_code,
        "num_workers": num_workers,
        "decode": decode,
    }
    if executor not in EXECUTORS:
        from semalign.errors import InputError

        raise InputError(f"executor {executor!r} is unknown: use 'local' or 'ray'")
    from semalign.encoders.names import check_model_name

    check_model_name(encoder)
    columns = (id_column, text_column, image_column)
    items = _items(input, root, section, None, *columns) if Path(input).is_file() else None
    enc: Any = None
    if executor == "local":  # the model itself is loaded only if chunks must be computed
        enc = resolve_encoder(encoder, options, out)
    if items is None:  # a dataset: its items depend on the encoder's modality
        wanted = modality or getattr(enc, "modality", None)
        items = _items(input, root, section, wanted, *columns)
    if enc is not None and not hasattr(enc, "embed"):
        raise_dual(encoder, items.modality)
    progress, close = _progress_bar(len(items), quiet)
    try:
        if executor == "ray":
            from semalign.distributed.embed import embed_on_ray

            report, enc = embed_on_ray(
                encoder, items, out, options={k: v for k, v in options.items() if v is not None},
                workers=workers, num_gpus_per_worker=num_gpus_per_worker, address=address,
                num_cpus_per_worker=num_cpus_per_worker,
                chunk_size=chunk_size, batch_size=batch_size, on_error=on_error,
                progress=progress,
            )  # fmt: skip
        else:
            report = embed_to_store(
                enc, items, out, chunk_size=chunk_size, batch_size=batch_size, on_error=on_error,
                progress=progress, wait=not no_wait,
            )  # fmt: skip
    finally:
        close()
    from semalign.store.housekeeping import record_usage

    record_usage(report.path, "embed")
    rate = report.n_embedded / report.seconds if report.seconds > 0 else float("inf")
    state = "cache hit, no model run" if report.cache_hit else (
        f"{report.chunks_computed} chunk(s) computed, {report.chunks_reused} reused"
    )  # fmt: skip
    for name, why in report.repaired.items():
        typer.echo(f"recomputed {name} ({why})", err=True)
    typer.echo(f"{report.path}")
    typer.echo(
        f"{report.n_embedded}/{report.n_items} items x {enc.dim} ({enc.name}); {state}; "
        f"{report.seconds:.1f} s ({rate:.1f} items/s)"
    )
    if report.skipped:
        first = list(report.skipped.items())[:5]
        typer.echo(f"skipped {len(report.skipped)} item(s), listed in manifest.json:", err=True)
        for i, why in first:
            typer.echo(f"  {i}: {why}", err=True)
    if npy is not None:
        ids_path = npy.with_suffix(".ids.txt")
        open_store(report.path, verify=False).to_npy(npy, ids_path)
        typer.echo(f"exported {npy} and {ids_path}")


def _items(
    source: str,
    root: Path | None,
    section: str,
    modality: str | None,
    id_column: str | None,
    text_column: str | None,
    image_column: str | None,
) -> Any:
    """Items from a manifest file, or from a dataset's records when ``source`` names one."""
    from semalign.data.registry import DATASETS, open_dataset
    from semalign.errors import InputError
    from semalign.store import items_from_records, read_manifest

    if Path(source).is_file():
        return read_manifest(source, id_column, text_column, image_column)
    if source not in DATASETS:
        raise InputError(
            f"--input {source!r} is neither a manifest file nor a dataset name: pass a CSV/JSONL "
            f"path or one of {', '.join(DATASETS)}"
        )
    if modality not in ("text", "image"):
        raise InputError(
            f"embedding dataset {source!r} needs --modality text or image (the encoder's "
            "modality is only known when it is loaded here, i.e. with --executor local)"
        )
    items = items_from_records(list(open_dataset(source, root)), modality, section)
    if not items.ids:
        what = f"text section {section!r}" if modality == "text" else "images"
        raise InputError(f"dataset {source!r} has no {what}: pick another --section or --root")
    return items


def raise_dual(encoder: str, modality: str) -> None:
    """A dual encoder needs a tower for embedding one modality."""
    from semalign.errors import InputError

    raise InputError(
        f"encoder {encoder!r} is a dual encoder: pass --encoder {encoder}:{modality} to embed "
        f"{modality} items in its joint space"
    )


def _progress_bar(
    total: int, quiet: bool
) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """(callback(done, total), close()): a rich progress bar on a terminal, else log lines.

    Not on a terminal (a batch job's log), one line ``embedded DONE/TOTAL items, RATE items/s,
    ETA S s`` is written to stderr at most every 5 s, and one when the job is done.
    """
    if quiet:
        return None, lambda: None
    import sys

    if not sys.stderr.isatty():
        return _log_lines(total, sys.stderr)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task("embed", total=total)
    bar.start()

    def update(done: int, _total: int) -> None:
        bar.update(task, completed=done)

    return update, bar.stop


def _log_lines(total: int, stream: Any) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    import time

    start = last = time.monotonic()
    state = {"done": -1}

    def update(done: int, _total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last < 5.0:
            return
        last = now
        if done == state["done"]:
            return
        state["done"] = done
        rate = done / (now - start) if now > start else 0.0
        eta = f"{(total - done) / rate:.0f} s" if rate > 0 else "?"
        print(f"embedded {done}/{total} items, {rate:.1f} items/s, ETA {eta}", file=stream,
              flush=True)  # fmt: skip

    return update, lambda: None
