"""Each step's wall time in results.json and the report's "Where the time went" table."""

from __future__ import annotations

import json


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
    assert "stitch-method" in section
