"""headline.metric: the metric a stitching summary leads with, declared in the recipe (checked
against the metrics a stitching cell reports), balanced accuracy when not declared."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semalign.errors import InputError
from semalign.experiments import load_recipe, recipe_path
from semalign.experiments.report import stitching as report_stitching

DECLARED = 'headline = { metric = "balanced_accuracy", method = "orthogonal"'


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


def test_demo_declares_balanced_accuracy_and_the_default_is_none(tmp_path: Path) -> None:
    text = recipe_path("demo").read_text(encoding="utf-8")
    assert text.count(DECLARED) == 1
    (stitch,) = load_recipe(recipe_path("demo")).stitch
    assert stitch.headline is not None and stitch.headline.metric == "balanced_accuracy"
    undeclared = _load(tmp_path, text.replace(DECLARED, 'headline = { method = "orthogonal"'))
    assert undeclared.stitch[0].headline.metric is None
    macro = _load(
        tmp_path, text.replace(DECLARED, DECLARED.replace("balanced_accuracy", "macro_f1"))
    )
    assert macro.stitch[0].headline.metric == "macro_f1"


def test_an_unknown_metric_or_a_metric_outside_stitching_is_refused(tmp_path: Path) -> None:
    text = recipe_path("demo").read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"metric = 'balanced_acc'.*balanced_accuracy"):
        _load(
            tmp_path, text.replace(DECLARED, DECLARED.replace("balanced_accuracy", "balanced_acc"))
        )
    zs = 'headline = { method = "orthogonal", scaling = "standard", anchors = 56 }'
    assert text.count(zs) == 1
    with pytest.raises(InputError, match="metric"):
        _load(tmp_path, text.replace(zs, zs.replace("{ ", '{ metric = "accuracy", ')))


def _row(mode: str, metric: str, value: float, **key: str) -> dict:
    base = {"source": "a", "target": "b", "method": "", "scaling": "", "anchors": "", "seed": ""}
    return {**base, **key, "mode": mode, "metric": metric, "value": value,
            "ci_low": math.nan, "ci_high": math.nan, "note": "", "scoring": ""}  # fmt: skip


def test_summary_leads_with_the_declared_metric() -> None:
    aligned = {"method": "orthogonal", "scaling": "standard", "anchors": "64", "seed": "0"}
    rows = [_row("majority", m, v, source="", target="") for m, v in
            (("accuracy", 0.47), ("balanced_accuracy", 0.25), ("macro_f1", 0.16))]  # fmt: skip
    for mode, key in (("end-to-end", {}), ("naive", {}), ("target", {}), ("aligned", aligned)):
        rows += [_row(mode, m, v, **key) for m, v in
                 (("accuracy", 0.85), ("balanced_accuracy", 0.71), ("macro_f1", 0.64))]  # fmt: skip
    meta = {"pairs": [["a", "b"]], "headline": {"method": "orthogonal", "scaling": "standard",
            "anchors": 64, "declared": True, "metric": "macro_f1"}}  # fmt: skip
    line, source = report_stitching.summary("t", meta, rows)
    assert "`a` → `b`, macro f1: aligned (orthogonal, standard, 64 anchors) 0.640" in line
    assert "end-to-end 0.640" in line and "majority floor 0.160" in line
    assert "0.850" not in line and "0.470" not in line  # accuracy is not the lead
    assert "declared in the recipe's `headline.metric`" in source
    meta["headline"]["metric"] = None
    line, source = report_stitching.summary("t", meta, rows)
    assert "balanced accuracy: aligned" in line and "majority floor 0.250" in line
    assert "the default" in source
