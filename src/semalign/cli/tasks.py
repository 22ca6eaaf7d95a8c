"""`semalign stitch|zeroshot|retrieve` on .npy/.npz/.safetensors embeddings (or stores) + a CSV.

Embeddings are (n, d) arrays row-aligned with the labels CSV, or store folders written by
`semalign embed`, whose ids are matched to the CSV's ``id`` column. The test split comes from a
CSV column (``--split-column``, rows equal to ``--test-value``) or a seeded random fraction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from semalign.errors import InputError

ANCHORS_HELP = "Anchor counts, comma-separated (anchors come from non-test rows only)."


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"{name} {text!r} must be comma-separated integers, e.g. 100,500"
        ) from None
    if not values:
        raise InputError(f"{name} is empty: pass at least one integer")
    return values


def _words(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _embeddings(path: Path, name: str) -> tuple[Any, list[str] | None]:
    """(n, d) float array and its ids (None for plain array files)."""
    import numpy as np

    if path.is_dir():
        from semalign.store import read_store

        ids, arr = read_store(path)
        return np.asarray(arr, dtype=np.float64), list(ids)
    from semalign.align.files import read_array

    return np.asarray(read_array(path, name), dtype=np.float64), None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    import csv

    if not path.is_file():
        raise InputError(f"labels file {path} does not exist: check the path")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    if not columns:
        raise InputError(f"labels file {path} is empty: write a CSV with a header row")
    return columns, rows


class _Table:
    """The labels CSV aligned to the embedding rows."""

    def __init__(self, path: Path, n: int, ids: list[str] | None) -> None:
        self.path = path
        self.columns, rows = _read_csv(path)
        if ids is not None and "id" in self.columns:
            by_id = {r["id"]: r for r in rows}
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise InputError(
                    f"labels file {path} has no row for id {missing[0]!r} ({len(missing)} missing)"
                    ": add those rows or embed only the labelled items"
                )
            rows = [by_id[i] for i in ids]
        if len(rows) != n:
            raise InputError(
                f"labels file {path} has {len(rows)} rows but the embeddings {n}: rows must be "
                "paired with embedding rows (or give the CSV an id column matching a store)"
            )
        self.rows = rows

    def column(self, name: str) -> list[str]:
        if name not in self.columns:
            raise InputError(
                f"labels file {self.path} has no column {name!r}: its columns are "
                f"{', '.join(self.columns)}"
            )
        return [r[name] for r in self.rows]

    def classes(self, name: str) -> Any:
        import numpy as np

        values = self.column(name)
        blank = [i for i, v in enumerate(values) if not v.strip()]
        if blank:
            raise InputError(
                f"labels file {self.path}: column {name!r} is blank on row {blank[0] + 2}: give "
                "every row a class"
            )
        return np.array([v.strip() for v in values])

    def multilabel(self, names: list[str], uncertain: str, missing: str) -> tuple[Any, Any]:
        import numpy as np

        from semalign.data.labels import parse_value
        from semalign.metrics.classification import mask_labels

        raw = np.empty((len(self.rows), len(names)))
        for j, name in enumerate(names):
            for i, v in enumerate(self.column(name)):
                try:
                    raw[i, j] = parse_value(v)
                except InputError:
                    raise InputError(
                        f"labels file {self.path}: column {name!r} row {i + 2} holds {v!r}: use "
                        "1, 0, -1 (uncertain) or blank (not mentioned)"
                    ) from None
        return mask_labels(raw, uncertain=uncertain, missing=missing)

    def test_rows(
        self, split_column: str | None, test_value: str, fraction: float, seed: int
    ) -> Any:
        import numpy as np

        n = len(self.rows)
        column = split_column or ("split" if "split" in self.columns else None)
        if column is not None:
            wanted = set(_words(test_value))
            test = np.array([v.strip() in wanted for v in self.column(column)])
            if not test.any() or test.all():
                raise InputError(
                    f"labels file {self.path}: column {column!r} marks {int(test.sum())} of {n} "
                    f"rows as {test_value!r}: both test and non-test rows are needed"
                )
            return np.flatnonzero(test)
        return _random_test(n, fraction, seed)


def _random_test(n: int, fraction: float, seed: int) -> Any:
    import numpy as np

    if not 0.0 < fraction < 1.0:
        raise InputError(f"--test-fraction {fraction} must lie strictly between 0 and 1")
    k = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


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
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Score B's head on A's embeddings: end-to-end, naive, aligned and relative stitching."""
    from functools import partial

    from semalign.tasks.heads import LogisticHead, MLPHead
    from semalign.tasks.stitching import stitch as run_stitch

    xa, ids = _embeddings(source, "source")
    xb, ids_b = _embeddings(target, "target")
    if ids is not None and ids_b is not None and ids != ids_b:
        raise InputError("source and target stores hold different ids: embed the same items")
    table = _Table(labels, xa.shape[0], ids or ids_b)
    y, mask, names = _labels(table, label_column, label_columns, uncertain, missing)
    weight = _class_weight(class_weight)
    heads: dict[str, Any] = {
        "logistic": partial(LogisticHead, c, class_weight=weight),
        "linear": partial(MLPHead, (), class_weight=weight),
        "mlp": partial(MLPHead, (256,), class_weight=weight),
    }
    if head not in heads:
        raise InputError(f"--head {head!r} must be logistic, linear or mlp")
    result = run_stitch(
        xa, xb, y, mask=mask, label_names=names,
        test=table.test_rows(split_column, test_value, test_fraction, split_seed),
        methods=_words(methods), scalings=_words(scalings),
        anchor_counts=_ints(anchors, "--anchors"), seeds=_ints(seeds, "--seeds"),
        anchor_strategy=anchor_strategy, make_head=heads[head],
        modes=_words(modes), source_name=source_name or source.stem,
        target_name=target_name or target.stem, n_resamples=resamples,
    )  # fmt: skip
    _emit(result, out, json_out)


