"""The report: Markdown and a self-contained HTML page, generated from the results files only.

``write_report(OUT)`` reads ``OUT/results/*.csv`` and ``OUT/results.json`` (never the models or
the cache) and writes ``OUT/report.md`` (figures as ``OUT/figures/*.png``) and ``OUT/report.html``
(the same content, figures embedded as base64 PNG, no external resources).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semalign.artefacts import atomic_write_bytes
from semalign.experiments import plots, report_retrieval
from semalign.experiments.plots import scoring_of
from semalign.experiments.report_common import (
    cell,
    fmt,
    headline_row,
    headline_source,
    task_of,
)

HEADLINE = ("accuracy", "macro_f1", "macro_auroc")
SHUFFLED = "shuffled-anchors"
PROTOCOL_SHORT = {
    "label-matched": "label-matched anchors (supervised, few-shot; not zero-shot)",
    "zero-shot": "anchors from another collection (zero-shot)",
    "same-collection": "study pairs of the evaluated collection",
}
SPACE = ("cka", "knn_jaccard@10", "top1", "mrr", "cosine")
SAMPLE_SIZE = "sample-size"  # mode of the raw-space rows at several sample sizes (units.py)


# --------------------------------------------------------------------------- reading


def _num(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A results CSV as dicts; value/ci/score columns as floats (NaN for empty)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    floats = {"value", "ci_low", "ci_high", "score", "y_true", "pc1", "pc2"}
    return [{k: (_num(v) if k in floats else v) for k, v in r.items()} for r in rows]


# --------------------------------------------------------------------------- document model


@dataclass
class Block:
    kind: str  # heading | text | table | figure | list
    content: Any
    level: int = 2


class Doc:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.figures: dict[str, bytes] = {}

    def h(self, text: str, level: int = 2) -> None:
        self.blocks.append(Block("heading", text, level))

    def p(self, text: str) -> None:
        self.blocks.append(Block("text", text))

    def bullets(self, items: Iterable[str]) -> None:
        self.blocks.append(Block("list", list(items)))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if rows:
            self.blocks.append(Block("table", (header, rows)))

    def figure(self, name: str, png: bytes | None, caption: str) -> None:
        if png is not None:
            self.figures[name] = png
            self.blocks.append(Block("figure", (name, caption)))

    def markdown(self) -> str:
        out: list[str] = []
        for b in self.blocks:
            if b.kind == "heading":
                out.append("#" * b.level + " " + b.content)
            elif b.kind == "text":
                out.append(b.content)
            elif b.kind == "list":
                out.append("\n".join(f"- {x}" for x in b.content))
            elif b.kind == "table":
                header, rows = b.content
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("\n".join(lines))
            else:
                name, caption = b.content
                out.append(f"![{caption}](figures/{name}.png)\n\n*{caption}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>",
        ]
        for b in self.blocks:
            if b.kind == "heading":
                parts.append(f"<h{b.level}>{html.escape(b.content)}</h{b.level}>")
            elif b.kind == "text":
                parts.append(f"<p>{_inline(b.content)}</p>")
            elif b.kind == "list":
                parts.append(
                    "<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b.content) + "</ul>"
                )
            elif b.kind == "table":
                header, rows = b.content
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                    for r in rows
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            else:
                name, caption = b.content
                data = base64.b64encode(self.figures[name]).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
        parts.append("</main></body></html>")
        return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then render Markdown ``code``, **bold** and *italic* spans."""
    out = html.escape(text)
    for mark, tag in (("`", "code"), ("**", "strong"), ("*", "em")):
        pieces = out.split(mark)
        if len(pieces) % 2 == 1:
            out = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(pieces))
    return out


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;
background:#f6f7f9;margin:0}
main{max-width:1080px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #e3e6eb;padding-bottom:4px;
margin-top:1.8em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:12px 0;font-size:.9em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d8dce3;padding:4px 8px;text-align:left}th{background:#eef1f5}
tr:nth-child(even) td{background:#fafbfc}
figure{margin:16px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e6eb}
figcaption{font-size:.88em;color:#4a5363;margin-top:4px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px}
"""


# --------------------------------------------------------------------------- sections


def _metric_cells(rows: list[dict[str, Any]], metrics: Iterable[str]) -> list[str]:
    by = {r["metric"]: r for r in rows}
    cells = []
    for m in metrics:
        r = by.get(m)
        cells.append("" if r is None else fmt(r["value"], r["ci_low"], r["ci_high"]))
    return cells


def _group(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], list[Any]]:
    out: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


ROW_KEYS = ("source", "target", "mode", "method", "scaling", "anchors", "seed")


def _result_table(doc: Doc, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> None:
    groups = _group(rows, ROW_KEYS)
    body = [list(k) + _metric_cells(g, metrics) for k, g in groups.items()]
    doc.table(list(ROW_KEYS) + list(metrics), body)


def _stitch_section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    space: list[dict[str, Any]],
    pca: list[dict[str, Any]],
) -> None:
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
    _result_table(doc, fixed + top, HEADLINE)
    sizes = [r for r in space if r["mode"] == SAMPLE_SIZE]
    space = [r for r in space if r["mode"] != SAMPLE_SIZE]
    if space:
        doc.h("Space similarity before and after alignment", 3)
        doc.p(
            "On the test rows: *before* compares the source embeddings (zero-padded or truncated)"
            " with the target's; *after* compares T(source) with the target at the most anchors. "
            "`cka`: linear CKA; `knn_jaccard@10`: overlap of the 10 nearest neighbours; `top1` "
            "and `mrr`: retrieval of each item's own target embedding; `cosine`: mean cosine of "
            "the pairs. `source_cka` is the CKA of the untouched spaces (no map needed)."
        )
        doc.figure(
            f"{name}-space",
            plots.space_bars(space, SPACE),
            "Space similarity of source and target before (grey) and after alignment, per method.",
        )
        body = []
        for k, g in _group(space, ("source", "target", "mode", "method", "anchors")).items():
            by = {r["metric"]: r["value"] for r in g}
            body.append([*map(str, k)] + [fmt(by.get(m, math.nan)) for m in (*SPACE, "source_cka")])
        doc.table(["source", "target", "mode", "method", "anchors", *SPACE, "source_cka"], body)
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
    _result_table(doc, rows, HEADLINE)
    if sizes:
        _space_sizes_section(doc, name, meta, sizes)


def _space_sizes_section(
    doc: Doc, name: str, meta: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    k = meta.get("space_k", 10)
    metrics = ["cka", "unbiased_cka", f"mutual_knn@{k}", f"cknna@{k}", f"knn_jaccard@{k}"]
    doc.h(f"Space similarity: {name}")
    doc.p(
        f"How similar the two encoders' raw spaces are (no map), on random subsamples of the "
        f"task's {meta.get('n_items')} items (all of them, training and test rows alike: "
        "nothing here is fitted), at each sample size n: "
        f"{meta.get('space_repeats')} seeded draws per n, each a nested chain (a larger sample "
        "of a draw contains its smaller ones). `cka`: linear CKA; `unbiased_cka`: CKA with the "
        f"unbiased HSIC estimator; `mutual_knn@{k}`: mean shared fraction of the {k} cosine "
        f"nearest neighbours (Huh et al. 2024); `cknna@{k}`: CKA restricted to mutual "
        f"neighbours; `knn_jaccard@{k}`: Jaccard overlap of the {k}-NN sets. Values are the "
        "mean over the draws; brackets hold the 2.5-97.5 percentiles of the draws (the spread "
        "of one sample of that size; it vanishes where n is every item). Each pair is measured "
        "once: every metric is symmetric."
    )
    doc.p(
        "**These metrics drift with n.** At a fixed k the neighbourhoods cover a smaller "
        "fraction of a larger sample, so the k-NN metrics change with n, and linear CKA is "
        "biased upwards when n is small against the widths (the unbiased estimator removes that "
        "bias): compare two pairs of spaces only at the same n, never across sample sizes."
    )
    doc.figure(
        f"{name}-space-vs-n",
        plots.space_vs_n(rows, metrics),
        "Raw-space similarity vs sample size n (mean over the draws; band: 2.5-97.5 "
        "percentiles of the draws).",
    )
    body = []
    for (src, tgt, n), g in _group(rows, ("source", "target", "n")).items():
        body.append([src, tgt, str(n), *_metric_cells(g, metrics)])
    body.sort(key=lambda r: (r[0], r[1], int(r[2])))
    doc.table(["source", "target", "n", *metrics], body)


PROTOCOLS = {
    "label-matched": (
        "**Protocol: label-matched anchors — supervised, few-shot, not zero-shot.** Each anchor "
        "pairs an image with a report *of the same label*, so the map is built from the labels "
        "of the other images: with leave-one-out, every image is classified by a map that saw "
        "the labels of all the others. Read the numbers against the supervised comparators "
        "below (same images, same folds, labels used directly), not as zero-shot performance."
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


def _zeroshot_section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    scores: list[dict[str, Any]],
) -> None:
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
            text += (
                " Leave-one-out: each image is classified by a map fitted without any anchor "
                "pair of that image; the scores of all images are then pooled."
            )
        doc.p(text)
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
                "same leave-one-out folds. "
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
        _scoring_section(doc, meta, rows)
    doc.h("Results", 3)
    per_label = sorted({r["metric"] for r in rows if r["metric"].startswith("auroc[")})
    metrics = (*HEADLINE, *per_label)
    groups = _group([{**r, "scoring": scoring_of(r)} for r in rows], (*ROW_KEYS, "scoring"))
    body = [list(k) + _metric_cells(g, metrics) for k, g in groups.items()]
    doc.table([*ROW_KEYS, "scoring", *metrics], body)


def _scoring_section(doc: Doc, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """CSLS beside cosine and ASIF beside T: macro AUROC at every anchor count (first seed)."""
    doc.h("Scoring (cosine, CSLS) and the ASIF baseline", 3)
    k = meta.get("csls_k", 10)
    if "csls" in meta.get("scoring", []):
        doc.p(
            f"**CSLS** (Conneau et al. 2018, k = {k}) rescores the (images × class prompts) "
            "matrix as 2·cos − r_image − r_class. r_image (an image's mean over its k best class "
            "scores) moves every class of one image equally; r_class (a class's mean over its "
            "k best images) is a property of the *batch* of images scored together. Here the "
            "batch is every evaluated image mapped by the fold's map"
            + (
                ", the held-out image included, unlabelled: transductive but label-free (no "
                "label of any image enters the CSLS terms)"
                if meta.get("split") == "loo"
                else ""
            )
            + ". A batch of one image (single-image prediction) has r_class equal to its own "
            "score, which turns CSLS into the cosine scores minus a constant: the same "
            "decisions as cosine. Within one batch CSLS shifts each class's score column by a "
            "constant (r_image cancels in every decision): under the pos-neg rule it moves only "
            "the threshold and cannot reorder the images on a label, so its AUROC differs from "
            "cosine's only where each fold has its own map and batch (leave-one-out); under "
            "argmax it changes decisions and class log-odds. The shuffled-anchors control is "
            "scored the same way; the anchor centroids and comparators have no prompts and stay "
            "cosine."
        )
    asif = meta.get("asif")
    if asif:
        used = ", ".join(f"{a} anchors: top_k {t}" for a, t in asif.get("top_k_used", {}).items())
        supervised = (
            " These anchors are label-matched, so ASIF is exactly as supervised as T here."
            if meta.get("protocol") == "label-matched"
            else ""
        )
        doc.p(
            "**ASIF** (Norelli et al. 2023): no map; each image is represented by its cosines "
            "to the fold's anchor images, each prompt by its cosines to the same pairs' anchor "
            f"reports, kept at the top_k largest and raised to the power {asif.get('power')}; "
            "the two codes are compared by cosine with the same prompt rule, on the same "
            f"folds, anchor draws and seeds as T. Asked top_k = {asif.get('top_k')}, used "
            f"(capped at the anchor count): {used}.{supervised}"
        )
    n = int(meta.get("n_images") or 0)
    doc.p(
        f"Macro AUROC (first seed, 95% bootstrap CIs over the {n} images) at each anchor count. "
        "Where intervals overlap this broadly, the data cannot rank the settings."
    )
    first = plots._first_seed(rows)
    anchored = [
        r
        for r in rows
        if r["metric"] == "macro_auroc" and r["anchors"] != "" and r["seed"] == first
    ]
    counts = sorted({int(r["anchors"]) for r in anchored})
    body = []
    keyed = [{**r, "scoring": scoring_of(r)} for r in anchored]
    for (mode, method, scoring), g in _group(keyed, ("mode", "method", "scoring")).items():
        by = {int(r["anchors"]): r for r in g}
        body.append([mode, method or "", scoring] + [cell(by.get(a)) for a in counts])
    doc.table(["mode", "method", "scoring", *(f"{a} anchors" for a in counts)], body)


def build(out: Path) -> tuple[Doc, str]:
    """The report document built from ``out``'s results files, and its title."""
    meta = json.loads((out / "results.json").read_text(encoding="utf-8"))
    res = out / "results"
    stitch_rows = read_rows(res / "stitch.csv")
    zs_rows = read_rows(res / "zeroshot.csv")
    space_rows = read_rows(res / "space.csv")
    scores = read_rows(res / "zeroshot_scores.csv")
    pca = read_rows(res / "pca.csv")
    ret_rows = read_rows(res / "retrieval.csv")
    recipe = meta.get("recipe", {})
    title = recipe.get("title") or f"semalign report: {recipe.get('name')}"
    doc = Doc()
    doc.h(title, 1)
    if recipe.get("notes"):
        doc.p(" ".join(recipe["notes"].split()))
    doc.p(
        f"Recipe `{recipe.get('name')}`; {recipe.get('bootstrap')} bootstrap resamples for every "
        "CI. Every number below is read from `results/*.csv` (see `results.json`)."
    )
    tasks = meta.get("tasks", {})
    summary = []
    for name, m in tasks.get("stitch", {}).items():
        summary += _stitch_summary(name, m, [r for r in stitch_rows if task_of(r) == name])
    for name in tasks.get("zeroshot", {}):
        m = tasks["zeroshot"][name]
        summary += _zeroshot_summary(name, m, [r for r in zs_rows if task_of(r) == name])
    for name, m in tasks.get("retrieval", {}).items():
        rows = [r for r in ret_rows if task_of(r) == name]
        summary += report_retrieval.summary(name, m, rows)
    if summary:
        doc.h("Summary")
        doc.bullets(summary)
    for name, m in tasks.get("stitch", {}).items():
        _stitch_section(
            doc,
            name,
            m,
            [r for r in stitch_rows if task_of(r) == name],
            [r for r in space_rows if task_of(r) == name],
            [r for r in pca if r.get("setting") == name],
        )
    for name, m in tasks.get("zeroshot", {}).items():
        _zeroshot_section(
            doc,
            name,
            m,
            [r for r in zs_rows if task_of(r) == name],
            [r for r in scores if r.get("setting") == name],
        )
    for name, m in tasks.get("retrieval", {}).items():
        report_retrieval.section(doc, name, m, [r for r in ret_rows if task_of(r) == name])
    doc.h("Files")
    doc.bullets(f"`results/{f}`" for f in meta.get("files", []))
    _timing_section(doc, meta.get("timings"))
    return doc, title


def _timing_section(doc: Doc, timings: dict[str, Any] | None) -> None:
    """Where the time went: the run's steps from ``results.json`` ``timings``, grouped by task
    and step kind, the largest first, with what was reused from the store or the step cache."""
    if not timings:
        return
    total = float(timings.get("seconds", 0.0))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for step in timings.get("steps", []):
        groups.setdefault((step["task"], step["step"]), []).append(step)
    tasks = {t["task"]: float(t["seconds"]) for t in timings.get("tasks", [])}
    rows = []
    for (task, kind), steps in groups.items():
        seconds = sum(float(s["seconds"]) for s in steps)
        computed = sum(bool(s["computed"]) for s in steps)
        rows.append((seconds, task, kind, f"{computed} / {len(steps)}"))
    for task, seconds in tasks.items():
        inside = sum(r[0] for r in rows if r[1] == task)
        rows.append((max(seconds - inside, 0.0), task, "other (records, splits, anchors)", ""))
    outside = total - sum(tasks.values())
    rows.append((max(outside, 0.0), "run", "pre-flight, result files", ""))
    rows.sort(key=lambda r: -r[0])
    doc.h("Where the time went")
    doc.p(
        f"Wall time of this run's steps up to the results files: {total:.1f} s in all, the "
        "largest first (`results.json` `timings` lists every step; writing this report is "
        "recorded there afterwards as `report_seconds`). *computed* counts the steps that ran "
        "rather than being read back from the store or the step cache."
    )
    share = (lambda x: f"{100 * x / total:.0f}%") if total > 0 else (lambda x: "")
    doc.table(
        ["task", "step", "seconds", "share", "computed / steps"],
        [[task, kind, f"{sec:.2f}", share(sec), n] for sec, task, kind, n in rows],
    )


def _stitch_summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
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


def _zeroshot_summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
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


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``figures/``) and the self-contained ``report.html`` in ``out``."""
    out = Path(out)
    doc, title = build(out)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    for name, png in doc.figures.items():
        atomic_write_bytes(figures / f"{name}.png", png)
    md, page = out / "report.md", out / "report.html"
    atomic_write_bytes(md, doc.markdown().encode("utf-8"))
    atomic_write_bytes(page, doc.html(title).encode("utf-8"))
    return md, page
