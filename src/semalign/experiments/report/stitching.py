"""The report's stitching section and summary lines, from ``results/stitch.csv`` (and the task's
``space.csv``, ``pca.csv`` and ``stitch_confusion.csv`` rows) only.

The lead figure is the task's headline metric (``headline.metric``, default balanced accuracy:
the mean recall over classes, which always answering the most frequent class cannot lift above
1/K); every table shows it first, beside accuracy, macro-F1 and macro-AUROC, with the majority
floor (mode ``majority``, one row per task: empty source and target)."""

from __future__ import annotations

from typing import Any

from semalign.experiments import plots
from semalign.experiments.report import space as space_part
from semalign.experiments.report.common import (
    ROW_KEYS,
    cell,
    comparison_row,
    estimate,
    fmt,
    headline_row,
    headline_source,
    na_sentences,
    result_table,
)
from semalign.experiments.report.document import Doc
from semalign.experiments.report.maps import rank_na, what_maps_are

__all__ = ["lead_metric", "section", "summary"]

METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "macro_auroc")
FLOOR = "majority"


def lead_metric(meta: dict[str, Any]) -> str:
    """The metric the task's summary reports: the recipe's ``headline.metric`` (declared before
    any result), balanced accuracy by default."""
    return str((meta.get("headline") or {}).get("metric") or "balanced_accuracy")


def _metrics(meta: dict[str, Any]) -> tuple[str, ...]:
    lead = lead_metric(meta)
    return (lead, *(m for m in METRICS if m != lead))


def _floor(rows: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["mode"] == FLOOR and r["metric"] == metric), None)


def _matrix(
    conf: list[dict[str, Any]], **where: Any
) -> tuple[list[str], dict[tuple[str, str], int]]:
    """Classes (in file order) and counts of the confusion rows matching ``where``."""
    sub = [r for r in conf if all(str(r.get(k)) == str(v) for k, v in where.items())]
    classes = list(dict.fromkeys(r["true"] for r in sub))
    return classes, {(r["true"], r["predicted"]): int(r["count"]) for r in sub}


def _floor_paragraph(
    doc: Doc, meta: dict[str, Any], rows: list[dict[str, Any]], conf: list[dict[str, Any]]
) -> None:
    """The majority floor and why the lead metric is the one imbalance cannot flatter."""
    lead = lead_metric(meta)
    classes, counts = _matrix(conf, mode=FLOOR)
    answered = [c for c in classes if any(counts.get((t, c), 0) for t in classes)]
    said = f"`{answered[0]}`" if len(answered) == 1 else "the most frequent class"
    acc, bal = _floor(rows, "accuracy"), _floor(rows, "balanced_accuracy")
    if acc is None:
        return
    doc.p(
        f"**Floor.** Always answering {said}, the training rows' most frequent class (mode "
        f"*majority*), scores accuracy {cell(acc)} but balanced accuracy {cell(bal)} "
        f"(1/{len(classes) or 'K'}) and macro-F1 {cell(_floor(rows, 'macro_f1'))}: with "
        f"imbalanced classes accuracy rewards the majority answer, so the lead figure is `{lead}` "
        f"({_metric_source(meta)}). "
        "Balanced accuracy is the mean over classes of recall; per-class F1 and AUROC "
        "(one-vs-rest) are in `results/stitch.csv`, every test row's prediction and logits in "
        "`results/stitch_predictions.csv`."
    )


def _per_class(
    doc: Doc, meta: dict[str, Any], rows: list[dict[str, Any]], conf: list[dict[str, Any]]
) -> None:
    """Per-class F1 of the target and the headline map, then the headline map's confusion
    matrix, per pair (first seed)."""
    h = meta.get("headline") or {}
    if not h:
        return
    for a, b in meta.get("pairs", []):
        where = {"source": a, "target": b, "mode": "aligned", "method": h["method"],
                 "scaling": h["scaling"], "anchors": h["anchors"]}  # fmt: skip
        classes, counts = _matrix(conf, **where)
        if not classes:
            continue
        doc.h(f"Per class: `{a}` → `{b}` at the headline map", 3)
        body = []
        for c in classes:
            tgt = next((r for r in rows if r["mode"] == "target" and r["source"] == a
                        and r["target"] == b and r["metric"] == f"f1[{c}]"), None)  # fmt: skip
            ali = headline_row(rows, meta, f"f1[{c}]", "aligned", source=a, target=b)
            auc = headline_row(rows, meta, f"auroc[{c}]", "aligned", source=a, target=b)
            support = sum(counts.get((c, q), 0) for q in classes)
            body.append([c, str(support), cell(tgt), cell(ali), cell(auc)])
        doc.table(["class", "test rows", "F1 target", "F1 aligned", "AUROC aligned"], body)
        doc.p(
            f"Confusion matrix of the headline map ({h['method']}, {h['scaling']}, "
            f"{h['anchors']} anchors, first seed): rows are the true class, columns the "
            "predicted one (`results/stitch_confusion.csv`)."
        )
        doc.table(
            ["true / predicted", *classes],
            [[t, *(str(counts.get((t, q), 0)) for q in classes)] for t in classes],
        )


