"""The report's last section, "Where the time went", from ``results.json`` ``timings`` only."""

from __future__ import annotations

from typing import Any

from semalign.experiments.report.document import Doc

__all__ = ["section"]

TOP = 8  # steps always listed; beyond them only those of at least 1% of the run


def section(doc: Doc, timings: dict[str, Any] | None) -> None:
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
    shown = [r for i, r in enumerate(rows) if i < TOP or (total > 0 and r[0] >= total / 100)]
    body = [[task, kind, f"{sec:.2f}", share(sec), n] for sec, task, kind, n in shown]
    rest = rows[len(shown) :]
    if rest:
        sec = sum(r[0] for r in rest)
        body.append(["", f"{len(rest)} smaller steps", f"{sec:.2f}", share(sec), ""])
    doc.table(["task", "step", "seconds", "share", "computed / steps"], body)
