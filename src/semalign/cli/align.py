"""`semalign align fit|apply|evaluate` on .npy/.npz/.safetensors arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from semalign.cli._inputs import INTERSECT

app = typer.Typer(
    help="Fit, apply and evaluate a map between two latent spaces.", no_args_is_help=True
)

CHUNK_ROWS = 65_536


@app.command("fit")
def fit(
    source: Path = typer.Argument(..., help="Source anchors (n, d_s): .npy, .npz, .safetensors."),
    target: Path = typer.Argument(..., help="Target anchors (n, d_t), paired row by row."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the map (.safetensors)."),
    method: str = typer.Option(
        "orthogonal",
        help="orthogonal, similarity, linear, affine, ridge, ridge-cv, lstsq-orthogonal or "
        "sgd-affine.",
    ),
    scaling: str = typer.Option("standard", help="none, center, std, standard, l2, center-l2."),
    alpha: float = typer.Option(None, help="ridge penalty / sgd-affine weight decay."),
    seed: int = typer.Option(0, help="Seed for sgd-affine and anchor selection."),
    max_iter: int = typer.Option(2000, help="sgd-affine iterations."),
    n_anchors: int = typer.Option(None, "--anchors", help="Use only this many rows as anchors."),
    anchor_strategy: str = typer.Option(
        "random", help="random, stratified (needs --labels), farthest or kmeans++."
    ),
    labels: Path = typer.Option(None, help="Per-row labels (.npy) for stratified anchors."),
    source_encoder: str = typer.Option(None, help="Source encoder id, kept in the header."),
    target_encoder: str = typer.Option(None, help="Target encoder id, kept in the header."),
    unpaired_source: Path = typer.Option(
        None, help="Unpaired source pool (m, d_s) for self-learning refinement (no test items)."
    ),
    unpaired_target: Path = typer.Option(
        None, help="Unpaired target pool (p, d_t), with --unpaired-source."
    ),
    refine_iterations: int = typer.Option(10, help="Most refits of the refinement."),
    intersect_ids: bool = INTERSECT,
) -> None:
    """Fit a map from SOURCE's space to TARGET's space on paired anchors.

    Rows are paired by id when the arrays have the ``X.ids.txt`` that ``semalign embed --npy``
    writes beside ``X.npy``, by order otherwise (and the command says so). With
    --unpaired-source/--unpaired-target, refine it on mutual CSLS nearest neighbours between the
    mapped source pool and the target pool (the header records the refinement).
    """
    from semalign.align.aligner import Aligner
    from semalign.align.files import row_chunks
    from semalign.cli._inputs import paired_arrays
    from semalign.errors import InputError

    if out.suffix != ".safetensors":
        raise InputError(f"--out {out} must end in .safetensors")
    if (unpaired_source is None) != (unpaired_target is None):
        raise InputError("pass both --unpaired-source and --unpaired-target, or neither")
    x, y, (kept, n_source) = paired_arrays((source, target), ("source", "target"), intersect_ids)
    aligner = Aligner(method, scaling, alpha=alpha, seed=seed, max_iter=max_iter)
    if unpaired_source is not None and unpaired_target is not None:
        _fit_refined(
            x, y, unpaired_source, unpaired_target, out, method, scaling,
            dict(alpha=alpha, seed=seed, max_iter=max_iter), refine_iterations,
            n_anchors, anchor_strategy, labels, source_encoder, target_encoder, kept, n_source,
        )  # fmt: skip
        return
    if n_anchors is not None:
        idx = _anchor_rows(x, n_anchors, anchor_strategy, labels, seed, kept, n_source)
        aligner.fit(x[idx], y[idx])
    elif method == "ridge-cv":  # holds anchors out, so it needs them at hand, not streamed
        aligner.fit(x, y)
    else:
        aligner.fit_stream(lambda: ((x[s], y[s]) for s in row_chunks(x, CHUNK_ROWS)))
    aligner.save(out, source_encoder=source_encoder, target_encoder=target_encoder)
    typer.echo(
        f"fitted {method} ({scaling}) on {aligner.n_anchors_} anchors: "
        f"{aligner.n_features_in_} -> {aligner.n_features_out_} dims; wrote {out}"
    )


def _anchor_rows(
    x: Any, n_anchors: int, anchor_strategy: str, labels: Path | None, seed: int, kept: Any,
    n_source: int,
) -> Any:  # fmt: skip
    """Anchor rows of the paired ``x``; ``labels`` has one row per source file row (``n_source``),
    ``kept`` indexes the rows paired."""
    from semalign.align.anchors import select_anchors
    from semalign.align.files import read_labels

    return select_anchors(
        x if anchor_strategy in {"farthest", "kmeans++"} else x.shape[0],
        n_anchors,
        strategy=anchor_strategy,
        labels=None if labels is None else read_labels(labels, n_source)[kept],
        seed=seed,
    )


def _fit_refined(
    x: Any, y: Any, u_path: Path, v_path: Path, out: Path, method: str, scaling: str,
    params: dict[str, Any], iterations: int, n_anchors: int | None, strategy: str,
    labels: Path | None, source_encoder: str | None, target_encoder: str | None, kept: Any,
    n_source: int,
) -> None:  # fmt: skip
    """`align fit` with unpaired pools: a RefinedAligner on the (selected) anchors."""
    import numpy as np

    from semalign.align.files import read_array
    from semalign.align.refine import RefinedAligner

    u = np.asarray(read_array(u_path, "unpaired source"), dtype=np.float64)
    v = np.asarray(read_array(v_path, "unpaired target"), dtype=np.float64)
    if n_anchors is not None:
        idx = _anchor_rows(x, n_anchors, strategy, labels, params["seed"], kept, n_source)
        x, y = x[idx], y[idx]
    refined = RefinedAligner(method, scaling, iterations=iterations, **params)
    refined.fit(np.asarray(x), np.asarray(y), unpaired=(u, v))
    refined.save(out, source_encoder=source_encoder, target_encoder=target_encoder)
    a = refined.aligner_
    state = "converged" if refined.converged_ else "stopped at the iteration limit"
    typer.echo(
        f"fitted {method} ({scaling}) on {refined.n_anchors_} anchors refined with "
        f"{refined.pseudo_pairs_[-1] if refined.pseudo_pairs_ else 0} pseudo-pairs in "
        f"{refined.n_iter_} refits ({state}): {a.n_features_in_} -> {a.n_features_out_} dims; "
        f"wrote {out}"
    )


@app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="A map written by `semalign align fit`."),
    input: Path = typer.Argument(..., help="Source embeddings (m, d_s) to map."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the mapped .npy."),
    inverse: bool = typer.Option(False, help="Map target embeddings back to the source space."),
) -> None:
    """Map INPUT through the fitted map and write the result as .npy."""
    import numpy as np

    from semalign.align import load_aligner
    from semalign.align.files import read_array, row_chunks, write_array

    aligner = load_aligner(file)
    x = read_array(input, "input")
    width = aligner.n_features_out_ if inverse else aligner.n_features_in_
    if x.shape[1] != width:
        from semalign.errors import InputError

        side = "target" if inverse else "source"
        raise InputError(
            f"input {input} has {x.shape[1]} columns but the map expects {width} ({side} "
            f"width): pass embeddings from the encoder the map was fitted on"
        )
    fn = aligner.inverse_transform if inverse else aligner.transform
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    parts = [fn(np.asarray(x[s], dtype=dtype)) for s in row_chunks(x, CHUNK_ROWS)]
    result = np.concatenate(parts) if parts else np.zeros((0, fn(x[:0]).shape[1]), dtype)
    write_array(out, result)
    typer.echo(f"mapped {result.shape[0]} rows {x.shape[1]} -> {result.shape[1]} dims; wrote {out}")


@app.command("evaluate")
def evaluate(
    file: Path = typer.Argument(..., help="A map written by `semalign align fit`."),
    source: Path = typer.Argument(..., help="Held-out source embeddings (n, d_s)."),
    target: Path = typer.Argument(..., help="Their paired target embeddings (n, d_t)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    knn_k: int = typer.Option(10, help="Neighbours for the k-NN overlap."),
    scoring: str = typer.Option("cosine", help="Retrieval scoring: cosine or csls."),
    csls_k: int = typer.Option(10, "--csls-k", help="Neighbours of the CSLS scores."),
    intersect_ids: bool = INTERSECT,
) -> None:
    """Print how well the map sends SOURCE onto TARGET (MSE, cosine, retrieval, CKA, k-NN,
    mutual k-NN, unbiased CKA, CKNNA)."""
    import numpy as np

    from semalign.align import load_aligner
    from semalign.cli._inputs import paired_arrays
    from semalign.errors import InputError
    from semalign.metrics.similarity import similarity_report
    from semalign.metrics.space import space_report

    aligner = load_aligner(file)
    x, y, _ = paired_arrays((source, target), ("source", "target"), intersect_ids)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    for arr, width, name in (
        (x, aligner.n_features_in_, "source"),
        (y, aligner.n_features_out_, "target"),
    ):
        if arr.shape[1] != width:
            raise InputError(
                f"{name} has {arr.shape[1]} columns but the map expects {width}: pass "
                f"embeddings from the encoder the map was fitted on"
            )
    mapped = aligner.transform(x)
    report = space_report(mapped, y, source=x, knn_k=knn_k, scoring=scoring, csls_k=csls_k)
    report.update(similarity_report(mapped, y, source=x, k=knn_k))
    if as_json:
        typer.echo(json.dumps({"n": int(x.shape[0]), **report}, indent=2))
        return
    typer.echo(f"{'metric':<24}{'value':>12}")
    for key, value in report.items():
        typer.echo(f"{key:<24}{value:>12.4f}")
    typer.echo(f"{'n':<24}{x.shape[0]:>12d}")
