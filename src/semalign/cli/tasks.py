"""`semalign stitch|zeroshot|retrieve` on .npy/.npz/.safetensors embeddings (or stores) + a CSV.

Rows are paired by id whenever the inputs carry ids (a store, the ``X.ids.txt`` beside ``X.npy``,
the CSV's ``id`` column), by order only when none does (see ``cli/_inputs.py``). The test split
comes from a CSV column (``--split-column``, rows equal to ``--test-value``) or a seeded random
fraction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semalign.cli._inputs import ALLOW_MISMATCH, INTERSECT, Table, check_encoders, pair
from semalign.cli._inputs import random_test as _random_test
from semalign.cli._inputs import read_rows as _rows
from semalign.errors import InputError

ANCHORS_HELP = "Anchor counts, comma-separated (anchors come from non-test rows only)."


def _ints(text: str, name: str, minimum: int = 1) -> list[int]:
    """Comma-separated integers, each >= ``minimum``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"{name} {text!r} must be comma-separated integers, e.g. 100,500"
        ) from None
    if not values:
        raise InputError(f"{name} is empty: pass at least one integer")
    low = [v for v in values if v < minimum]
    if low:
        raise InputError(f"{name} holds {low[0]}: every value must be an integer >= {minimum}")
    return values


def _seeds(text: str) -> list[int]:
    return _ints(text, "--seeds", minimum=0)


