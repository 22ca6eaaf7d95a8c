"""The report's retrieval section and summary lines, from ``results/retrieval.csv`` rows only."""

from __future__ import annotations

import math
from typing import Any

from semalign.experiments import plots
from semalign.experiments.report.common import (
    cell,
    comparison_row,
    estimate,
    fmt,
    headline_source,
    na_sentences,
)
from semalign.experiments.report.document import Doc
from semalign.experiments.report.maps import rank_na, what_maps_are

__all__ = ["section", "summary"]


COLUMNS = (
    "source", "target", "direction", "mode", "method", "scaling", "scoring", "refinement",
    "anchors", "seed",
)  # fmt: skip
MODES = ("naive", "aligned", "refined", "asif")


def scoring_of(row: dict[str, Any]) -> str:
    """``cosine`` or ``csls@k``: how a retrieval row ranked its keys (its ``scoring`` column)."""
    return str(row.get("scoring") or "cosine")


def refinement_of(row: dict[str, Any]) -> str:
    """``none``, or what the refinement on unpaired pools did for this row's map (mode
    ``refined``; its ``variant`` column)."""
    if row.get("mode") != "refined":
        return "none"
    f = dict(w.split("=", 1) for w in str(row.get("variant") or "").split() if "=" in w)
    if not {"refits", "pseudo", "pools"} <= f.keys():
        return "refined"
    return f"{f['refits']} refits, {f['pseudo']} pseudo-pairs, pools {f['pools']}"


def metrics_of(rows: list[dict[str, Any]]) -> list[str]:
    """The table's columns: the smallest-k recall and MRR first (the figures that still
    separate methods when a large k saturates), then the other recall@k in increasing k."""
    names = {r["metric"] for r in rows}
    ks = sorted(int(m.split("@")[1]) for m in names if m.startswith("recall@"))
    recalls = [f"recall@{k}" for k in ks]
    return recalls[:1] + (["mrr"] if "mrr" in names else []) + recalls[1:]


def _first_seed_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = plots._first_seed(rows)
    return [r for r in rows if r["seed"] in ("", first)]


def table_rows(rows: list[dict[str, Any]], metrics: list[str]) -> list[list[str]]:
    """One line per (pair, direction, mode, method, scaling, scoring, refinement, anchors,
    seed): control first, then T, refined T and ASIF."""
    groups: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
    splits = any(r.get("split") for r in rows)
    for r in rows:
        key = (r["source"], r["target"], plots._direction(r), r["mode"], r["method"],
               r["scaling"], scoring_of(r), refinement_of(r), r["anchors"], r["seed"],
               *([str(r.get("split", ""))] if splits else []))  # fmt: skip
        groups.setdefault(key, {})[r["metric"]] = r

    seen = list(dict.fromkeys(k[:3] for k in groups))  # pairs and directions as in the file

    def order(k: tuple[str, ...]) -> tuple[Any, ...]:
        mode = MODES.index(k[3]) if k[3] in MODES else len(MODES)
        return (seen.index(k[:3]), mode, k[4], k[5], k[6] != "cosine", k[6], int(k[8] or 0),
                int(k[9] or 0))  # fmt: skip

    body = []
    for group in sorted(groups, key=order):
        by = groups[group]
        if all(math.isnan(r["value"]) for r in by.values()):
            continue  # said in one sentence (common.na_sentences)
        cells = [
            fmt(by[m]["value"], by[m]["ci_low"], by[m]["ci_high"]) if m in by else "n/a"
            for m in metrics
        ]
        body.append([*group, *cells])
    return body


