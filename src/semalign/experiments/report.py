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

from semalign.align.io import atomic_write_bytes
from semalign.experiments import plots, report_retrieval

HEADLINE = ("accuracy", "macro_f1", "macro_auroc")
SPACE = ("cka", "knn_jaccard@10", "top1", "mrr", "cosine")


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


def fmt(value: float, low: float = math.nan, high: float = math.nan) -> str:
    """``0.812 [0.701, 0.905]``; ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.3f}" + ("" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]")


def task_of(row: dict[str, Any]) -> str:
    return str(row["setting"]).split(";")[0]


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
        "by class); anchors are drawn from the other items only. Encoder pairs are "
        + ", ".join(f"`{a}` → `{b}`" for a, b in meta.get("pairs", []))
        + " ("
        + ", ".join(f"`{k}` = {v}" for k, v in meta.get("encoders", {}).items())
        + ")."
    )
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
        "percentile-bootstrap CIs; `n/a` marks "
        "a method that is not determined by so few anchors (affine and linear need d + 1)."
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


def _zeroshot_section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    scores: list[dict[str, Any]],
) -> None:
    doc.h(f"Zero-shot: {name}")
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
    else:
        text += (
            f" The map T (image space → text space) is fitted on {meta.get('pairing')} anchor "
            f"pairs: {meta.get('n_anchor_pairs')} pairs over {meta.get('anchor_images')} images "
            f"and {meta.get('anchor_reports')} reports ({meta.get('reports_per_image')} "
            "report(s) per image). *unaligned* is the control with no map."
        )
        if meta.get("split") == "loo":
            text += (
                " Leave-one-out: each image is classified by a map fitted without any anchor "
                "pair of that image; the scores of all images are then pooled."
            )
    doc.p(text)
    n = int(meta.get("n_images") or 0)
    if n and n < 100:
        doc.p(
            f"**Limits.** With {n} images, one image moves accuracy by {100 / n:.1f} points and "
            "the 95% CIs are wide: read these numbers as a check that the pipeline works, not as "
            "an estimate of clinical performance. The anchors of a leave-one-out fold come from "
            "the same small collection (and reports are matched by label, not by patient), so the"
            " map learns little more than a direction separating the two labels."
        )
    doc.figure(
        f"{name}-anchors",
        plots.zeroshot_curves(rows),
        "AUROC (macro) vs number of anchors (first seed, 95% CI band; other seeds as "
        "dots); dashed: no map.",
    )
    doc.figure(
        f"{name}-roc",
        plots.roc_curves(scores, rows),
        "ROC curves per label at the most anchors (first seed) and for the control; "
        "AUROC in the legend, from results/zeroshot.csv.",
    )
    doc.figure(
        f"{name}-confusion",
        plots.confusion(scores, meta.get("rule", "argmax")),
        "Confusion matrix at the most anchors (first seed): argmax over classes, or "
        "P(finding) >= 0.5 for the positive-vs-negative rule.",
    )
    doc.h("Results", 3)
    per_label = sorted({r["metric"] for r in rows if r["metric"].startswith("auroc[")})
    _result_table(doc, rows, (*HEADLINE, *per_label))


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
        summary += _zeroshot_summary(name, [r for r in zs_rows if task_of(r) == name])
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
    return doc, title


def _best_aligned(rows: list[dict[str, Any]], a: str, b: str) -> dict[str, Any] | None:
    cand = [
        r
        for r in rows
        if r["mode"] == "aligned"
        and r["source"] == a
        and r["target"] == b
        and r["metric"] == "accuracy"
        and not math.isnan(r["value"])
    ]
    if not cand:
        return None
    first = plots._first_seed(cand)
    cand = [r for r in cand if r["seed"] == first]
    top = max(int(r["anchors"]) for r in cand)
    return max((r for r in cand if int(r["anchors"]) == top), key=lambda r: r["value"])


def _stitch_summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    out = []
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
            return fmt(hit[0]["value"], hit[0]["ci_low"], hit[0]["ci_high"]) if hit else "n/a"

        best = _best_aligned(rows, a, b)
        aligned = (
            f"aligned ({best['method']}, {best['anchors']} anchors) "
            f"{fmt(best['value'], best['ci_low'], best['ci_high'])}"
            if best
            else "aligned n/a"
        )
        out.append(
            f"{name}, `{a}` → `{b}` accuracy: end-to-end {acc('end-to-end')}, naive "
            f"{acc('naive')}, {aligned}, target {acc('target')}."
        )
    return out


def _zeroshot_summary(name: str, rows: list[dict[str, Any]]) -> list[str]:
    auroc = [r for r in rows if r["metric"] == "macro_auroc" and not math.isnan(r["value"])]
    out = []
    for mode in ("multimodal", "unaligned"):
        hit = [r for r in auroc if r["mode"] == mode]
        if hit:
            h = hit[0]
            out.append(f"{name}, {mode}: AUROC {fmt(h['value'], h['ci_low'], h['ci_high'])}.")
    uni = [r for r in auroc if r["mode"] == "unimodal"]
    if uni:
        first = plots._first_seed(uni)
        uni = [r for r in uni if r["seed"] == first]
        top = max(uni, key=lambda r: int(r["anchors"]))
        out.append(
            f"{name}, unimodal through T ({top['method']}, {top['anchors']} anchors): AUROC "
            f"{fmt(top['value'], top['ci_low'], top['ci_high'])} (n = {top['n']})."
        )
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