def _words(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _emit(table: Any, out: Path | None, json_out: Path | None) -> None:
    typer.echo(table.format())
    for path in (out, json_out):
        if path is not None:
            table.write(path)
            typer.echo(f"wrote {path}")


SPLIT_COLUMN = typer.Option(
    None, help="CSV column naming each row's split (default: 'split' if present)."
)
TEST_VALUE = typer.Option("test", help="Value(s) of the split column that mark test rows.")
TEST_FRACTION = typer.Option(0.3, help="Random test fraction when no split column exists.")
SPLIT_SEED = typer.Option(0, help="Seed of the random test split.")
METHODS = typer.Option("orthogonal", help="Alignment methods, comma-separated.")
SCALINGS = typer.Option("standard", help="Scalings, comma-separated.")
SEEDS = typer.Option("0", help="Anchor-selection seeds, comma-separated.")
STRATEGY = typer.Option("random", help="random, stratified, farthest or kmeans++.")
RESAMPLES = typer.Option(1000, help="Bootstrap resamples for the 95% CIs (0: none).")
LABEL_COLUMN = typer.Option(None, help="Multi-class: the column of class names.")
LABEL_COLUMNS = typer.Option(
    None, help="Multi-label: comma-separated columns holding 1/0/-1/blank."
)
UNCERTAIN = typer.Option("ignore", help="Uncertain (-1) labels: ignore, ones, zeros.")
MISSING = typer.Option("zeros", help="Blank labels: zeros or ignore.")
C = typer.Option(1.0, "--C", help="Inverse L2 strength of the logistic head.")
CLASS_WEIGHT = typer.Option("none", help="none or balanced.")
OUT = typer.Option(None, "--out", "-o", help="Write the results table as CSV.")
JSON_OUT = typer.Option(None, "--json", help="Write the results table as JSON.")
SCORING = typer.Option("cosine", help="cosine, or csls (hubness-corrected, over the test batch).")
CSLS_K = typer.Option(10, "--csls-k", help="Neighbours of the CSLS scores.")


def stitch(
    source: Path = typer.Argument(..., help="Source encoder A's embeddings (n, d_A) or store."),
    target: Path = typer.Argument(..., help="Target encoder B's embeddings (n, d_B) or store."),
    labels: Path = typer.Option(..., help="Labels CSV, one row per embedding row."),
    label_column: str = LABEL_COLUMN,
    label_columns: str = LABEL_COLUMNS,
    uncertain: str = UNCERTAIN,
    missing: str = MISSING,
    split_column: str = SPLIT_COLUMN,
    test_value: str = TEST_VALUE,
    test_fraction: float = TEST_FRACTION,
    split_seed: int = SPLIT_SEED,
    anchors: str = typer.Option("100", help=ANCHORS_HELP),
    methods: str = METHODS,
    scalings: str = SCALINGS,
    seeds: str = SEEDS,
    anchor_strategy: str = STRATEGY,
    head: str = typer.Option("logistic", help="logistic, linear (torch probe) or mlp."),
    c: float = C,
    class_weight: str = CLASS_WEIGHT,
    modes: str = typer.Option(
        "end-to-end,target,naive,aligned,relative", help="Modes to score, comma-separated."
    ),
    source_name: str = typer.Option(None, help="Source name in the table (default: file stem)."),
    target_name: str = typer.Option(None, help="Target name in the table (default: file stem)."),
    resamples: int = RESAMPLES,
    intersect_ids: bool = INTERSECT,
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Score B's head on A's embeddings: end-to-end, naive, aligned and relative stitching."""
    from functools import partial

    from semalign.tasks.heads import LogisticHead, MLPHead
    from semalign.tasks.stitching import stitch as run_stitch

    _check_resamples(resamples)
    (ra, rb), table = pair(
        [_rows(source, "source"), _rows(target, "target")], labels, intersect_ids
    )
    xa, xb = ra.x, rb.x
    y, mask, names = _labels(table, label_column, label_columns, uncertain, missing)
    weight = _class_weight(class_weight)
    heads: dict[str, Any] = {
        "logistic": partial(LogisticHead, c, class_weight=weight),
        "linear": partial(MLPHead, (), class_weight=weight),
        "mlp": partial(MLPHead, (256,), class_weight=weight),
    }
    if head not in heads:
        raise InputError(f"--head {head!r} must be logistic, linear or mlp")
    test = table.test_rows(split_column, test_value, test_fraction, split_seed)
    if label_column is not None:
        table.check_classes(label_column, y, test)
    result = run_stitch(
        xa, xb, y, mask=mask, label_names=names, test=test,
        methods=_words(methods), scalings=_words(scalings),
        anchor_counts=_ints(anchors, "--anchors"), seeds=_seeds(seeds),
        anchor_strategy=anchor_strategy, make_head=heads[head],
        modes=_words(modes), source_name=source_name or source.stem,
        target_name=target_name or target.stem, n_resamples=resamples,
    )  # fmt: skip
    _emit(result, out, json_out)


def _check_resamples(resamples: int) -> None:
    if resamples < 0:
        raise InputError(f"--resamples {resamples} must be >= 0 (0: no confidence intervals)")


def _class_weight(text: str) -> str | None:
    """The head's class_weight for a --class-weight value."""
    if text not in ("none", "balanced"):
        raise InputError(f"--class-weight {text!r} must be none or balanced")
    return None if text == "none" else text


def _labels(
    table: Table,
    label_column: str | None,
    label_columns: str | None,
    uncertain: str,
    missing: str,
) -> tuple[Any, Any, list[str] | None]:
    if (label_column is None) == (label_columns is None):
        raise InputError(
            "pass exactly one of --label-column (multi-class) or --label-columns (multi-label)"
        )
    if label_column is not None:
        return table.classes(label_column), None, None
    names = _words(label_columns or "")
    y, mask = table.multilabel(names, uncertain, missing)
    return y, mask, names


def zeroshot(
    images: Path = typer.Argument(..., help="Image embeddings (n, d_img) or store."),
    labels: Path = typer.Option(..., help="Labels CSV, one row per image."),
    texts: Path = typer.Option(
        None, help="Paired report embeddings (n, d_txt) from --text-encoder: anchors for T."
    ),
    joint: bool = typer.Option(
        False, "--joint", help="Images already share the text encoder's space (dual encoder)."
    ),
    aligner: Path = typer.Option(
        None, help="A map image -> text space fitted elsewhere (`semalign align fit`): no anchors."
    ),
    text_encoder: str = typer.Option("minilm", help="Encoder that embeds the prompts."),
    prompts: str = typer.Option("chexzero", help="Built-in prompt set or a .toml file."),
    prompt_seed: int = typer.Option(0, help="Seed of sampled (MedCLIP-style) prompts."),
    rule: str = typer.Option("argmax", help="argmax (multi-class) or pos-neg (per label)."),
    aggregate: str = typer.Option("mean", help="mean, logit-mean or max over a class's prompts."),
    temperature: float = typer.Option(0.01, help="Softmax temperature of the cosines."),
    label_column: str = typer.Option(None, help="argmax: the column of class names."),
    label_columns: str = typer.Option(
        None, help="pos-neg: columns holding 1/0/-1/blank (named like the prompt classes)."
    ),
    uncertain: str = UNCERTAIN,
    missing: str = MISSING,
    center_text: bool = typer.Option(False, help="Subtract the text anchors' mean first."),
    split_column: str = SPLIT_COLUMN,
    test_value: str = TEST_VALUE,
    test_fraction: float = TEST_FRACTION,
    split_seed: int = SPLIT_SEED,
    anchors: str = typer.Option("500", help=ANCHORS_HELP),
    methods: str = METHODS,
    scalings: str = SCALINGS,
    seeds: str = SEEDS,
    anchor_strategy: str = STRATEGY,
    scoring: str = SCORING,
    csls_k: int = CSLS_K,
    resamples: int = RESAMPLES,
    intersect_ids: bool = INTERSECT,
    allow_encoder_mismatch: bool = ALLOW_MISMATCH,
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Zero-shot classify images against text prompts, through T (unimodal) or a joint space."""
    import numpy as np

    from semalign.encoders import load_encoder
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import embed_prompts
    from semalign.tasks.zeroshot import zeroshot as run_zeroshot

    _check_resamples(resamples)
    if texts is None and not joint and aligner is None:
        raise InputError(
            "pass --texts (paired report embeddings) or --aligner (a fitted map) for unimodal "
            "zero-shot, or --joint"
        )
    sets = [_rows(images, "images")] + ([_rows(texts, "texts")] if texts is not None else [])
    paired, table = pair(sets, labels, intersect_ids)
    x = paired[0].x
    t = paired[1].x if texts is not None else None
    if texts is not None:
        check_encoders(
            f"--texts {texts}", paired[1].encoder, "--text-encoder", text_encoder,
            allow_encoder_mismatch, "embed the reports with the encoder that embeds the prompts",
        )  # fmt: skip
    y, mask, names = _labels(table, label_column, label_columns, uncertain, missing)
    classes = names if names is not None else sorted(set(np.asarray(y).tolist()))
    prompt_set = load_prompt_set(prompts, classes=classes, seed=prompt_seed)
    fitted = None
    if aligner is not None:
        from semalign.align import load_aligner

        fitted = load_aligner(aligner)
        check_encoders(
            f"the target of map {aligner}", fitted.target_encoder_, "--text-encoder",
            text_encoder, allow_encoder_mismatch,
            "pass the map's target encoder as --text-encoder (or fit a map into this one)",
        )  # fmt: skip
        check_encoders(
            f"--images {images}", paired[0].encoder, f"the source of map {aligner}",
            fitted.source_encoder_, allow_encoder_mismatch,
            "pass the embeddings of the encoder the map was fitted from",
        )  # fmt: skip
    emb = embed_prompts(prompt_set, load_encoder(text_encoder))
    if fitted is not None and split_column is None and "split" not in table.columns:
        test_rows = np.arange(x.shape[0])  # a pre-fitted map needs no training rows: score all
    else:
        test_rows = table.test_rows(split_column, test_value, test_fraction, split_seed)
    result = run_zeroshot(
        x, y, emb, mask=mask, texts=t, joint=joint, aligner=fitted, test=test_rows,
        rule=rule, aggregate=aggregate, temperature=temperature, methods=_words(methods),
        scalings=_words(scalings), anchor_counts=_ints(anchors, "--anchors"),
        seeds=_seeds(seeds), anchor_strategy=anchor_strategy, center_text=center_text,
        image_name=images.stem, text_name=text_encoder, n_resamples=resamples,
        scoring=scoring, csls_k=csls_k,
    )  # fmt: skip
    _emit(result, out, json_out)


def retrieve(
    images: Path = typer.Argument(..., help="Image embeddings (n, d_img) or store."),
    texts: Path = typer.Argument(..., help="Paired report embeddings (n, d_txt) or store."),
    labels: Path = typer.Option(None, help="Optional CSV with a split column."),
    split_column: str = SPLIT_COLUMN,
    test_value: str = TEST_VALUE,
    test_fraction: float = TEST_FRACTION,
    split_seed: int = SPLIT_SEED,
    anchors: str = typer.Option("500", help=ANCHORS_HELP),
    methods: str = METHODS,
    scalings: str = SCALINGS,
    seeds: str = SEEDS,
    anchor_strategy: str = STRATEGY,
    ks: str = typer.Option("1,5,10", help="Recall@k cut-offs, comma-separated."),
    scoring: str = SCORING,
    csls_k: int = CSLS_K,
    asif: bool = typer.Option(False, "--asif", help="Add the ASIF baseline on the same anchors."),
    asif_top_k: int = typer.Option(800, help="ASIF: anchors kept per item."),
    asif_power: float = typer.Option(8.0, help="ASIF: exponent of the kept similarities."),
    kind: str = typer.Option(
        None,
        help="image-report or report-report (default: from the stores' modalities, else "
        "image-report); names the directions in the table.",
    ),
    resamples: int = RESAMPLES,
    intersect_ids: bool = INTERSECT,
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Retrieval between paired rows in both directions among the test rows, through T.

    IMAGES -> TEXTS is image -> report for image embeddings; for two report embeddings (a
    report seen by two text encoders, --kind report-report) the directions are named A->B, B->A.
    """
    from semalign.experiments.retrieval_units import relabel_directions
    from semalign.tasks.asif import ASIF
    from semalign.tasks.retrieval import KINDS
    from semalign.tasks.retrieval import retrieve as run_retrieve

    _check_resamples(resamples)
    (ri, rt), table = pair([_rows(images, "images"), _rows(texts, "texts")], labels, intersect_ids)
    kind = kind or ("report-report" if ri.modality == rt.modality == "text" else "image-report")
    if kind not in KINDS:
        raise InputError(f"--kind {kind!r} must be image-report or report-report")
    if table is not None:
        test = table.test_rows(split_column, test_value, test_fraction, split_seed)
    else:
        test = _random_test(ri.x.shape[0], test_fraction, split_seed)
    result = run_retrieve(
        ri.x, rt.x, test=test, methods=_words(methods), scalings=_words(scalings),
        anchor_counts=_ints(anchors, "--anchors"), seeds=_seeds(seeds),
        anchor_strategy=anchor_strategy, ks=_ints(ks, "--ks"), image_name=images.stem,
        text_name=texts.stem, n_resamples=resamples, scoring=scoring, csls_k=csls_k,
        asif=ASIF(asif_top_k, asif_power) if asif else None,
    )  # fmt: skip
    _emit(relabel_directions(result, kind, (images.stem, texts.stem)), out, json_out)