def _class_weight(text: str) -> str | None:
    """The head's class_weight for a --class-weight value."""
    if text not in ("none", "balanced"):
        raise InputError(f"--class-weight {text!r} must be none or balanced")
    return None if text == "none" else text


def _labels(
    table: _Table,
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
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Zero-shot classify images against text prompts, through T (unimodal) or a joint space."""
    import numpy as np

    from semalign.encoders import load_encoder
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import embed_prompts
    from semalign.tasks.zeroshot import zeroshot as run_zeroshot

    x, ids = _embeddings(images, "images")
    table = _Table(labels, x.shape[0], ids)
    y, mask, names = _labels(table, label_column, label_columns, uncertain, missing)
    classes = names if names is not None else sorted(set(np.asarray(y).tolist()))
    prompt_set = load_prompt_set(prompts, classes=classes, seed=prompt_seed)
    fitted = None
    if aligner is not None:
        from semalign.align.io import load_aligner

        fitted = load_aligner(aligner)
    t = None
    if texts is not None:
        t, t_ids = _embeddings(texts, "texts")
        if ids is not None and t_ids is not None and ids != t_ids:
            raise InputError("image and text stores hold different ids: embed paired items")
    elif not joint and fitted is None:
        raise InputError(
            "pass --texts (paired report embeddings) or --aligner (a fitted map) for unimodal "
            "zero-shot, or --joint"
        )
    emb = embed_prompts(prompt_set, load_encoder(text_encoder))
    if fitted is not None and split_column is None and "split" not in table.columns:
        test_rows = np.arange(x.shape[0])  # a pre-fitted map needs no training rows: score all
    else:
        test_rows = table.test_rows(split_column, test_value, test_fraction, split_seed)
    result = run_zeroshot(
        x, y, emb, mask=mask, texts=t, joint=joint, aligner=fitted, test=test_rows,
        rule=rule, aggregate=aggregate, temperature=temperature, methods=_words(methods),
        scalings=_words(scalings), anchor_counts=_ints(anchors, "--anchors"),
        seeds=_ints(seeds, "--seeds"), anchor_strategy=anchor_strategy, center_text=center_text,
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
    resamples: int = RESAMPLES,
    out: Path = OUT,
    json_out: Path = JSON_OUT,
) -> None:
    """Image -> report and report -> image retrieval among the test rows, through T."""
    from semalign.tasks.asif import ASIF
    from semalign.tasks.retrieval import retrieve as run_retrieve

    x, ids = _embeddings(images, "images")
    t, t_ids = _embeddings(texts, "texts")
    if ids is not None and t_ids is not None and ids != t_ids:
        raise InputError("image and text stores hold different ids: embed paired items")
    if x.shape[0] != t.shape[0]:
        raise InputError(
            f"images have {x.shape[0]} rows, texts {t.shape[0]}: pairs must be row by row"
        )
    if labels is not None:
        test = _Table(labels, x.shape[0], ids).test_rows(
            split_column, test_value, test_fraction, split_seed
        )
    else:
        test = _random_test(x.shape[0], test_fraction, split_seed)
    result = run_retrieve(
        x, t, test=test, methods=_words(methods), scalings=_words(scalings),
        anchor_counts=_ints(anchors, "--anchors"), seeds=_ints(seeds, "--seeds"),
        anchor_strategy=anchor_strategy, ks=_ints(ks, "--ks"), image_name=images.stem,
        text_name=texts.stem, n_resamples=resamples, scoring=scoring, csls_k=csls_k,
        asif=ASIF(asif_top_k, asif_power) if asif else None,
    )  # fmt: skip
    _emit(result, out, json_out)
