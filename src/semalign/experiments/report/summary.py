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
) -> None:
    """The summary bullets of every task (``tasks``: ``results.json``'s per-kind task meta); no
    section when no task has a line."""
    lines = []
    for name, m in tasks.get("stitch", {}).items():
        lines += stitching.summary(name, m, of_task(stitch_rows, name))
    for name, m in tasks.get("zeroshot", {}).items():
        lines += zeroshot.summary(name, m, of_task(zs_rows, name))
    for name, m in tasks.get("retrieval", {}).items():
        lines += retrieval.summary(name, m, of_task(ret_rows, name))
    if lines:
        doc.h("Summary")
        doc.bullets(lines)
