"""Each step's wall time in results.json and the report's "Where the time went" tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from semalign.experiments.report.document import Doc
from semalign.experiments.report.timing import section


def _tables(markdown: str) -> list[list[list[str]]]:
    """The body rows of each markdown table (cells stripped), in order."""
    tables: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for line in markdown.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if rows is None:
                rows = []  # the header
            else:
                rows.append(cells)
        elif not line.startswith("|---") and rows is not None:
            tables.append(rows)
            rows = None
    if rows is not None:
        tables.append(rows)
    return tables


def test_timings_are_recorded_and_reported(small_run) -> None:
    meta = json.loads((small_run.out / "results.json").read_text(encoding="utf-8"))
    timings = meta["timings"]
    assert timings["seconds"] > 0 and timings["report_seconds"] >= 0
    tasks = {t["task"] for t in timings["tasks"]}
    assert {"stitch", "zeroshot", "retrieval"} == {t.split()[0] for t in tasks}
    steps = timings["steps"]
    kinds = {s["step"] for s in steps}
    assert any(k.startswith("embed ") for k in kinds) and "stitch-method" in kinds
    assert all(s["task"] in tasks and s["seconds"] >= 0 for s in steps)
    here = [s for s in steps if not s.get("worker")]
    # the run's own steps and its wait for the workers fit in its wall time
    assert sum(s["seconds"] for s in here) + timings["waiting"] <= timings["seconds"]
    report = (small_run.out / "report.md").read_text(encoding="utf-8")
    part = report.split("## Where the time went", 1)[1]
    assert "| task | step | seconds | share | computed / steps |" in part
    tables = _tables(part)
    # the first table is the run's wall time, the largest steps by name, the rest as one line
    shown = tables[0]
    seconds = [float(c[2]) for c in shown]
    assert sum(seconds) == pytest.approx(timings["seconds"], abs=0.01 * len(seconds))
    named = [s for s, c in zip(seconds, shown, strict=True) if "smaller steps" not in c[1]]
    assert named == sorted(named, reverse=True)
    assert any(c[1].startswith("embed ") for c in shown)
    away = [s for s in steps if s.get("worker")]
    if away:  # units computed in workers: their own times in a second table
        assert len(tables) == 2 and timings["jobs"] > 1
        busy = [float(c[2]) for c in tables[1]]
        assert sum(busy) == pytest.approx(sum(s["seconds"] for s in away), abs=0.01 * len(busy))
    else:
        assert len(tables) == 1


def _steps(rows: list[tuple[str, str, float, bool]]) -> list[dict[str, Any]]:
    return [{"task": t, "step": k, "detail": "", "seconds": s, "computed": True,
             **({"worker": True} if w else {})} for t, k, s, w in rows]  # fmt: skip


def test_worker_steps_are_kept_apart_from_the_wall_time() -> None:
    # planted: a 10 s run; 2 s embedding and 1 s else in the task, 6 s waiting, 1 s outside;
    # the workers computed 5 s + 4 s + 3 s of units meanwhile
    timings = {
        "seconds": 10.0, "jobs": 2, "waiting": 6.0,
        "tasks": [{"task": "stitch s", "seconds": 3.0}],
        "steps": _steps([
            ("stitch s", "embed a", 2.0, False),
            ("stitch s", "stitch-method", 5.0, True),
            ("stitch s", "stitch-method", 4.0, True),
            ("stitch s", "stitch-baseline", 3.0, True),
        ]),
    }  # fmt: skip
    doc = Doc()
    section(doc, timings)
    wall, units = _tables(doc.markdown())
    assert {(c[1], c[2]) for c in wall} == {
        ("waiting for the 2 unit workers", "6.00"),
        ("embed a", "2.00"),
        ("other (records, splits, anchors)", "1.00"),
        ("pre-flight, result files", "1.00"),
    }
    assert [(c[1], c[2], c[3], c[4]) for c in units] == [
        ("stitch-method", "9.00", "75%", "2 / 2"),
        ("stitch-baseline", "3.00", "25%", "1 / 1"),
    ]


def test_a_run_without_workers_has_one_table() -> None:
    timings = {
        "seconds": 4.0,
        "tasks": [{"task": "stitch s", "seconds": 3.5}],
        "steps": _steps(
            [("stitch s", "embed a", 1.0, False), ("stitch s", "stitch-method", 2.0, False)]
        ),
    }
    doc = Doc()
    section(doc, timings)
    (wall,) = _tables(doc.markdown())
    assert {(c[1], c[2]) for c in wall} == {
        ("stitch-method", "2.00"), ("embed a", "1.00"),
        ("other (records, splits, anchors)", "0.50"), ("pre-flight, result files", "0.50"),
    }  # fmt: skip
