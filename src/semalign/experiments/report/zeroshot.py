"""The report's zero-shot (prompt classification) section and summary line, from
``results/zeroshot.csv`` and ``results/zeroshot_scores.csv`` rows only."""

from __future__ import annotations

import math
from typing import Any

from semalign.experiments import plots
from semalign.experiments.plots import scoring_of
from semalign.experiments.report import scoring as scoring_part
from semalign.experiments.report.common import (
    HEADLINE,
    ROW_KEYS,
    cell,
    comparison_row,
    estimate,
    fmt,
    group,
    headline_row,
    headline_source,
    metric_cells,
    na_sentences,
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
    means: list[dict[str, Any]] | None = None,
) -> None:
    """Heading, the images, prompts, anchors and protocol, the rows, the headline table, the
    curves, ROC and confusion figures, what it shows and cannot; in the appendix the scoring
    part where the task ran CSLS or ASIF, and every row. ``means``: the task's rows of
    ``results/comparisons.csv``."""
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
    if meta.get("asif") or "csls" in meta.get("scoring", []):
        doc.p(
            "**CSLS and ASIF.** "
            + ("CSLS rescoring uses the batch of evaluated images, unlabelled (transductive but "
               "label-free). " if "csls" in meta.get("scoring", []) else "")
            + ("ASIF (Norelli et al. 2023, no map) runs at a setting chosen in every fold on "
               "that fold's own anchor pairs (a held-out quarter of them), never on the "
               "evaluated images. " if (meta.get("asif") or {}).get("select") else "")
            + "How each scores, and their values at every anchor count, are in the appendix."
        )  # fmt: skip
    doc.figure(
        f"{name}-anchors",
        plots.zeroshot_curves(rows),
        "AUROC (macro) vs number of anchor pairs (first seed: line and 95% CI band; other "
        "seeds: dots). Colour marks the series (grey: the shuffled-anchors control); cosine "
        "scoring is a solid line with circles, CSLS a dashed line with squares; dash-dot "
        "horizontal lines: comparators with no map (nearest-centroid, linear-probe; multimodal "
        "for a joint encoder); dotted grey line: chance (AUROC 0.5).",
    )
    doc.figure(
        f"{name}-roc",
        plots.roc_curves(scores, rows, rule=meta.get("rule")),
        "ROC curves per label at the headline anchor count (first seed, cosine scoring), one "
        "per scored setting. Each legend entry gives its curve's AUROC from "
        "`results/zeroshot.csv` (the label's `auroc[label]` row, or `macro_auroc` when the "
        "task has a single label); an entry marked '(from scores)' has no such row and gives "
        "the area under the drawn curve, from the same `results/zeroshot_scores.csv` scores. "
        "Under the argmax rule each curve ranks a class's log-odds against the other classes, "
        "as the macro AUROC does; under pos-neg, each label's decision value. Dotted diagonal: "
        "chance.",
    )
    doc.figure(
        f"{name}-confusion",
        plots.confusion(scores, meta.get("rule", "argmax")),
        "Confusion matrix at the headline anchor count (first seed): argmax over classes, or "
        "a positive decision value for the positive-vs-negative rule.",
    )
    comp = means or []
    _headline_table(doc, meta, rows, comp)
    _reading(doc, meta, comp)
    app = doc.appendix
    app.h(f"{title or 'Zero-shot'}: {name}")
    if len(meta.get("scoring", ["cosine"])) > 1 or meta.get("asif"):
        scoring_part.section(app, meta, rows)
    app.h(f"Every row: {name}", 3)
    per_label = sorted({r["metric"] for r in rows if r["metric"].startswith("auroc[")})
    metrics = (*HEADLINE, *per_label)
    keyed = [{**r, "scoring": scoring_of(r)} for r in rows]
    groups = group(keyed, (*ROW_KEYS, "scoring"))
    body = [list(k) + metric_cells(g, metrics) for k, g in groups.items()
            if not all(math.isnan(r["value"]) for r in g)]  # fmt: skip
    app.table([*ROW_KEYS, "scoring", *metrics], body)
    for sentence in na_sentences(keyed, (*ROW_KEYS, "scoring")):
        app.p(sentence)


#: the rows of a zero-shot headline table: (mode, scoring) at the headline anchors, in order
LEAD_ROWS = (
    ("unimodal", "cosine"), ("unimodal", "csls"), (SHUFFLED, "cosine"),
    ("anchor-centroid", "cosine"), ("asif", "cosine"), ("nearest-centroid", "cosine"),
    ("linear-probe", "cosine"),
)  # fmt: skip


