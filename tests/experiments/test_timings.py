"""Each step's wall time in results.json and the report's "Where the time went" table."""

from __future__ import annotations

import json

import pytest


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
    assert sum(s["seconds"] for s in steps) <= timings["seconds"]
    report = (small_run.out / "report.md").read_text(encoding="utf-8")
    section = report.split("## Where the time went", 1)[1]
    assert "| task | step | seconds | share | computed / steps |" in section
    # the largest steps by name, the rest as one line; together they are the run's wall time
    shown = [ln.strip("|").split("|") for ln in section.splitlines() if ln.startswith("| ")][1:]
    seconds = [float(c[2]) for c in shown]
    assert sum(seconds) == pytest.approx(timings["seconds"], abs=0.01 * len(seconds))
    named = [s for s, c in zip(seconds, shown, strict=True) if "smaller steps" not in c[1]]
    assert named == sorted(named, reverse=True) and len(named) >= 8
    assert any(c[1].strip().startswith("embed ") for c in shown)