def section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    space: list[dict[str, Any]],
    pca: list[dict[str, Any]],
    confusion: list[dict[str, Any]] | None = None,
    means: list[dict[str, Any]] | None = None,
) -> None:
    """Heading, the data and classes, the modes, the floor, the curves, the headline table,
    per-class F1 and the confusion matrix of the headline map, space similarity, the PCA
    panels, every row, then the raw-space section at several sizes. ``means``: the task's rows
    of ``results/comparisons.csv``, whose seed means and intervals draw the anchor curves."""
    conf = confusion or []
    metrics = _metrics(meta)
    lead = metrics[0]
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
            "**Duplicates.** Items are deduplicated by normalised text (case, punctuation, "
            "whitespace, list numbering and the de-identification token XXXX ignored, so "
            '"Normal chest" is "1. Normal chest."'
            + (
                f"; {dd['merged_near_duplicates']} texts that differ only so were merged"
                if "merged_near_duplicates" in dd
                else ""
            )
            + f"): {dd['records']} single-class records hold {dd['distinct']} distinct texts; "
            f"{dd['dropped_duplicates']} repeated copies were dropped, and "
            f"{dd['dropped_conflicts']} records whose text recurs under another class were "
            f"left out{_conflicts(dd)}. The {meta.get('n_items')} items used are "
            f"{meta.get('distinct_texts')} distinct texts, and no test text equals a training "
            "text."
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
        "**Modes.** *majority*: always the most frequent class of the training rows, no encoder "
        "(the floor). *end-to-end*: a head trained on the source encoder's own training rows (the "
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
    maps = what_maps_are(meta.get("methods", []), meta.get("scalings", []), doc.described)
    if maps:
        doc.p(maps)
    for sentence in rank_na(r for r in rows if r["mode"] == "aligned"):
        doc.p(sentence)
    for sentence in na_sentences(rows, ROW_KEYS):
        doc.p(sentence)
    _floor_paragraph(doc, meta, rows, conf)
    floor = [r for r in rows if r["mode"] == FLOOR]
    paired = [r for r in rows if r["mode"] != FLOOR]
    per_pair = [
        {**r, "source": a, "target": b} for a, b in meta.get("pairs", []) for r in floor
    ]  # the floor drawn in every pair's panel
    seed_means = [r for r in means or [] if r.get("variant") == "seed-mean"]
    line = (
        "mean over seeds: line, and its 95% interval over seeds and test rows: band "
        "(`results/comparisons.csv`); every seed: dots; relative: first seed and its CI"
        if seed_means
        else "first seed: line and 95% CI band; other seeds: dots"
    )
    doc.figure(
        f"{name}-anchors",
        plots.anchor_curves(paired + per_pair + seed_means, metric=lead),
        f"`{lead}` vs number of anchors per method ({line}); horizontal lines: end-to-end "
        "(dark, dashed), target (dark, dotted), naive (grey, dashed), majority floor (grey, "
        "dash-dot), each named in the legend.",
    )
    ks = [plots.mode_bar_anchors(paired, a, b, lead) for a, b in meta.get("pairs", [])]
    at = sorted({k for k in ks if k is not None})
    doc.figure(
        f"{name}-modes",
        plots.mode_bars(paired, metric=lead),
        f"`{lead}` by mode per encoder pair. Aligned (per method) and relative are compared at "
        "one anchor count, the largest at which both have a first-seed value ("
        + (" / ".join(map(str, at)) or "none")
        + " anchors; named in the title and under each pair); end-to-end, naive and target "
        "use no anchors. Error bars are 95% CIs; `n/a` marks a method with no value at that "
        "count.",
    )
    _headline_table(doc, meta, rows, means or [], metrics)
    _reading(doc, meta, means or [], conf)
    app = doc.appendix
    app.h(f"Stitching: {name}")
    _per_class(app, meta, rows, conf)
    sizes = [r for r in space if r["mode"] == space_part.SAMPLE_SIZE]
    space = [r for r in space if r["mode"] != space_part.SAMPLE_SIZE]
    if space:
        space_part.before_after(doc, name, space)
    if pca:
        doc.figure(
            f"{name}-pca",
            plots.pca_panels(pca),
            "2-D PCA of held-out test rows (up to 200, spread evenly over the test split), "
            "for the map fitted on the most anchors, first seed. Left: the source's test "
            "embeddings in the PCA basis fitted on the source's training rows. Right: the "
            "target's test embeddings (o) and the same items' source embeddings mapped by T "
            "(x), both in the basis fitted on the target's training rows. Colours are "
            "classes; grey segments join the first 40 mapped points to their own target "
            "embeddings.",
        )
    app.h(f"Every row: {name}", 3)
    app.p(
        "Every setting of every seed (the rows of `results/stitch.csv`); a setting with no "
        "value at any anchor count or seed is one sentence below the table."
    )
    result_table(app, rows, metrics)
    if sizes:
        space_part.sizes_section(doc, name, meta, sizes)


