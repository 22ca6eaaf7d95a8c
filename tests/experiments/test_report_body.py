"""The report's main body and appendix: which estimate a headline cell shows, how settings with
no value collapse into one sentence, and where tables go (planted rows, no run)."""

from __future__ import annotations

import math

from semalign.experiments.report.common import estimate, na_sentences, result_table
from semalign.experiments.report.document import Doc


def _row(mode: str, method: str, anchors: str, seed: str, value: float, **kw: str) -> dict:
    return {
        "source": "a", "target": "b", "mode": mode, "method": method, "scaling": "standard",
        "anchors": anchors, "seed": seed, "metric": kw.pop("metric", "accuracy"),
        "value": value, "ci_low": value - 0.1, "ci_high": value + 0.1, "note": "",
        "variant": "", **kw,
    }  # fmt: skip


def test_estimate_is_the_matching_methods_seed_mean_else_the_first_seed() -> None:
    cells = (("orthogonal", "1", 0.61), ("orthogonal", "0", 0.60), ("ridge-cv", "0", 0.70))
    rows = [_row("aligned", m, "64", s, v) for m, s, v in cells]
    means = [
        _row("aligned", "ridge-cv", "64", "", 0.72, variant="seed-mean"),
        _row("aligned", "orthogonal", "64", "", 0.605, variant="seed-mean"),
        _row("aligned", "orthogonal", "64", "", 0.007, variant="seed-mean",
             metric="accuracy:seed-sd"),
    ]  # fmt: skip
    at = {"mode": "aligned", "anchors": "64"}
    assert estimate(means, rows, "accuracy", method="orthogonal", **at) == (
        "0.605 [0.505, 0.705]", "mean over seeds, sd 0.007")  # fmt: skip
    # no seed-mean row: the first seed (by number, not file order) with its CI
    assert estimate([], rows, "accuracy", method="orthogonal", **at) == (
        "0.600 [0.500, 0.700]", "seed 0")  # fmt: skip
    target = _row("target", "", "", "", 0.8)
    assert estimate(means, [target], "accuracy", mode="target") == (
        "0.800 [0.700, 0.900]", "single run")  # fmt: skip
    assert estimate(means, rows, "accuracy", method="affine", **at) == ("n/a", "")


def test_settings_with_no_value_collapse_into_one_sentence() -> None:
    nan = math.nan
    rows = [
        _row("aligned", "affine", "16", "0", nan, note="skipped: needs >= 385 anchors"),
        _row("aligned", "affine", "16", "1", nan, note="skipped: needs >= 385 anchors"),
        _row("aligned", "affine", "512", "0", nan, note="skipped: anchors' rank 382 < 384 needed"),
        _row("aligned", "affine", "512", "1", nan, note="skipped: anchors' rank 382 < 384 needed"),
        _row("aligned", "orthogonal", "16", "0", 0.5),
        _row("aligned", "linear", "16", "0", nan, note="skipped: needs >= 385 anchors"),
        _row("aligned", "linear", "512", "0", 0.9),
    ]
    keys = ("source", "target", "mode", "method", "scaling", "anchors", "seed")
    sentences = na_sentences(rows, keys)
    assert len(sentences) == 2
    affine = next(s for s in sentences if "`affine`" in s)
    assert "(every anchor count and seed)" in affine
    assert "needs >= 385 anchors (at 16 anchors)" in affine
    assert "anchors' rank 382 < 384 needed (at 512 anchors)" in affine
    linear = next(s for s in sentences if "`linear`" in s)
    assert "(1 of 2 anchor count and seed)" in linear
    # settings that share their reasons share one sentence, their keys listed
    twin = [dict(r, source="b", target="a") for r in rows if r["method"] == "affine"]
    merged = na_sentences(rows + twin, keys)
    assert len(merged) == 2 and "source `a` / `b`" in merged[0] + merged[1]

    doc = Doc()
    result_table(doc, rows, ("accuracy",))
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    methods = {r[3] for r in table.content[1]}
    assert methods == {"orthogonal", "linear"}  # affine has no value anywhere: a sentence
    assert [b.content for b in doc.blocks if b.kind == "text"] == sentences


def test_the_appendix_is_a_document_of_its_own_linked_from_the_body() -> None:
    doc = Doc()
    doc.p("Tables are in the [appendix](appendix.md).")
    doc.appendix.table(["x"], [["1"]])
    assert doc.appendix.appendix is doc.appendix
    assert not [b for b in doc.blocks if b.kind == "table"]
    assert '<a href="appendix.html">appendix</a>' in doc.html("t")
    assert "[appendix](appendix.md)" in doc.markdown()
    assert "<td>1</td>" in doc.appendix.html("a")


def test_a_joint_space_task_has_its_headline_table_in_the_body() -> None:
    from semalign.experiments.report import zeroshot

    rows = [
        {**_row("multimodal", "", "", "", v, metric=m), "scoring": "cosine"}
        for m, v in (("macro_auroc", 0.71), ("accuracy", 0.66), ("macro_f1", 0.6))
    ]
    doc = Doc()
    meta = {"joint": True, "images": "x", "n_images": 40, "label_counts": {}, "prompt_counts": {}}
    zeroshot.section(doc, "zs", meta, rows, [])
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    assert table.content[1] == [
        ["multimodal", "cosine", "", "single run",
         "0.710 [0.610, 0.810]", "0.660 [0.560, 0.760]", "0.600 [0.500, 0.700]"]
    ]  # fmt: skip
    assert [b for b in doc.appendix.blocks if b.kind == "table"]  # every row, in the appendix
