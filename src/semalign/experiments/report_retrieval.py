"""The report's retrieval section and summary lines, from ``results/retrieval.csv`` rows only."""

from __future__ import annotations

from typing import Any

from semalign.experiments import plots

COLUMNS = ("source", "target", "direction", "mode", "method", "scaling", "anchors", "seed")


def metrics_of(rows: list[dict[str, Any]]) -> list[str]:
    """recall@k columns in increasing k, then MRR."""
    names = {r["metric"] for r in rows}
    ks = sorted(int(m.split("@")[1]) for m in names if m.startswith("recall@"))
    return [f"recall@{k}" for k in ks] + (["mrr"] if "mrr" in names else [])


def _first_seed_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = plots._first_seed(rows)
    return [r for r in rows if r["mode"] != "aligned" or r["seed"] == first]


def table_rows(rows: list[dict[str, Any]], metrics: list[str]) -> list[list[str]]:
    """One line per (pair, direction, mode, method, scaling, anchors, seed): control first."""
    from semalign.experiments.report import fmt

    groups: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
    for r in rows:
        key = (r["source"], r["target"], plots._direction(r), r["mode"], r["method"],
               r["scaling"], r["anchors"], r["seed"])  # fmt: skip
        groups.setdefault(key, {})[r["metric"]] = r

    seen = list(dict.fromkeys(k[:3] for k in groups))  # pairs and directions as in the file

    def order(k: tuple[str, ...]) -> tuple[Any, ...]:
        return (seen.index(k[:3]), k[3] != "naive", k[4], k[5], int(k[6] or 0), int(k[7] or 0))

    body = []
    for group in sorted(groups, key=order):
        by = groups[group]
        cells = [
            fmt(by[m]["value"], by[m]["ci_low"], by[m]["ci_high"]) if m in by else "n/a"
            for m in metrics
        ]
        body.append([*group, *cells])
    return body


def section(doc: Any, name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Heading, what is retrieved, the Recall@k plot and the first-seed table."""
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
            "report embedded by `b` among all test reports; `b->a` is the reverse, both ranked "
            "by cosine in `b`'s space. This is a sanity check of the map (does T put a report "
            "next to itself?), **not clinical image→report retrieval**, which needs paired images "
            "and reports such as MIMIC-CXR (the paper recipe has that task)."
        )
    else:
        doc.p(
            f"**What is retrieved.** Image→report: a study's frontal image, embedded by the "
            f"image encoder and mapped by T into the text encoder's space ({encoders}), looks "
            f"for its own `{meta.get('section')}` report among the {n_test} test reports; "
            f"report→image is the reverse. T is fitted on anchor pairs from the other {n_train}"
            " studies only."
        )
    chance = f" (chance Recall@1 = 1/{n_test} = {1 / n_test:.3f})" if n_test else ""
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
        "queries whose own key ranks in the top k (ties in the query's favour); MRR: mean "
        f"reciprocal rank{chance}. 95% percentile-bootstrap CIs over queries. `n/a`: a method "
        "not determined by so few anchors (affine needs d + 1) or more anchors than training rows."
    )
    metrics = metrics_of(rows)
    doc.figure(
        f"{name}-recall",
        plots.retrieval_curves(rows, [m for m in metrics if m.startswith("recall@")]),
        "Recall@k vs number of anchors (first seed: line and 95% CI band; other seeds: dots); "
        "colours are k, line styles methods; dotted: the unaligned control.",
    )
    doc.h("Results (first seed)", 3)
    doc.p(f"Every seed is in `results/retrieval.csv` (seeds {meta.get('seeds')}).")
    doc.table([*COLUMNS, *metrics], table_rows(_first_seed_rows(rows), metrics))


def summary(name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Per pair and direction: Recall@1 of the control and of the recipe's headline map."""
    from semalign.experiments.report import cell, headline_row, headline_source

    out = []
    first = _first_seed_rows(rows)
    h = meta.get("headline") or {}
    for r0 in (r for r in first if r["mode"] == "naive" and r["metric"] == "recall@1"):
        a, b, d = r0["source"], r0["target"], plots._direction(r0)
        same = [r for r in rows if plots._direction(r) == d]
        row = headline_row(same, meta, "recall@1", "aligned", source=a, target=b)
        out.append(
            f"{name}, {d} (map `{a}` → `{b}`) Recall@1: unaligned {cell(r0)}, aligned "
            f"({h.get('method')}, {h.get('anchors')} anchors) {cell(row)} (n = {r0['n']} "
            "queries)."
        )
    if out:
        out.append(f"{name}: the aligned setting above is {headline_source(meta)}.")
    return out