def section(
    doc: Doc,
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]] | None = None,
) -> None:
    """Heading, what is retrieved, the Recall@k plot and the first-seed table; ``means``: the
    task's rows of ``results/comparisons.csv``, whose seed means and intervals draw the
    anchor-efficiency figure."""
    doc.h(f"Retrieval: {name}")
    n_test, n_train = meta.get("n_test"), meta.get("n_train")
    encoders = ", ".join(f"`{k}` = {v}" for k, v in meta.get("encoders", {}).items())
    if meta.get("kind") == "report-report":
        source = f"the test rows of stitch task `{meta['items_from']}`" if meta.get(
            "items_from") else f"dataset `{meta.get('dataset')}`"  # fmt: skip
        doc.p(
            f"**What is retrieved.** The same report seen by two text encoders ({encoders}): "
            f"the `{meta.get('section')}` sections of {source}, {n_test} test reports; the map "
            f"T is fitted on anchors drawn from the other {n_train} reports only. In direction "
            "`a->b` (map `a` → `b`) a report embedded by `a` and mapped by T looks for the same "
            f"report embedded by `b` {gallery_phrase(meta)}; `b->a` is the reverse, both ranked "
            "by cosine in `b`'s space. This is a sanity check of the map (does T put a report "
            "next to itself?), **not clinical image→report retrieval**, which needs paired images "
            "and reports such as MIMIC-CXR (the paper recipe has that task)."
        )
    else:
        doc.p(
            f"**What is retrieved.** Image→report: a study's frontal image, embedded by the "
            f"image encoder and mapped by T into the text encoder's space ({encoders}), looks "
            f"for its own `{meta.get('section')}` report {gallery_phrase(meta)}; "
            f"report→image is the reverse. T is fitted on anchor pairs from the other {n_train}"
            " studies only."
        )
    size = (meta.get("gallery") or {}).get("size") or n_test
    chance = f" (chance Recall@1 = 1/{size} = {1 / size:.3f})" if size else ""
    dd, shared = meta.get("dedup_counts"), meta.get("dropped_shared_train")
    if dd and not meta.get("items_from"):
        doc.p(
            f"Rows deduplicated by normalised text: {dd['records']} rows hold {dd['distinct']} "
            "distinct texts."
        )
    if shared:
        doc.p(f"{shared} training rows were left out because their text is also a test row's.")
    distinct = meta.get("distinct_test_texts")
    if distinct is not None:
        doc.p(
            f"The {n_test} test reports hold {distinct} distinct normalised texts"
            + (
                " (each is unique, so no query has a duplicate of its key in the gallery)."
                if distinct == n_test
                else "; a duplicate of a query's key elsewhere in the gallery is a tie."
            )
        )
    doc.p(
        "*naive* is the unaligned control: source embeddings zero-padded or truncated to the "
        "target's width, no map. *aligned*: T fitted on k anchors. Recall@k: fraction of "
        "queries whose own key ranks in the top k (a tie counts as its expectation over a "
        f"random order of the tied keys); MRR: mean reciprocal rank{chance}. 95% "
        "percentile-bootstrap CIs over queries. `n/a`: a map the anchors do not determine "
        "(too few anchors, e.g. affine below d + 1, or anchors whose numerical rank is below "
        "d; each row's reason is in its `note`), or more anchors than training rows."
    )
    maps = what_maps_are(meta.get("methods", []), meta.get("scalings", []), doc.described)
    if maps:
        doc.p(maps)
    for sentence in rank_na(r for r in rows if r["mode"] == "aligned"):
        doc.p(sentence)
    keyed = [{**r, "scoring": scoring_of(r)} for r in rows]
    for sentence in na_sentences(keyed, ("direction", "mode", "method", "scaling", "scoring",
                                          "anchors", "seed")):  # fmt: skip
        doc.p(sentence)
    _briefly(doc, meta)
    _refined_kept(doc, rows)
    h = meta.get("headline") or {}
    scoring = _headline_scoring(meta)
    metrics = metrics_of(rows)
    plain = [r for r in rows if r["mode"] in ("naive", "aligned") and scoring_of(r) == scoring]
    doc.figure(
        f"{name}-recall",
        plots.retrieval_curves(plain, [m for m in metrics if m.startswith("recall@")]),
        f"Recall@k vs number of anchors, T ranked by {scoring} (first seed: line and 95% CI "
        "band; other seeds: dots); colours are k, line styles methods; dotted: the unaligned "
        "control.",
    )
    if len(_variants(meta)) > 1:
        doc.figure(
            f"{name}-anchor-efficiency",
            plots.anchor_efficiency(_efficiency_panels(rows, meta, means or [])),
            f"Anchor efficiency: Recall@1 vs number of anchors for T ({h.get('method')}, "
            f"{h.get('scaling')}) under each scoring, with and without refinement on the "
            "unpaired pools, and ASIF on the same anchors; each line is the mean over seeds "
            f"{meta.get('seeds')}, its band the 95% interval that resamples seeds and test "
            "queries (`results/comparisons.csv`; refined lines have no band); dotted: the "
            "unaligned control.",
        )
    _headline_table(doc, meta, rows, means or [], metrics)
    _reading(doc, meta, means or [])
    app = doc.appendix
    app.h(f"Retrieval: {name}")
    _beyond(app, meta)
    app.h(f"Every row: {name}", 3)
    app.p(
        f"Every seed (seeds {meta.get('seeds')}), as in `results/retrieval.csv`; settings with "
        "no value at all are the n/a sentences of the main section."
    )
    split = ["split"] if any(r.get("split") for r in rows) else []
    app.table([*COLUMNS, *split, *metrics], table_rows(rows, metrics))


