"""Each task's statistics across seeds from ``results/comparisons.csv``: the headline setting's
mean over seeds with its hierarchical interval and seed spread, the paired differences at the
headline anchors, and the shuffled-anchors permutation control with its p-value."""

from __future__ import annotations

import math
from typing import Any

from semalign.experiments.report.common import fmt
from semalign.experiments.report.document import Doc

__all__ = ["METRICS", "headline_means", "section"]

METRICS = (
    "balanced_accuracy", "accuracy", "macro_f1", "macro_auroc", "macro_auprc", "recall@1",
    "recall@5", "recall@10", "mrr",
)  # fmt: skip
SHOWN = {
    "stitch": ("balanced_accuracy", "macro_f1", "macro_auroc"),
    "zeroshot": ("macro_auroc", "accuracy"),
    "retrieval": ("recall@1", "mrr"),
}
MODE = {"stitch": "aligned", "zeroshot": "unimodal", "retrieval": "aligned"}


def _at_headline(rows: list[dict[str, Any]], meta: dict[str, Any], kind: str) -> list[Any]:
    h = meta.get("headline") or {}
    scoring = h.get("scoring", "cosine") if kind != "stitch" else ""
    return [
        r
        for r in rows
        if h
        and r["mode"] in (MODE[kind], "shuffled-anchors")
        and (r["method"], r["scaling"], str(r["anchors"])) == (
            h["method"], h["scaling"], str(h["anchors"]))
        and (kind == "stitch" or r["scoring"].split("@")[0] == scoring.split("@")[0])
    ]  # fmt: skip


def _where(r: dict[str, Any], kind: str) -> str:
    """Which encoder pair (and direction) a row is about: ``a->b`` for stitching, the direction
    for retrieval (with the pair where the direction does not name the encoders), "" for
    zero-shot (one pair per task)."""
    if kind == "stitch":
        return f"{r['source']}->{r['target']}"
    if kind == "retrieval":
        named = r["direction"] in (f"{r['source']}->{r['target']}", f"{r['target']}->{r['source']}")
        return r["direction"] if named else f"{r['source']}->{r['target']}, {r['direction']}"
    return ""


def _value(rows: list[dict[str, Any]], metric: str) -> float:
    return next((r["value"] for r in rows if r["metric"] == metric), math.nan)


def headline_means(
    rows: list[dict[str, Any]], meta: dict[str, Any], kind: str
) -> dict[str, list[dict[str, Any]]]:
    """The headline setting's ``seed-mean`` rows by encoder pair and direction (:func:`_where`)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in _at_headline(rows, meta, kind):
        if r["variant"] == "seed-mean" and r["mode"] == MODE[kind]:
            out.setdefault(_where(r, kind), []).append(r)
    return out


def _spread(rows: list[dict[str, Any]], metric: str) -> str:
    lo, hi = _value(rows, f"{metric}:seed-min"), _value(rows, f"{metric}:seed-max")
    sd = _value(rows, f"{metric}:seed-sd")
    if math.isnan(lo):
        return "n/a"
    return f"{lo:.3f}-{hi:.3f}" + ("" if math.isnan(sd) else f" (sd {sd:.3f})")


def section(
    doc: Doc, name: str, meta: dict[str, Any], rows: list[dict[str, Any]], kind: str
) -> None:
    """Tables of the headline's mean over seeds, the paired differences and the control."""
    if not rows:
        return
    shown = [m for m in SHOWN[kind] if any(r["metric"] == m for r in rows)]
    seeds = meta.get("seeds") or []
    doc.h(f"Across seeds, paired differences and the control: {name}", 3)
    doc.p(
        f"Means over the {len(seeds)} anchor seeds; each interval resamples the seeds and the "
        "test rows (every seed scored the same rows, so one row resample serves all of them; "
        "95% percentile, `metrics.intervals`). Paired differences score both settings on the "
        "same resampled rows (and seeds where both use the same anchor draws); McNemar's exact "
        "test compares the first seed's right/wrong answers. The shuffled-anchors control refits "
        "the headline map with its anchor pairing permuted, on the first seed's anchors: its "
        "null distribution (mean and 2.5-97.5 percentiles) and p = (1 + #{null >= observed}) / "
        "(1 + permutations). Every row is in `results/comparisons.csv`."
    )
    head = headline_means(rows, meta, kind)
    body = []
    for direction, means in head.items():
        for m in shown:
            r = next((x for x in means if x["metric"] == m), None)
            if r is not None:
                cells = [fmt(r["value"], r["ci_low"], r["ci_high"]), _spread(means, m)]
                body.append(([direction] if kind != "zeroshot" else []) + [m, *cells])
    if body:
        cols = ["setting"] if kind != "zeroshot" else []
        doc.table([*cols, "metric", "mean over seeds [95% interval]", "seeds: range (sd)"], body)
    paired: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        if r["variant"].startswith("paired: "):
            method = " ".join(x for x in (r["method"], r["scaling"]) if x)
            key = (r["variant"][8:], _where(r, kind), method)
            paired.setdefault(key, {})[r["metric"]] = r
    if paired:
        mcnemar = any("accuracy:mcnemar-p" in v for v in paired.values())
        cols = [*(["setting"] if kind != "zeroshot" else []), "A - B", "A's map", *shown]
        body = []
        for (label, direction, method), by in paired.items():
            cells = [fmt(by[m]["value"], by[m]["ci_low"], by[m]["ci_high"]) if m in by else ""
                     for m in shown]  # fmt: skip
            line = [*([direction] if kind != "zeroshot" else []), label, method, *cells]
            if mcnemar:
                p = by.get("accuracy:mcnemar-p")
                line.append("" if p is None else f"{p['value']:.3g}")
            body.append(line)
        doc.p(f"Paired differences at {(meta.get('headline') or {}).get('anchors')} anchors:")
        doc.table(cols + (["McNemar p (accuracy)"] if mcnemar else []), body)
    control = [r for r in rows if r["variant"].startswith("permutations=")]
    if control:
        body = []
        for direction in dict.fromkeys(_where(r, kind) for r in control):
            mine = [r for r in control if _where(r, kind) == direction]
            for m in shown:
                null = next((r for r in mine if r["metric"] == m), None)
                if null is None:
                    continue
                line = [m, f"{_value(mine, m + ':observed'):.3f}",
                        fmt(null["value"], null["ci_low"], null["ci_high"]),
                        f"{_value(mine, m + ':p'):.3f}"]  # fmt: skip
                body.append(([direction] if kind != "zeroshot" else []) + line)
        p = control[0]["variant"].split("=")[1]
        doc.p(f"Shuffled-anchors control, {p} permutations:")
        cols = ["setting"] if kind != "zeroshot" else []
        doc.table([*cols, "metric", "observed", "null mean [2.5, 97.5]", "p"], body)
