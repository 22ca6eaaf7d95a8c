"""The report's zero-shot (prompt classification) section and summary line, from
``results/zeroshot.csv`` and ``results/zeroshot_scores.csv`` rows only."""

from __future__ import annotations

from typing import Any

from semalign.experiments import plots
from semalign.experiments.plots import scoring_of
from semalign.experiments.report import scoring as scoring_part
from semalign.experiments.report.common import (
    HEADLINE,
    ROW_KEYS,
    cell,
    group,
    headline_row,
    headline_source,
    metric_cells,
)
from semalign.experiments.report.document import Doc

__all__ = ["no_true_zero_shot", "section", "summary"]

SHUFFLED = "shuffled-anchors"
PROTOCOL_SHORT = {
    "label-matched": "label-matched anchors (supervised, few-shot; not zero-shot)",
    "zero-shot": "anchors from another collection (zero-shot)",
    "same-collection": "study pairs of the evaluated collection",
}
PROTOCOLS = {
    "label-matched": (
        "**Protocol: label-matched anchors — supervised, few-shot, not zero-shot.** Each anchor "
        "pairs an image with a report *of the same label*, so the map is built from the labels "
        "of the other images: leaving one patient out, every image is classified by a map that "
        "saw the labels of all other patients' images. Read the numbers against the "
        "supervised comparators below (same images, same folds, labels used directly), not as "
        "zero-shot performance."
    ),
    "zero-shot": (
        "**Protocol: zero-shot.** The anchors are image-report pairs of another collection, "
        "paired by study (no label is used to build them); the evaluated images' labels are "
        "used only to score."
    ),
    "same-collection": (
        "**Protocol: study pairs of the evaluated collection.** The anchors are image-report "
        "pairs of the same collection as the evaluated images, paired by study (no label used)."
    ),
}
OFFLINE_IMAGES = {"kermany-mini"}  # image datasets that ship offline, with no paired reports
#: image datasets whose label coincides with where the image came from
CONFOUNDED = {
    "kermany-mini": (
        "**Label and source coincide.** In this set every normal image is a `NORMAL2-IM-*` file "
        "and every pneumonia image a `person*_bacteria_*` one, so a classifier can tell the "
        "classes apart by acquisition source alone: the supervised comparators' scores (and "
        "the map's) may measure the source as much as pneumonia."
    )
}


def no_true_zero_shot(meta: dict[str, Any]) -> str:
    """Why this task is not true zero-shot, and where true zero-shot is run."""
    text = (
        "**Not zero-shot.** True zero-shot needs anchors that pair images with their own "
        "reports (no label used) and evaluation images from another collection; "
        "`recipes/paper.toml` runs that protocol (MIMIC-CXR anchors; CheXpert and RSNA images)."
    )
    if meta.get("images") in OFFLINE_IMAGES:
        text += (
            " The data that ship offline allow no true zero-shot: they hold images without "
            "reports (16 paediatric X-rays) and reports without images (IU X-ray)."
        )
    return text