def _headline_table(
    doc: Doc,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]],
    metrics: list[str],
) -> None:
    """At the headline anchor count, one line per setting (the control, T of every method and
    scoring, the headline method refined, ASIF), Recall@1 and MRR per direction: the mean over
    seeds with its interval over seeds and queries where the comparisons have it, else the
    first seed."""
    h = meta.get("headline") or {}
    if not h:
        return
    keyed = [{**r, "scoring": scoring_of(r)} for r in rows]
    lead = metrics[:2]  # recall@smallest k and MRR; larger k saturate (appendix)
    directions = list(dict.fromkeys((r["source"], r["target"], plots._direction(r))
                                    for r in keyed if r["mode"] in MODES))  # fmt: skip
    settings = dict.fromkeys(
        (r["mode"], r["method"], r["scaling"], r["scoring"])
        for r in keyed if r["mode"] in MODES
        and (r["mode"] == "naive" or str(r["anchors"]) == str(h["anchors"]))
        and (r["mode"] != "refined" or r["method"] == h["method"])
    )  # fmt: skip
    body = []
    for mode, method, scaling, sc in sorted(
        settings, key=lambda k: (MODES.index(k[0]), k[1] != h["method"], k[1], k[3] != "cosine")
    ):
        cells = []
        for a, b, d in directions:
            match = {"source": a, "target": b, "direction": d, "mode": mode, "method": method,
                     "scaling": scaling, "scoring": sc}  # fmt: skip
            if mode != "naive":
                match["anchors"] = h["anchors"]
            cells += [estimate(means, keyed, m, **match) for m in lead]
        if all(c.startswith("n/a") for c, _ in cells):
            continue
        seeds = {w for _, w in cells if w}
        what = "mean over seeds" if all(w.startswith("mean") for w in seeds) and seeds else (
            ", ".join(sorted(seeds)))  # fmt: skip
        body.append([mode, method, sc, what, *(c for c, _ in cells)])
    doc.h(f"Headline table: {h['anchors']} anchors", 3)
    doc.p(
        "Each setting at the headline anchor count, Recall@1 and MRR per direction: the mean "
        "over the anchor seeds with the 95% interval that resamples seeds and queries "
        "(`results/comparisons.csv`), or the first seed with its bootstrap CI over queries where "
        "only one seed is summarised (*estimate*). Recall@5 and @10, every seed and anchor count "
        "are in the appendix."
    )
    doc.table(
        ["mode", "method", "scoring", "estimate",
         *(f"{m} {_dir_label(a, b, d)}" for a, b, d in directions for m in lead)],
        body,
    )  # fmt: skip


