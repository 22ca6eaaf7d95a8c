"""The report's summary: each task's headline lines, stitching first, then zero-shot, then
retrieval, in the recipe's order of tasks."""

from __future__ import annotations

from typing import Any

from semalign.experiments.report import retrieval, stitching, zeroshot
from semalign.experiments.report.common import of_task
from semalign.experiments.report.document import Doc

__all__ = ["section"]


def section(
    doc: Doc,
    tasks: dict[str, Any],
    stitch_rows: list[dict[str, Any]],
    zs_rows: list[dict[str, Any]],
    ret_rows: list[dict[str, Any]],
    comp_rows: list[dict[str, Any]] | None = None,
) -> None:
    """The summary bullets of every task (``tasks``: ``results.json``'s per-kind task meta),
    each followed by its headline's mean over seeds and permutation p-value (``comp_rows``,
    ``results/comparisons.csv``); no section when no task has a line."""
    lines = []
    comp = comp_rows or []
    for name, m in tasks.get("stitch", {}).items():
        lines += stitching.summary(name, m, of_task(stitch_rows, name), of_task(comp, name))
    for name, m in tasks.get("zeroshot", {}).items():
        lines += zeroshot.summary(name, m, of_task(zs_rows, name), of_task(comp, name))
    for name, m in tasks.get("retrieval", {}).items():
        lines += retrieval.summary(name, m, of_task(ret_rows, name), of_task(comp, name))
    if lines:
        doc.h("Summary")
        doc.bullets(lines)