def section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    scores: list[dict[str, Any]],
) -> None:
    """Heading, the images, prompts, anchors and protocol, the rows, the curves, ROC and
    confusion figures, the scoring part where the task ran CSLS or ASIF, every row."""
    proto = str(meta.get("protocol", ""))
    title = {"label-matched": "Prompt classification, label-matched anchors"}.get(proto)
    doc.h(f"{title or 'Zero-shot'}: {name}")
    counts = ", ".join(f"{k}: {v}" for k, v in meta.get("label_counts", {}).items())
    prompts = meta.get("prompt_counts", {})
    text = (
        f"Images of `{meta.get('images')}` ({meta.get('n_images')} images; positives per label:"
        f" {counts}) embedded by `{meta.get('image_encoder')}`, scored against the "
        f"`{meta.get('prompts')}` prompts ("
        + ", ".join(f"{c}: {p} positive, {n} negative" for c, (p, n) in prompts.items())
        + f") embedded by `{meta.get('text_encoder')}`, decision rule `{meta.get('rule')}`."
    )
    if meta.get("joint"):
        text += " The two towers share one space (multimodal baseline): no map is fitted."
        doc.p(text)
    else:
        text += (
            f" The map T (image space → text space) is fitted on {meta.get('pairing')} anchor "
            f"pairs: {meta.get('n_anchor_pairs')} pairs over {meta.get('anchor_images')} images "
            f"and {meta.get('anchor_reports')} reports ({meta.get('reports_per_image')} "
            "report(s) per image)."
        )
        if meta.get("split") == "loo":
            folds = meta.get("folds") or {}
            text += (
                f" Leave one patient out: {folds.get('n_folds')} folds over "
                f"{folds.get('n_images')} images; each patient's images are classified by a "
                "map fitted without any anchor pair of that patient's images; the scores of all "
                "images are then pooled."
                if folds.get("unit") == "patient"
                else " Leave-one-out: each image is classified by a map fitted without any "
                "anchor pair of that image; the scores of all images are then pooled."
            )
        doc.p(text)
        if meta.get("images") in CONFOUNDED:
            doc.p(CONFOUNDED[str(meta.get("images"))])
        if proto in PROTOCOLS:
            doc.p(PROTOCOLS[proto])
        if proto != "zero-shot":
            doc.p(no_true_zero_shot(meta))
        doc.p(
            "**Rows.** *unimodal*: the prompts scored through T. *shuffled-anchors*: the fair "
            "control, the same estimator on the same anchors (same count, same seed) with the "
            "reports shuffled among them, so the pairing carries no information; T fitted on "
            "it shows what the prompts and the text space give by themselves. "
            + (
                "*anchor-centroid*: the same map with no prompts at all, each mapped image "
                "scored against the centroids of the fold's anchor reports of each label: where "
                "it matches or beats *unimodal*, the labels in the anchors, not the prompts, "
                "carry the signal. "
                if meta.get("protocol") == "label-matched"
                else ""
            )
            + (
                "*nearest-centroid*: cosine to the class centroids of the other images' "
                "embeddings; *linear-probe*: a logistic regression on the other images' "
                "embeddings: supervised, in the image space, with no text and no map, on the "
                "same folds. "
                if meta.get("comparators")
                else ""
            )
            + "AUROC is computed from decision values (log-probabilities, cosine differences, "
            "logits), which keep their order."
        )
    n = int(meta.get("n_images") or 0)
    if n and n < 100:
        doc.p(
            f"**Limits.** With {n} images, one image moves accuracy by {100 / n:.1f} points and "
            "the 95% CIs are wide: read these numbers as a check that the pipeline works, not as "
            "an estimate of clinical performance."
        )
    for note in meta.get("coincide", []):
        doc.p(f"*Note.* {note}.")
    doc.figure(
        f"{name}-anchors",
        plots.zeroshot_curves(rows),
        "AUROC (macro) vs number of anchors (first seed, 95% CI band; other seeds as "
        "dots); dashed: comparators with no map.",
    )
    doc.figure(
        f"{name}-roc",
        plots.roc_curves(scores, rows),
        "ROC curves per label at the headline anchor count (first seed), for the control and "
        "the comparators; AUROC in the legend, from results/zeroshot.csv.",
    )
    doc.figure(
        f"{name}-confusion",
        plots.confusion(scores, meta.get("rule", "argmax")),
        "Confusion matrix at the headline anchor count (first seed): argmax over classes, or "
        "a positive decision value for the positive-vs-negative rule.",
    )
    if len(meta.get("scoring", ["cosine"])) > 1 or meta.get("asif"):
        scoring_part.section(doc, meta, rows)
    doc.h("Results", 3)
    per_label = sorted({r["metric"] for r in rows if r["metric"].startswith("auroc[")})
    metrics = (*HEADLINE, *per_label)
    groups = group([{**r, "scoring": scoring_of(r)} for r in rows], (*ROW_KEYS, "scoring"))
    body = [list(k) + metric_cells(g, metrics) for k, g in groups.items()]
    doc.table([*ROW_KEYS, "scoring", *metrics], body)


def _first_seed_at(rows: list[dict[str, Any]], mode: str, anchors: Any) -> dict[str, Any] | None:
    """The first-seed cosine macro-AUROC row of ``mode`` at ``anchors`` (e.g. ASIF at the
    headline anchor count)."""
    cand = [
        r
        for r in rows
        if r["mode"] == mode
        and r["metric"] == "macro_auroc"
        and str(r["anchors"]) == str(anchors)
        and scoring_of(r) == "cosine"
    ]
    first = plots._first_seed(cand)
    return next((r for r in cand if r["seed"] == first), None)


def summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """AUROC at the headline map beside the shuffled-anchors control, the anchor centroids,
    CSLS, ASIF and the supervised comparators, whichever the task ran; or the joint space."""
    out = []

    def auroc(mode: str) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if r["mode"] == mode and r["metric"] == "macro_auroc" and scoring_of(r) == "cosine"
            ),
            None,
        )

    if meta.get("joint"):
        return [f"{name}, multimodal (joint space, no map): AUROC {cell(auroc('multimodal'))}."]
    h = meta.get("headline") or {}
    what = PROTOCOL_SHORT.get(str(meta.get("protocol")), "through T")
    row = headline_row(rows, meta, "macro_auroc", "unimodal")
    shuffled = headline_row(rows, meta, "macro_auroc", SHUFFLED)
    text = (
        f"{name}, prompts through T fitted on {what} ({h.get('method')}, {h.get('anchors')} "
        f"anchors, {headline_source(meta)}): AUROC {cell(row)}; shuffled-anchors control "
        f"{cell(shuffled)}"
    )
    if meta.get("protocol") == "label-matched":
        centroid = headline_row(rows, meta, "macro_auroc", "anchor-centroid")
        text += f"; the same map with no prompts (anchor-centroid) {cell(centroid)}"
    if "csls" in meta.get("scoring", []):
        csls = headline_row(rows, meta, "macro_auroc", "unimodal", scoring="csls")
        text += f"; with CSLS scoring {cell(csls)}"
    if meta.get("asif"):
        asif = _first_seed_at(rows, "asif", h.get("anchors"))
        text += f"; ASIF on the same anchors {cell(asif)}"
    comps = [f"{c} {cell(auroc(c))}" for c in meta.get("comparators", [])]
    if comps:
        text += "; supervised comparators on the same folds: " + ", ".join(comps)
    out.append(text + f" (n = {row['n'] if row else meta.get('n_images')}).")
    return out
