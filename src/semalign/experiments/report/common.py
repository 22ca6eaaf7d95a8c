"""What the report's sections share: reading a results CSV, number formatting, the task of a
row, the headline row and how it was chosen, a cell with the reason of an n/a row, and the
tables of metric cells grouped by setting."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from semalign.experiments.plots import _first_seed, scoring_of
from semalign.experiments.report.document import Doc

__all__ = [
    "HEADLINE",
    "ROW_KEYS",
    "cell",
    "comparison_row",
    "estimate",
    "first_split",
    "fmt",
    "group",
    "headline_row",
    "headline_source",
    "metric_cells",
    "na_sentences",
    "of_task",
    "read_rows",
    "result_table",
    "row_keys",
    "task_of",
]

HEADLINE = ("accuracy", "macro_f1", "macro_auroc")
ROW_KEYS = ("source", "target", "mode", "method", "scaling", "anchors", "seed")


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
    """The task a result row belongs to: its ``setting`` up to the first ``;``."""
    return str(row["setting"]).split(";")[0]


def of_task(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The rows of task ``name``."""
    return [r for r in rows if task_of(r) == name]


def headline_source(meta: dict[str, Any]) -> str:
    """How the summary's setting was chosen: declared in the recipe, or the recipe's default."""
    h = meta.get("headline") or {}
    if h.get("declared"):
        return "declared in the recipe's `headline`"
    asked = meta.get("headline_asked_anchors")
    if asked is not None:
        return (
            "the recipe's default headline: its first method and scaling at the largest anchor "
            f"count the data can fill (the recipe lists up to {asked})"
        )
    return "the recipe's default headline: its first method and scaling at its largest anchor count"


def headline_row(
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    metric: str,
    mode: str,
    scoring: str | None = "cosine",
    **match: str,
) -> dict[str, Any] | None:
    """The first-seed row of ``metric`` at the task's headline (method, scaling, anchors) under
    ``scoring`` (``cosine``, ``csls``; None: rows of any scoring, already chosen by the caller):
    fixed by the recipe before any result, never picked on the test rows."""
    h = meta.get("headline")
    if not h:
        return None
    cand = [
        r
        for r in rows
        if r["mode"] == mode
        and r["metric"] == metric
        and r["method"] == h["method"]
        and r["scaling"] == h["scaling"]
        and str(r["anchors"]) == str(h["anchors"])
        and (scoring is None or scoring_of(r) == scoring)
        and all(r.get(k) == v for k, v in match.items())
    ]
    first = _first_seed(cand)
    return next((r for r in cand if r["seed"] == first), None)


def cell(row: dict[str, Any] | None) -> str:
    """``value [low, high]`` of a row, with the reason where the setting was skipped."""
    if row is None:
        return "n/a"
    note = str(row.get("note") or "").partition("skipped: ")[2]
    value = fmt(row["value"], row["ci_low"], row["ci_high"])
    return f"{value} ({note})" if note and value == "n/a" else value


def metric_cells(rows: list[dict[str, Any]], metrics: Iterable[str]) -> list[str]:
    """``value [low, high]`` of each metric in ``rows`` (one setting), empty where missing."""
    by = {r["metric"]: r for r in rows}
    cells = []
    for m in metrics:
        r = by.get(m)
        cells.append("" if r is None else fmt(r["value"], r["ci_low"], r["ci_high"]))
    return cells


