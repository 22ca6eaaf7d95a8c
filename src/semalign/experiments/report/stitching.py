"""The report's stitching section and summary lines, from ``results/stitch.csv`` (and the task's
``space.csv`` and ``pca.csv`` rows) only."""

from __future__ import annotations

from typing import Any

from semalign.experiments import plots
from semalign.experiments.report import space as space_part
from semalign.experiments.report.common import (
    HEADLINE,
    cell,
    headline_row,
    headline_source,
    result_table,
)
from semalign.experiments.report.document import Doc

__all__ = ["section", "summary"]


def section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    space: list[dict[str, Any]],
    pca: list[dict[str, Any]],
) -> None:
    """Heading, the data and classes, the modes, the curves, the headline table, space
    similarity, the PCA panels, every row, then the raw-space section at several sizes."""
    doc.h(f"Stitching: {name}")
    counts = meta.get("class_counts", {})
    classes = meta.get("classes", {})
    doc.p(
        f"Dataset `{meta.get('dataset')}`, section `{meta.get('section')}`: "
        f"{meta.get('n_items')} items, {meta.get('n_test')} held out for testing (stratified "
        "by class, whole texts: one text is never on both sides); anchors are drawn from the "
        "other items only. Encoder pairs are "
        + ", ".join(f"`{a}` → `{b}`" for a, b in meta.get("pairs", []))
        + " ("
        + ", ".join(f"`{k}` = {v}" for k, v in meta.get("encoders", {}).items())
        + ")."
    )
    dd = meta.get("dedup_counts")
    if dd:
        doc.p(
            f"**Duplicates.** Items are deduplicated by normalised text (lower case, whitespace "
            f"collapsed): {dd['records']} single-class records hold {dd['distinct']} distinct "
            f"texts; {dd['dropped_duplicates']} repeated copies were dropped, and "
            f"{dd['dropped_conflicts']} records whose text recurs under another class were "
            f"left out. The {meta.get('n_items')} items used are {meta.get('distinct_texts')} "
            "distinct texts."
        )
    elif meta.get("distinct_texts") is not None:
        doc.p(
            f'**Duplicates.** Not deduplicated (`dedup = "none"`): the {meta.get("n_items")} '
            f"items hold {meta.get('distinct_texts')} distinct normalised texts; the test split "
            "keeps every copy of a text on one side."
        )
    for note in meta.get("coincide", []):
        doc.p(f"*Note.* {note}.")
    doc.table(
        [
            "class",
            "labels (positive for one of these, for no other class)",
            "items used",
            "available",
        ],
        [
            [
                c,
                ", ".join(labels),
                str(counts.get(c, 0)),
                str(meta.get("available_per_class", {}).get(c, "")),
            ]
            for c, labels in classes.items()
        ],
    )
    doc.p(
        "**Modes.** *end-to-end*: a head trained on the source encoder's own training rows (the "
        "source's reference). *target*: the target encoder's head on its own test rows (the "
        "ceiling of the borrowed head). *naive*: source embeddings fed to the target's head with "
        "no map (zero-padded or truncated). *aligned*: source embeddings mapped by T, fitted on "
        "k anchor pairs, then the target's head. *relative*: both encoders re-expressed as cosines"
        " to the k anchors (Moschella et al. 2023; up to 256 anchors, first seed), a head trained "
        "on the target's and applied to the source's. Values are on the test rows with 95% "
        "percentile-bootstrap CIs; AUROC from the heads' logits as class log-odds "
        "(order-keeping); `n/a` marks "
        "a method that is not determined by so few anchors (affine and linear need d + 1) or "
        "whose anchors' numerical rank is too low (the reason is in `results/stitch.csv`)."
    )
    doc.figure(
        f"{name}-anchors",
        plots.anchor_curves(rows),
        "Accuracy vs number of anchors per method (first seed: line and 95% CI band; "
        "other seeds: dots); dashed lines: end-to-end, target, naive.",
    )
    doc.figure(
        f"{name}-modes",
        plots.mode_bars(rows),
        "Accuracy by mode per encoder pair; aligned and relative at the most anchors, "
        "first seed; error bars are 95% CIs.",
    )
    fixed = [r for r in rows if r["mode"] in ("end-to-end", "target", "naive")]
    first = plots._first_seed(rows)
    top = [
        r
        for r in rows
        if r["mode"] in ("aligned", "relative") and (first is None or r["seed"] == first)
    ]
    doc.h("Headline table (first seed)", 3)
    result_table(doc, fixed + top, HEADLINE)
    sizes = [r for r in space if r["mode"] == space_part.SAMPLE_SIZE]
    space = [r for r in space if r["mode"] != space_part.SAMPLE_SIZE]
    if space:
        space_part.before_after(doc, name, space)
    if pca:
        doc.figure(
            f"{name}-pca",
            plots.pca_panels(pca),
            "2-D PCA of anchors: the source space (its own basis), and the target "
            "space with the aligned source anchors projected on the target's basis; "
            "colours are classes; grey segments join a few aligned anchors to their "
            "targets.",
        )
    doc.h("All rows", 3)
    doc.p("Every setting of every seed (the same rows as `results/stitch.csv`).")
    result_table(doc, rows, HEADLINE)
    if sizes:
        space_part.sizes_section(doc, name, meta, sizes)


def summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Per pair: accuracy end-to-end, naive, at the headline map and of the target; then how
    the headline was chosen."""
    out = []
    h = meta.get("headline") or {}
    for a, b in meta.get("pairs", []):

        def acc(mode: str, a: str = a, b: str = b) -> str:
            hit = [
                r
                for r in rows
                if r["mode"] == mode
                and r["source"] == a
                and r["target"] == b
                and r["metric"] == "accuracy"
            ]
            return cell(hit[0]) if hit else "n/a"

        row = headline_row(rows, meta, "accuracy", "aligned", source=a, target=b)
        out.append(
            f"{name}, `{a}` → `{b}` accuracy: end-to-end {acc('end-to-end')}, naive "
            f"{acc('naive')}, aligned ({h.get('method')}, {h.get('scaling')}, "
            f"{h.get('anchors')} anchors) {cell(row)}, target {acc('target')}."
        )
    if out:
        out.append(f"{name}: the aligned setting above is {headline_source(meta)}.")
    return out