def _headline_table(
    doc: Doc,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]],
    metrics: tuple[str, ...],
) -> None:
    """Per encoder pair: the floor, end-to-end, target and naive, then every method at the
    headline anchor count and scaling (mean over seeds with its interval over seeds and test
    rows where the comparisons have it), and relative at its largest anchor count."""
    h = meta.get("headline") or {}
    if not h:
        return
    body = []
    relative = [int(r["anchors"]) for r in rows if r["mode"] == "relative" and r["anchors"]]
    rel_k = max((k for k in relative if k <= int(h["anchors"])), default=None)
    for a, b in meta.get("pairs", []):
        settings: list[tuple[str, str, Any, dict[str, Any]]] = [
            (FLOOR, "", "", {"mode": FLOOR}),
            *((m, "", "", {"mode": m, "source": a, "target": b})
              for m in ("end-to-end", "target", "naive")),
            *(("aligned", m, h["anchors"], {"mode": "aligned", "source": a, "target": b,
               "method": m, "scaling": h["scaling"], "anchors": h["anchors"]})
              for m in meta.get("methods", [])),
        ]  # fmt: skip
        if rel_k is not None:
            settings.append(("relative", "cosine", rel_k, {"mode": "relative", "source": a,
                             "target": b, "anchors": rel_k}))  # fmt: skip
        for mode, method, k, match in settings:
            cells = [estimate(means, rows, m, **match) for m in metrics]
            if all(c.startswith("n/a") for c, _ in cells):
                continue
            what = cells[0][1]
            body.append([f"{a} → {b}", mode, method, str(k), what, *(c for c, _ in cells)])
    doc.h(f"Headline table: {h['anchors']} anchors, scaling `{h['scaling']}`", 3)
    doc.p(
        "Each method at the headline anchor count: the mean over the anchor seeds with the 95% "
        "interval that resamples seeds and test rows (`results/comparisons.csv`), or the first "
        "seed with its bootstrap CI over test rows where only one seed is scored (relative: "
        "first seed at its largest anchor count). The settings with no value are the n/a "
        "sentences above; every seed and anchor count is in the appendix."
    )
    doc.table(["pair", "mode", "method", "anchors", "estimate", *metrics], body)


def _reading(
    doc: Doc, meta: dict[str, Any], means: list[dict[str, Any]], conf: list[dict[str, Any]]
) -> None:
    """One paragraph: what the headline comparison shows (paired difference to the target,
    permutation p) and what this task cannot show (test size, the smallest class)."""
    h = meta.get("headline") or {}
    lead = lead_metric(meta)
    shows = []
    for a, b in meta.get("pairs", []):
        at = {"source": a, "target": b, "anchors": h.get("anchors"), "method": h.get("method")}
        diff = comparison_row(means, "paired: aligned - target", lead, **at)
        p = comparison_row(means, "permutations=", f"{lead}:p", **at)
        if diff is None:
            continue
        text = f"`{a}` → `{b}`: aligned minus target {_fmt_row(diff)}"
        if p is not None:
            text += f", shuffled-anchors p = {p['value']:.3f}"
        for r in means:  # the headline map minus every other map on the same rows and seeds
            v = str(r.get("variant", ""))
            if (v.startswith(f"paired: aligned {h.get('method')} - ") and r["metric"] == lead
                    and all(str(r.get(k, "")) == str(w) for k, w in at.items())):  # fmt: skip
                text += f", {v[8:].replace(' - ', ' minus ')} {_fmt_row(r)}"
        shows.append(text)
    support = _smallest_class(conf)
    n_test = meta.get("n_test")
    cannot = (
        f"One test split of {n_test} rows"
        if not meta.get("split_seeds")
        else f"{len(meta['split_seeds'])} test splits of {n_test} rows"
    )
    text = "**What it shows and what it cannot.** "
    if shows:
        text += (
            f"At the headline ({h.get('method')}, {h.get('anchors')} anchors) the borrowed head "
            f"on mapped embeddings against the target's own embeddings, in `{lead}` paired on "
            "test rows and seeds: " + "; ".join(shows) + ". An interval that covers 0 means "
            "these test rows cannot tell the map from the target encoder itself. "
        )
    text += (
        f"{cannot}; the classes' labels come from the dataset's own annotations"
        + (f", and the smallest class has {support[1]} test rows (`{support[0]}`), so its "
           "per-class F1 and the macro averages move by whole steps with one row"
           if support else "")
        + ". The heads are the target encoder's, trained once per pair; a different head "
        "(or more test rows) could rank close methods differently."
    )  # fmt: skip
    doc.p(text)