def group(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], list[Any]]:
    """Rows grouped by their values of ``keys``, groups in order of first appearance."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _is_na(rows: list[dict[str, Any]]) -> bool:
    return all(math.isnan(r["value"]) for r in rows)


def na_sentences(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[str]:
    """One sentence per kind of setting (``keys`` without anchors and seed) that has rows with
    no value at all: at which anchor counts and seeds, and why (each row's ``skipped:``
    reason); settings with the same reasons share one sentence, their differing keys listed."""
    setting = tuple(k for k in keys if k not in ("anchors", "seed"))
    by_reason: dict[str, list[tuple[Any, ...]]] = {}
    for key, g in group(rows, setting).items():
        cells = group(g, ("anchors", "seed"))
        empty = {k: v for k, v in cells.items() if _is_na(v)}
        if not empty:
            continue
        reasons: dict[str, list[str]] = {}
        for (anchors, _), v in empty.items():
            why = str(v[0].get("note") or "").partition("skipped: ")[2] or "no value"
            counts = reasons.setdefault(why, [])
            if str(anchors) not in counts:
                counts.append(str(anchors))
        scope = "every" if len(empty) == len(cells) else f"{len(empty)} of {len(cells)}"
        tail = f"({scope} anchor count and seed): " + "; ".join(
            f"{why} (at {', '.join(a or 'any' for a in at)} anchors)" for why, at in reasons.items()
        )
        by_reason.setdefault(tail, []).append(key)
    out = []
    for tail, settings in by_reason.items():
        named = []
        for i, k in enumerate(setting):
            values = [v for v in dict.fromkeys(s[i] for s in settings) if v != ""]
            if values:
                named.append(f"{k} " + " / ".join(f"`{v}`" for v in values))
        out.append(f"n/a for {', '.join(named)} {tail}.")
    return out


def estimate(
    means: list[dict[str, Any]], rows: list[dict[str, Any]], metric: str, **match: Any
) -> tuple[str, str]:
    """The cell of ``metric`` for the setting ``match``: its mean over seeds with the interval
    over seeds and test rows (a ``seed-mean`` row of ``means``), else the first seed's row of
    ``rows`` with its CI; and which of the two it is (``mean over seeds (sd x)``, ``seed s``, or
    ``single run`` for a setting with no seed)."""

    def hit(r: dict[str, Any], m: str = metric) -> bool:
        return r["metric"] == m and all(str(r.get(k, "")) == str(v) for k, v in match.items())

    means = [r for r in means if r.get("variant") == "seed-mean"]
    mean = next((r for r in means if hit(r) and not r.get("split")), None)
    if mean is None:  # per-split seed means only (retrieval with split_seeds): the first split
        mean = next((r for r in means if hit(r)), None)
    if mean is not None and not math.isnan(mean["value"]):
        sd = next((r["value"] for r in means if hit(r, f"{metric}:seed-sd")
                   and r.get("split", "") == mean.get("split", "")), math.nan)  # fmt: skip
        over = "splits and seeds" if "over split seeds" in str(mean.get("note")) else "seeds"
        if mean.get("split"):
            over += f" of split {mean['split']}"
        what = f"mean over {over}" + ("" if math.isnan(sd) else f", sd {sd:.3f}")
        return fmt(mean["value"], mean["ci_low"], mean["ci_high"]), what
    cand = first_split([r for r in rows if hit(r)])
    first = _first_seed(cand)
    row = next((r for r in cand if first is None or r["seed"] == first), None)
    if row is None:
        return cell(row), ""
    return cell(row), ("single run" if row["seed"] == "" else f"seed {row['seed']}")


def comparison_row(
    means: list[dict[str, Any]], variant: str, metric: str, **match: Any
) -> dict[str, Any] | None:
    """The first ``results/comparisons.csv`` row whose ``variant`` starts with ``variant``
    (``paired: aligned - target``, ``permutations=``), of ``metric``, at ``match``."""
    return next(
        (
            r
            for r in means
            if str(r.get("variant", "")).startswith(variant)
            and r["metric"] == metric
            and all(str(r.get(k, "")) == str(v) for k, v in match.items())
        ),
        None,
    )


def first_split(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the first test split among ``rows`` (file order, the recipe's
    ``split_seeds`` order), and every row of a run with one split (no ``split`` values)."""
    first = next((r.get("split") for r in rows if r.get("split")), None)
    return rows if first is None else [r for r in rows if r.get("split") in (first, "", None)]


def row_keys(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """:data:`ROW_KEYS`, and ``split`` where the rows come from several test splits."""
    return (*ROW_KEYS, "split") if any(r.get("split") for r in rows) else ROW_KEYS


def result_table(doc: Doc, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> None:
    """One line per setting (:func:`row_keys`), one column per metric; settings with no value
    at all are left out of the table and said in one sentence each (:func:`na_sentences`)."""
    keys = row_keys(rows)
    groups = group(rows, keys)
    body = [list(k) + metric_cells(g, metrics) for k, g in groups.items() if not _is_na(g)]
    doc.table(list(keys) + list(metrics), body)
    for sentence in na_sentences(rows, keys):
        doc.p(sentence)
