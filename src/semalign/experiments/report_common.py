"""What the report's sections share: number formatting, the task of a row, the headline row
and how it was chosen, and a cell with the reason of an n/a row. Read by ``report`` and
``report_retrieval``, which import this module and not each other."""

from __future__ import annotations

import math
from typing import Any

from semalign.experiments.plots import _first_seed, scoring_of

__all__ = ["cell", "fmt", "headline_row", "headline_source", "task_of"]


def fmt(value: float, low: float = math.nan, high: float = math.nan) -> str:
    """``0.812 [0.701, 0.905]``; ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.3f}" + ("" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]")


def task_of(row: dict[str, Any]) -> str:
    return str(row["setting"]).split(";")[0]


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
