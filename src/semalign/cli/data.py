"""`semalign data list|describe|pairs|export|resize`: dataset readers from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Chest X-ray datasets: list readers, describe a dataset, write anchor pairs or records.",
    no_args_is_help=True,
)

_ROOT = typer.Option(None, "--root", help="Dataset folder as downloaded (manifest: the file).")
_SEED = typer.Option(None, "--seed", help="Seed (chexpert-5x200 selection, pairing, splits).")
_LABELER = typer.Option(None, "--labeler", help="mimic-cxr labels: chexpert or negbio.")
_REPORTS = typer.Option(None, "--reports-root", help="mimic-cxr: folder of the MIMIC-CXR reports.")
_HEADERS = typer.Option(
    None, "--headers", help="rsna-pneumonia: CSV with ViewPosition per patient."
)
_IMAGE = typer.Option(None, "--image-column", help="manifest: column of image paths.")
_TEXT = typer.Option(None, "--text-column", help="manifest: column of report texts.")
_LABELS = typer.Option(None, "--label-columns", help="manifest: comma-separated label columns.")
_ID = typer.Option(None, "--id-column", help="manifest: column of record ids.")
_PATIENT = typer.Option(None, "--patient-column", help="manifest: column of patient ids.")
_VIEW = typer.Option(None, "--view-column", help="manifest: column of view positions.")
_SPLIT_COL = typer.Option(None, "--split-column", help="manifest: column of splits.")
_STUDY = typer.Option(None, "--study-column", help="manifest: column of study ids.")
# The spellings of earlier releases, still accepted (not shown in --help): see cli.main.
COLUMN_ALIASES = {
    f"--{name}-col": f"--{name}-column"
    for name in ("image", "text", "id", "patient", "view", "split", "study")
} | {"--label-cols": "--label-columns"}
_FRONTAL = typer.Option(False, "--frontal", help="Keep frontal views (PA, AP) only.")
_PER_STUDY = typer.Option(False, "--one-per-study", help="Keep one image per study (PA first).")
_SPLIT = typer.Option(None, "--split", help="Keep one split (train, val, test).")


def _open(name: str, root: Path | None, seed: int | None, **options: Any) -> Any:
    from semalign.data.registry import get_spec, open_dataset

    if seed is not None and "seed" in get_spec(name).options():
        options["seed"] = seed
    if options.get("label_cols"):
        options["label_cols"] = tuple(c.strip() for c in options["label_cols"].split(","))
    return open_dataset(name, root, **options)


def _filtered(records: Any, frontal: bool, one_per_study: bool, split: str | None) -> Any:
    from semalign.data.filters import frontal_only, select_split
    from semalign.data.filters import one_per_study as per_study

    records = select_split(records, split)
    if frontal:
        records = frontal_only(records)
    if one_per_study:
        records = per_study(records)
    return records


@app.command("list")
def list_datasets() -> None:
    """Known datasets, what they hold, where to download them, and the layout each expects."""
    from semalign.data.registry import DATASETS

    for spec in DATASETS.values():
        typer.echo(f"{spec.name}\n  {spec.title}\n  holds:  {spec.content}")
        typer.echo(f"  get:    {spec.source}\n  layout: {spec.layout}")
        if spec.options():
            typer.echo(f"  options: {', '.join(spec.options())}")
        typer.echo("")


@app.command("describe")
def describe(
    name: str = typer.Argument(..., help="Dataset name (see `semalign data list`)."),
    root: Path | None = _ROOT,
    split: str | None = _SPLIT,
    frontal: bool = _FRONTAL,
    one_per_study: bool = _PER_STUDY,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    check_images: bool = typer.Option(
        False, "--check-images", help="Also count records whose image files are missing."
    ),
    seed: int | None = _SEED,
    labeler: str | None = _LABELER,
    reports_root: Path | None = _REPORTS,
    headers: Path | None = _HEADERS,
    image_col: str | None = _IMAGE,
    text_col: str | None = _TEXT,
    label_cols: str | None = _LABELS,
    id_col: str | None = _ID,
    patient_col: str | None = _PATIENT,
    view_col: str | None = _VIEW,
    split_col: str | None = _SPLIT_COL,
    study_col: str | None = _STUDY,
) -> None:
    """Counts per split, view and label (positive, negative, uncertain, missing)."""
    from semalign.data.describe import format_summary, summarise

    records = _open(
        name, root, seed, labeler=labeler, reports_root=reports_root, headers=headers,
        image_col=image_col, text_col=text_col, label_cols=label_cols, id_col=id_col,
        patient_col=patient_col, view_col=view_col, split_col=split_col, study_col=study_col,
    )  # fmt: skip
    records = list(_filtered(records, frontal, one_per_study, split))
    summary = summarise(records, dataset=name)
    missing = None
    if check_images:
        missing = sum(1 for r in records for p in r.image_paths if not p.is_file())
    if as_json:
        out = summary.to_json_dict()
        if missing is not None:
            out["missing_images"] = missing
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(format_summary(summary))
    if missing is not None:
        typer.echo(f"\nmissing image files: {missing}")


@app.command("pairs")
def pairs(
    name: str = typer.Argument(..., help="Dataset of the images (and reports, if paired)."),
    out: Path = typer.Option(..., "--out", help="Pairs file to write (.csv or .jsonl)."),
    root: Path | None = _ROOT,
    section: str = typer.Option(
        "findings+impression", "--section", help="report, findings, impression, findings+impression"
    ),
    all_views: bool = typer.Option(False, "--all-views", help="Allow lateral images too."),
    split: str | None = _SPLIT,
    match_reports: str | None = typer.Option(
        None, "--match-reports", help="Dataset of reports to pair by label set (e.g. iu-reports)."
    ),
    match_root: Path | None = typer.Option(None, "--match-root", help="Root of --match-reports."),
    match_labels: str = typer.Option(
        "Pneumonia", "--match-labels", help="Comma-separated labels whose positive set must match."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the label-matched draw."),
    labeler: str | None = _LABELER,
    reports_root: Path | None = _REPORTS,
    headers: Path | None = _HEADERS,
    image_col: str | None = _IMAGE,
    text_col: str | None = _TEXT,
    label_cols: str | None = _LABELS,
    id_col: str | None = _ID,
    patient_col: str | None = _PATIENT,
    view_col: str | None = _VIEW,
    split_col: str | None = _SPLIT_COL,
    study_col: str | None = _STUDY,
) -> None:
    """Write image-report anchor pairs: per study, or label-matched with --match-reports."""
    from semalign.data.labels import canonical_label
    from semalign.data.pairing import label_matched_pairs, study_pairs, write_pairs
    from semalign.errors import InputError

    records = _open(
        name, root, seed, labeler=labeler, reports_root=reports_root, headers=headers,
        image_col=image_col, text_col=text_col, label_cols=label_cols, id_col=id_col,
        patient_col=patient_col, view_col=view_col, split_col=split_col, study_col=study_col,
    )  # fmt: skip
    records = _filtered(records, not all_views, False, split)
    if match_reports is None:
        result = study_pairs(records, section=section, frontal=not all_views)
    else:
        labels = [canonical_label(x.strip()) for x in match_labels.split(",") if x.strip()]
        reports = _open(match_reports, match_root, None)
        result = label_matched_pairs(records, reports, labels, section=section, seed=seed)
    if not result:
        raise InputError(
            f"no anchor pairs from {name!r}: it needs images with a {section!r} report text "
            "(or --match-reports DATASET for label-matched pairs)"
        )
    write_pairs(result, out)
    typer.echo(f"wrote {len(result)} pairs to {out}")


@app.command("export")
def export(
    name: str = typer.Argument(..., help="Dataset name (see `semalign data list`)."),
    out: Path = typer.Option(..., "--out", help="Records file to write (.jsonl or .csv)."),
    root: Path | None = _ROOT,
    split: str | None = _SPLIT,
    frontal: bool = _FRONTAL,
    one_per_study: bool = _PER_STUDY,
    patient_split: str | None = typer.Option(
        None, "--patient-split", help="Re-split by patient, e.g. 0.8,0.1,0.1 (train,val,test)."
    ),
    seed: int | None = _SEED,
    labeler: str | None = _LABELER,
    reports_root: Path | None = _REPORTS,
    headers: Path | None = _HEADERS,
    image_col: str | None = _IMAGE,
    text_col: str | None = _TEXT,
    label_cols: str | None = _LABELS,
    id_col: str | None = _ID,
    patient_col: str | None = _PATIENT,
    view_col: str | None = _VIEW,
    split_col: str | None = _SPLIT_COL,
    study_col: str | None = _STUDY,
) -> None:
    """Write the (filtered, optionally patient-split) records as JSON lines or CSV.

    Both read back as dataset ``manifest`` (``--root FILE``; for CSV name the columns, e.g.
    ``--image-column image --text-column report --label-columns Pneumonia``) and as
    ``semalign embed -i FILE``.
    """
    from semalign.data.filters import patient_split as split_by_patient
    from semalign.data.records import write_records
    from semalign.errors import InputError

    if out.suffix not in (".jsonl", ".csv"):
        raise InputError(f"records file {out} must end in .jsonl or .csv")
    records = _open(
        name, root, seed, labeler=labeler, reports_root=reports_root, headers=headers,
        image_col=image_col, text_col=text_col, label_cols=label_cols, id_col=id_col,
        patient_col=patient_col, view_col=view_col, split_col=split_col, study_col=study_col,
    )  # fmt: skip
    records = _filtered(records, frontal, one_per_study, None if patient_split else split)
    if patient_split:
        try:
            shares = [float(x) for x in patient_split.split(",")]
        except ValueError:
            raise InputError(
                f"--patient-split {patient_split!r} must be numbers like 0.8,0.1,0.1"
            ) from None
        names = ["train", "val", "test"][: len(shares)]
        if len(shares) != len(names):
            raise InputError(f"--patient-split {patient_split!r} takes at most 3 shares")
        records = split_by_patient(records, dict(zip(names, shares, strict=True)), seed=seed or 0)
        records = [r for r in records if split is None or r.split == split]
    n = write_records(records, out)
    typer.echo(f"wrote {n} records to {out}")


@app.command("resize")
def resize(
    root: Path = typer.Option(..., "--root", help="Dataset folder to mirror."),
    out: Path = typer.Option(..., "--out", "-o", help="Mirror folder (a reader's new --root)."),
    size: int = typer.Option(512, "--size", help="Shorter side of the resized images, pixels."),
    quality: int = typer.Option(95, "--quality", help="JPEG quality of resized JPEGs."),
    workers: int | None = typer.Option(None, "--workers", help="Processes (default: CPUs)."),
) -> None:
    """Write a resized mirror of a dataset (same relative paths); a rerun resumes."""
    from semalign.data.resize import resize_mirror

    rep = resize_mirror(root, out, size, quality=quality, workers=workers)
    typer.echo(
        f"resized {rep.resized}, copied {rep.copied}, already done {rep.skipped} "
        f"in {rep.seconds:.1f} s; manifest {rep.manifest}"
    )