def _fmt_row(r: dict[str, Any]) -> str:
    return fmt(r["value"], r["ci_low"], r["ci_high"])


def _smallest_class(conf: list[dict[str, Any]]) -> tuple[str, int] | None:
    """The class with the fewest test rows and their count (from the majority floor's
    confusion rows: every test row once), if known."""
    classes, counts = _matrix(conf, mode=FLOOR)
    support = {c: sum(counts.get((c, q), 0) for q in classes) for c in classes}
    return min(support.items(), key=lambda kv: kv[1]) if support else None


def summary(
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Per pair, one line: the lead metric (``headline.metric``) of the headline map (its mean
    over seeds with the interval over seeds and test rows where ``means``, the task's
    ``results/comparisons.csv`` rows, have it; else the first seed) beside the target,
    end-to-end, naive and the majority floor, the paired difference to the target and the
    permutation p; then how the headline and metric were chosen."""
    out = []
    h = meta.get("headline") or {}
    lead = lead_metric(meta)
    comp = means or []
    for a, b in meta.get("pairs", []):

        def at(mode: str, a: str = a, b: str = b) -> str:
            hit = [r for r in rows if r["mode"] == mode and r["source"] == a
                   and r["target"] == b and r["metric"] == lead]  # fmt: skip
            return cell(hit[0]) if hit else "n/a"

        match = {"mode": "aligned", "source": a, "target": b, "method": h.get("method"),
                 "scaling": h.get("scaling"), "anchors": h.get("anchors")}  # fmt: skip
        value, what = estimate(comp, rows, lead, **match)
        line = (
            f"**{name}**, `{a}` → `{b}`, {lead.replace('_', ' ')}: aligned ({h.get('method')}, "
            f"{h.get('scaling')}, {h.get('anchors')} anchors) {value}"
            + (f" ({what})" if what else "")
            + f"; target {at('target')}, end-to-end {at('end-to-end')}, naive {at('naive')}, "
            f"majority floor {cell(_floor(rows, lead))}"
        )
        at_h = {k: v for k, v in match.items() if k != "mode"}
        diff = comparison_row(comp, "paired: aligned - target", lead, **at_h)
        if diff is not None:
            line += f"; aligned − target {_fmt_row(diff)}"
        p = comparison_row(comp, "permutations=", f"{lead}:p", **at_h)
        if p is not None:
            line += f"; shuffled-anchors control p = {p['value']:.3f}"
        out.append(line + ".")
    if out:
        out.append(
            f"{name}: the aligned setting above is {headline_source(meta)}; the metric "
            f"`{lead}` is {_metric_source(meta)}."
        )
    return out


def _metric_source(meta: dict[str, Any]) -> str:
    if (meta.get("headline") or {}).get("metric"):
        return "declared in the recipe's `headline.metric`"
    return "the default for stitching"


def _conflicts(dd: dict[str, Any]) -> str:
    """What dropping texts that recur under another class cost each class."""
    lost = dd.get("conflicts_by_class") or {}
    if not lost:
        return ""
    worst = max(lost, key=lambda c: lost[c])
    return (
        f" ({dd.get('conflict_texts')} texts whose label is ambiguous; records lost per class: "
        + ", ".join(f"{c} {n}" for c, n in lost.items())
        + f"): `{worst}` loses most, its phrasings that also close other classes' reports "
        "leave the task and its remaining items are the less stereotyped ones"
    )