def _reading(doc: Doc, meta: dict[str, Any], means: list[dict[str, Any]]) -> None:
    """What the paired differences at the headline show, and what this task cannot."""
    diffs: dict[str, list[str]] = {}
    for r in means:
        v = str(r.get("variant", ""))
        if v.startswith("paired: ") and r["metric"] == "recall@1":
            label = v[8:].replace("aligned (cosine) - ", "T (cosine) − ").replace(" - ", " − ")
            where = _dir_label(str(r["source"]), str(r["target"]), str(r["direction"]))
            diffs.setdefault(where, []).append(
                f"{label} {fmt(r['value'], r['ci_low'], r['ci_high'])}"
            )
    text = "**What it shows and what it cannot.** "
    if diffs:
        text += (
            "Recall@1 differences paired on queries (and seeds where both share the anchor "
            "draws): " + "; ".join(f"{d}: " + ", ".join(v) for d, v in diffs.items()) + ". "
        )
    size = (meta.get("gallery") or {}).get("size") or meta.get("n_test")
    text += (
        f"Each query has one right key among {size}; with {meta.get('n_test')} queries one "
        f"query moves Recall@1 by {100 / max(int(meta.get('n_test') or 1), 1):.1f} points."
    )
    if meta.get("kind") == "report-report":
        text += (
            " Both sides are the same report text, so this measures whether T puts a report "
            "next to itself, an easier task than finding an image's report."
        )
    doc.p(text)


def _dir_label(source: str, target: str, direction: str) -> str:
    """A direction as shown: ``a->b`` where it names the encoders, else prefixed with the pair
    (``rad-dino→cxr-bert image->report``), so two pairs' directions stay apart."""
    if direction in (f"{source}->{target}", f"{target}->{source}"):
        return direction
    return f"{source}→{target} {direction}"


def _briefly(doc: Doc, meta: dict[str, Any]) -> None:
    """One sentence each on CSLS, the refinement and ASIF, where the task ran them (the full
    descriptions are in the appendix)."""
    parts = []
    if "csls" in meta.get("scorings", []):
        parts.append(
            f"*CSLS* (csls@{meta.get('csls_k', 10)}) rescores the same map's cosines to discount "
            "hubs"
        )
    if meta.get("unpaired"):
        parts.append(
            "*refined* refits T on mutual nearest neighbours of two disjoint unpaired pools "
            "(no pool item's partner is in the other pool) and keeps a refit only if it ranks "
            "a held-out quarter of the anchors no worse than the anchor-only map"
        )
    a = meta.get("asif")
    if a:
        parts.append(
            "*ASIF* (no map) runs at the setting chosen on held-out anchors of every draw"
            if a.get("select")
            else f"*ASIF* (no map) runs at top_k {a.get('top_k')}, power {a.get('power')}"
        )
    if parts:
        doc.p("; ".join(parts) + ". Each is described in full in the appendix.")


def gallery_phrase(meta: dict[str, Any]) -> str:
    """Where a query looks: the test rows, or the all-distinct gallery and what it holds."""
    g = meta.get("gallery") or {}
    if g.get("kind") != "all-distinct":
        return f"among the {meta.get('n_test')} test rows"
    return (
        f"among a gallery of {g.get('size')}: the {meta.get('n_test')} test rows and "
        f"{g.get('distractors')} other distinct `{meta.get('section')}` texts of the dataset "
        "(gallery `all-distinct`: no anchor, no pool item, no copy of a task text; never a hit)"
    )


def _headline_scoring(meta: dict[str, Any]) -> str:
    """The scoring label (``cosine`` or ``csls@k``) of the task's headline."""
    h = meta.get("headline") or {}
    return f"csls@{meta.get('csls_k', 10)}" if h.get("scoring") == "csls" else "cosine"