def _headline_table(
    doc: Doc, meta: dict[str, Any], rows: list[dict[str, Any]], means: list[dict[str, Any]]
) -> None:
    """T with prompts (cosine, CSLS), the control, the anchor centroids, ASIF and the supervised
    comparators at the headline anchor count: the mean over seeds with its interval where the
    comparisons have it, else the first seed (comparators: one run, no seed)."""
    h = meta.get("headline") or {}
    joint = bool(meta.get("joint"))
    if not h and not joint:
        return
    body = []
    for mode, sc in (("multimodal", "cosine"), ("multimodal", "csls")) if joint else LEAD_ROWS:
        cand = [r for r in rows if r["mode"] == mode and scoring_of(r).split("@")[0] == sc]
        if not cand:
            continue
        scoring = scoring_of(cand[0])
        match: dict[str, Any] = {"mode": mode, "scoring": scoring}
        if joint:
            pass  # a dual encoder's joint space: no map, no anchors
        elif mode not in ("nearest-centroid", "linear-probe"):
            match["anchors"] = h["anchors"]
        if not joint and mode not in ("asif", "nearest-centroid", "linear-probe"):
            match.update(method=h["method"], scaling=h["scaling"])
        mine = [{**r, "scoring": scoring_of(r)} for r in cand]
        cells = [estimate(means, mine, m, **match) for m in HEADLINE_ZS]
        if all(c.startswith("n/a") for c, _ in cells):
            continue
        body.append([mode, scoring, str(match.get("anchors", "")), cells[0][1],
                     *(c for c, _ in cells)])  # fmt: skip
    if joint:
        doc.h("Headline table: the joint space", 3)
        doc.p(
            "The dual encoder's own images and prompts, one run (no map, no anchors, no seed), "
            "with its bootstrap CI over images; every row is in the appendix."
        )
        doc.table(["mode", "scoring", "anchors", "estimate", *HEADLINE_ZS], body)
        return
    doc.h(f"Headline table: {h['anchors']} anchors, `{h['method']}`", 3)
    doc.p(
        "Every setting at the headline anchor count: the mean over the anchor seeds with the 95% "
        "interval that resamples seeds and images (`results/comparisons.csv`), or the first "
        "seed with its bootstrap CI where only one seed is summarised; the supervised "
        "comparators run once (no anchors, no seed). Every seed and anchor count is in the "
        "appendix."
    )
    doc.table(["mode", "scoring", "anchors", "estimate", *HEADLINE_ZS], body)


HEADLINE_ZS = ("macro_auroc", "accuracy", "macro_f1")


def _reading(doc: Doc, meta: dict[str, Any], means: list[dict[str, Any]]) -> None:
    """What the headline comparisons show (T minus each comparator, the permutation p) and
    what this task cannot show."""
    h = meta.get("headline") or {}
    if not h or meta.get("joint"):
        return
    diffs = []
    for r in means:
        v = str(r.get("variant", ""))
        if v.startswith("paired: ") and r["metric"] == "macro_auroc":
            diffs.append(f"{v[8:]} {fmt(r['value'], r['ci_low'], r['ci_high'])}")
    p = comparison_row(means, "permutations=", "macro_auroc:p")
    text = "**What it shows and what it cannot.** "
    if diffs:
        text += (
            f"Paired on images (and seeds where both share the anchor draws), macro AUROC at "
            f"{h['anchors']} anchors: " + "; ".join(diffs) + ". "
        )
    if p is not None:
        text += f"The shuffled-anchors permutation control gives p = {p['value']:.3f}. "
    n = int(meta.get("n_images") or 0)
    text += (
        f"With {n} images every interval is wide: an interval that covers 0 says these images "
        "cannot rank the two settings, not that they are equal."
    )
    if meta.get("protocol") == "label-matched":
        text += (
            " The anchors carry the labels, so T is compared with supervised comparators, not "
            "with zero-shot methods."
        )
    if meta.get("images") in CONFOUNDED:
        text += " Label and acquisition source coincide here (see above)."
    doc.p(text)


def summary(
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]] | None = None,
) -> list[str]:
    """One line: AUROC at the headline map (mean over seeds where ``means``, the task's
    ``results/comparisons.csv`` rows, have it) beside the shuffled-anchors control, the anchor
    centroids, CSLS, ASIF and the supervised comparators, whichever the task ran, and the
    permutation p; or the joint space."""
    comp = means or []

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
    keyed = [{**r, "scoring": scoring_of(r)} for r in rows]
    at: dict[str, Any] = {
        "method": h.get("method"),
        "scaling": h.get("scaling"),
        "anchors": h.get("anchors"),
    }

    def est(mode: str, scoring: str = "cosine", **match: Any) -> str:
        value, how = estimate(comp, keyed, "macro_auroc", mode=mode, scoring=scoring, **match)
        return value + (f" ({how})" if how else "")

    row = headline_row(rows, meta, "macro_auroc", "unimodal")
    text = (
        f"**{name}**, prompts through T fitted on {what} ({h.get('method')}, {h.get('anchors')} "
        f"anchors, {headline_source(meta)}): AUROC {est('unimodal', **at)}; shuffled-anchors "
        f"control {est(SHUFFLED, **at)}"
    )
    if meta.get("protocol") == "label-matched":
        text += f"; the same map with no prompts (anchor-centroid) {est('anchor-centroid', **at)}"
    if "csls" in meta.get("scoring", []):
        k = meta.get("csls_k", 10)
        text += f"; with CSLS scoring {est('unimodal', f'csls@{k}', **at)}"
    if meta.get("asif"):
        text += f"; ASIF on the same anchors {est('asif', anchors=h.get('anchors'))}"
    comps = [f"{c} {cell(auroc(c))}" for c in meta.get("comparators", [])]
    if comps:
        text += "; supervised comparators on the same folds: " + ", ".join(comps)
    p = comparison_row(comp, "permutations=", "macro_auroc:p")
    if p is not None:
        text += f"; permutation control p = {p['value']:.3f}"
    out = [text + f" (n = {row['n'] if row else meta.get('n_images')})."]
    return out
