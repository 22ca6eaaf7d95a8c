"""The report's last section, "Where the time went", from ``results.json`` ``timings`` only."""

from __future__ import annotations

from typing import Any

from semalign.experiments.report.document import Doc

__all__ = ["section"]

TOP = 8  # steps always listed; beyond them only those of at least 1% of the run


def section(doc: Doc, timings: dict[str, Any] | None) -> None:
    """Where the time went: the run's steps from ``results.json`` ``timings``, grouped by task
    and step kind, the largest first, with what was reused from the store or the step cache.
    With unit workers (``jobs`` > 1) a second table gives the units' own time in the workers."""
    if not timings:
        return
    total = float(timings.get("seconds", 0.0))
    steps = timings.get("steps", [])
    here = [s for s in steps if not s.get("worker")]
    away = [s for s in steps if s.get("worker")]
    rows = _grouped(here)
    tasks = {t["task"]: float(t["seconds"]) for t in timings.get("tasks", [])}
    for task, seconds in tasks.items():
        inside = sum(r[0] for r in rows if r[1] == task)
        rows.append((max(seconds - inside, 0.0), task, "other (records, splits, anchors)", ""))
    waiting = float(timings.get("waiting", 0.0))
    jobs = int(timings.get("jobs", 1))
    if away:
        rows.append((waiting, "run", f"waiting for the {jobs} unit workers", ""))
    outside = total - sum(tasks.values()) - (waiting if away else 0.0)
    rows.append((max(outside, 0.0), "run", "pre-flight, result files", ""))
    doc.h("Where the time went")
    doc.p(
        f"Wall time of this run's steps up to the results files: {total:.1f} s in all, the "
        "largest first (`results.json` `timings` lists every step; writing this report is "
        "recorded there afterwards as `report_seconds`). *computed* counts the steps that ran "
        "rather than being read back from the store or the step cache."
    )
    _table(doc, rows, total)
    if away:
        busy = sum(float(s["seconds"]) for s in away)
        doc.p(
            f"The units computed after embedding ran in {jobs} worker processes at once "
            f"(`[compute] jobs`, `--jobs`), {busy:.1f} s of their own time in all against the "
            f"run's {waiting:.1f} s wait for them above; each unit's time in its worker:"
        )
        _table(doc, _grouped(away), busy)


def _grouped(steps: list[dict[str, Any]]) -> list[tuple[float, str, str, str]]:
    """(seconds, task, step kind, computed / steps) per task and step kind."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for step in steps:
        groups.setdefault((step["task"], step["step"]), []).append(step)
    rows = []
    for (task, kind), members in groups.items():
        seconds = sum(float(s["seconds"]) for s in members)
        computed = sum(bool(s["computed"]) for s in members)
        rows.append((seconds, task, kind, f"{computed} / {len(members)}"))
    return rows


def _table(doc: Doc, rows: list[tuple[float, str, str, str]], total: float) -> None:
    """The rows, largest first: the first TOP, then those of at least 1% of ``total``."""
    rows = sorted(rows, key=lambda r: -r[0])
    share = (lambda x: f"{100 * x / total:.0f}%") if total > 0 else (lambda x: "")
    shown = [r for i, r in enumerate(rows) if i < TOP or (total > 0 and r[0] >= total / 100)]
    body = [[task, kind, f"{sec:.2f}", share(sec), n] for sec, task, kind, n in shown]
    rest = rows[len(shown) :]
    if rest:
        sec = sum(r[0] for r in rest)
        body.append(["", f"{len(rest)} smaller steps", f"{sec:.2f}", share(sec), ""])
    doc.table(["task", "step", "seconds", "share", "computed / steps"], body)