def _variants(meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(line label, mode, scoring label) of every variant the task ran, scorings in the
    recipe's order."""
    k = meta.get("csls_k", 10)
    names = {"cosine": ("cosine", "cosine"), "csls": ("CSLS", f"csls@{k}")}
    scorings = [names[s] for s in meta.get("scorings", ["cosine"])]
    out = [(label, "aligned", s) for label, s in scorings]
    if meta.get("unpaired"):
        out += [(f"refined + {label}", "refined", s) for label, s in scorings]
    if meta.get("asif"):
        out.append(("ASIF", "asif", "cosine"))
    return out


def _efficiency_panels(
    rows: list[dict[str, Any]], meta: dict[str, Any], means: list[dict[str, Any]]
) -> list[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """Per (pair, direction): the headline method's rows of every variant (with their
    ``seed-mean`` rows from ``means``), and the control."""
    h = meta.get("headline") or {}
    panels = []
    seed_means = [r for r in means if r.get("variant") == "seed-mean"]
    for a, b, d in dict.fromkeys((r["source"], r["target"], plots._direction(r)) for r in rows):
        sub = [r for r in rows + seed_means
               if (r["source"], r["target"], plots._direction(r)) == (a, b, d)]  # fmt: skip
        lines = {
            label: [r for r in sub if r["mode"] == mode and scoring_of(r) == s
                    and (mode == "asif" or (r["method"], r["scaling"]) == (h.get("method"),
                                                                          h.get("scaling")))]
            for label, mode, s in _variants(meta)
        }  # fmt: skip
        lines["unaligned"] = [r for r in sub if r["mode"] == "naive"]
        panels.append((f"{d} (map {a} → {b})", lines))
    return panels


def _refined_kept(doc: Doc, rows: list[dict[str, Any]]) -> None:
    """How many (anchor count, seed) cells the held-out anchors kept the seed map in."""
    cells = {(r["anchors"], r["seed"]): r.get("variant", "") for r in rows
             if r["mode"] == "refined" and r.get("variant")}  # fmt: skip
    seed = sorted({int(float(a)) for (a, _), v in cells.items() if "kept=seed" in v})
    if cells:
        where = f" (at {', '.join(map(str, seed))} anchors)" if seed else ""
        doc.p(
            f"Stopping rule: in {sum('kept=seed' in v for v in cells.values())} of {len(cells)} "
            f"(anchor count, seed) cells{where} the refits scored worse than the anchor-only "
            "map on held-out anchors, so the refined rows there are the anchor-only map "
            "(`kept=seed` in `variant`)."
        )


def _beyond(doc: Doc, meta: dict[str, Any]) -> None:
    """What CSLS, the refinement on unpaired pools and ASIF are, where the task ran them."""
    k = meta.get("csls_k", 10)
    if "csls" in meta.get("scorings", []):
        doc.p(
            f"**CSLS** (cross-domain similarity local scaling, Conneau et al. 2018; column "
            f"`scoring` = `csls@{k}`): the score of query q and key y is 2 cos(q, y) minus the "
            f"mean cosine of q to its {k} nearest keys and of y to its {k} nearest queries, "
            "which discounts hubs (keys that are the nearest neighbour of many queries in a "
            "mapped space). The neighbourhoods are taken over the test queries and keys; the "
            "map is the same as under cosine."
        )
    u = meta.get("unpaired")
    if u:
        sizes = u.get("pool_sizes", {})
        shown = ", ".join(f"{a} anchors: {s[0]}/{s[1]}" for a, s in sizes.items())
        bound = u.get("max_pseudo") or "the smaller pool's size"
        doc.p(
            "**Refinement on unpaired pools** (mode `refined`; self-learning as in MUSE and "
            "VecMap): T is fitted on the anchors, then mutual CSLS nearest neighbours "
            f"({u.get('csls_k', k)} neighbours) between the mapped source pool and the target "
            "pool are taken as pseudo-pairs and T is refitted on the anchors plus the "
            f"pseudo-pairs, at most {u.get('iterations')} times, stopping early when the "
            f"pseudo-pairs repeat; at most {bound} pseudo-pairs, and the anchors always stay. "
            "A quarter of the anchors is held out first and the refinement run on the rest: "
            "a refit counts only if it ranks the held-out pairs no worse than the anchor-only "
            "map in both directions, and the best of those is kept (zero refits: the "
            "anchor-only map), because with no partner of a pool item in the other pool the "
            "pseudo-pairs can pull T away from the anchors at few anchors, helping one "
            "direction and hurting the other. "
            "The pools, per anchor count and seed: the training rows not drawn as anchors, "
            "split by a seeded shuffle into two halves, the source encoder seeing only the "
            "first and the target encoder only the second, so no pool item's partner is in the "
            "other pool; **the pools share no row with the test set, the anchors or each other** "
            "(their ids are in `results/retrieval_pools.csv`). Pool sizes (source/target): "
            f"{shown}. Column `refinement`: refits run, pseudo-pairs in the final fit."
        )
    a = meta.get("asif")
    if a and a.get("select"):
        doc.p(
            "**ASIF** (Norelli et al. 2023; mode and method `asif`): no map; each item is "
            "described by its cosines to its own encoder's anchors (the same anchors as T), "
            "keeping the top k raised to a power p, optionally after subtracting each side's "
            "anchor mean, and the two sides are compared by the cosine of these codes. Its "
            f"settings (top_k in {a.get('top_k')}, power in {a.get('power')}, centring in "
            f"{a.get('center')}) are chosen on every draw of anchors without test rows: a "
            "quarter of the anchors is held out, every setting is fitted on the rest, and the "
            "one whose held-out pairs find each other best (mean reciprocal rank) scores the "
            "test rows; each setting's held-out score is a mode `asif-sweep` row, the chosen "
            "one noted `chosen`, and the `variant` of the ASIF rows names the setting used."
        )
    elif a:
        doc.p(
            "**ASIF** (Norelli et al. 2023; mode and method `asif`): no map; each item is "
            "described by its cosines to its own encoder's anchors (the same anchors as T), "
            f"keeping the top {a.get('top_k')} (capped at the anchor count) raised to the power "
            f"{a.get('power'):g}, and the two sides are compared by the cosine of these codes. "
            "Training-free, anchors only, like T."
        )


def summary(
    name: str,
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    means: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Per pair and direction, one line: Recall@1 of the recipe's headline map (under the
    headline scoring; its mean over seeds where ``means``, the task's comparisons rows, have
    it), then the other variants at the headline anchor count, the unaligned control, the
    paired difference to ASIF and the permutation p."""
    out = []
    comp = means or []
    h = meta.get("headline") or {}
    scoring = _headline_scoring(meta)
    keyed = [{**r, "scoring": scoring_of(r)} for r in rows]
    size = (meta.get("gallery") or {}).get("size") or meta.get("n_test")
    for r0 in (r for r in _first_seed_rows(rows) if r["mode"] == "naive"
               and r["metric"] == "recall@1"):  # fmt: skip
        a, b, d = r0["source"], r0["target"], plots._direction(r0)
        at = {"source": a, "target": b, "direction": d, "anchors": h.get("anchors")}

        def est(mode: str, sc: str, at: dict[str, Any] = at) -> str:
            extra = {"method": h.get("method"), "scaling": h.get("scaling")}
            value, how = estimate(comp, keyed, "recall@1", mode=mode, scoring=sc, **at,
                                  **({} if mode == "asif" else extra))  # fmt: skip
            return value + (f" ({how})" if how else "")

        shown = "" if scoring == "cosine" else f", {scoring}"
        line = (
            f"**{name}**, {d} (map `{a}` → `{b}`), Recall@1 among {size} keys: aligned "
            f"({h.get('method')}, {h.get('anchors')} anchors{shown}) {est('aligned', scoring)}"
        )
        for label, mode, s in _variants(meta):
            if (mode, s) != ("aligned", scoring):
                line += f"; {label} {est(mode, s)}"
        line += f"; unaligned {cell(r0)}"
        p = comparison_row(comp, "permutations=", "recall@1:p", source=a, target=b, direction=d)
        if p is not None:
            line += f"; shuffled-anchors control p = {p['value']:.3f}"
        out.append(line + f" (n = {r0['n']} queries).")
    if out:
        out.append(f"{name}: the aligned setting above is {headline_source(meta)}.")
    return out
