"""The stitching files of a run (the reduced demo) recompute its rows: per-row predictions give
every scored setting's accuracy, balanced accuracy and per-class F1 (scikit-learn), the majority
row is the training mode's frequency on the test rows, and the confusion file and the report's
confusion tables count the headline map's predictions."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score

KEY = ("source", "target", "mode", "method", "scaling", "anchors", "seed")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def files(small_run):
    res = small_run.out / "results"
    meta = json.loads((small_run.out / "results.json").read_text())["tasks"]["stitch"]
    preds: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for p in _csv(res / "stitch_predictions.csv"):
        preds.setdefault(tuple(p[k] for k in KEY), []).append(p)
    return _csv(res / "stitch.csv"), preds, _csv(res / "stitch_confusion.csv"), meta["iu-stitch"]


def test_predictions_recompute_every_scored_row(files) -> None:
    rows, preds, _, meta = files
    scored = {tuple(r[k] for k in KEY) for r in rows if r["value"] and r["mode"] != "before"}
    assert scored == set(preds)  # every scored setting, and no skipped one, has predictions
    checked = 0
    for r in rows:
        key = tuple(r[k] for k in KEY)
        if key not in preds:
            continue
        p = preds[key]
        assert len(p) == meta["n_test"] == int(r["n"])
        t, q = np.array([x["y_true"] for x in p]), np.array([x["y_pred"] for x in p])
        want = {"accuracy": np.mean(t == q), "balanced_accuracy": balanced_accuracy_score(t, q)}
        for c in meta["classes"]:
            want[f"f1[{c}]"] = f1_score(t == c, q == c, zero_division=0)
        if r["metric"] in want:
            assert float(r["value"]) == pytest.approx(want[r["metric"]], abs=1e-12), key
            checked += 1
    assert checked > 100


def test_majority_is_the_training_mode(files, small_run) -> None:
    rows, preds, _, meta = files
    (key,) = [k for k in preds if k[2] == "majority"]
    test_counts = Counter(p["y_true"] for p in preds[key])
    train = {c: meta["class_counts"][c] - test_counts[c] for c in meta["classes"]}
    top = max(train.values())
    mode = sorted(c for c, v in train.items() if v == top)[0]  # ties: the first class key
    assert {p["y_pred"] for p in preds[key]} == {mode}
    (acc,) = [r for r in rows if r["mode"] == "majority" and r["metric"] == "accuracy"]
    assert float(acc["value"]) == pytest.approx(test_counts[mode] / meta["n_test"])


def test_confusion_file_and_report_count_the_headline_predictions(files, small_run) -> None:
    _, preds, conf, meta = files
    h = meta["headline"]
    classes = list(meta["classes"])
    md = (small_run.out / "appendix.md").read_text(encoding="utf-8")
    for a, b in meta["pairs"]:
        key = (a, b, "aligned", h["method"], h["scaling"], str(h["anchors"]), str(meta["seeds"][0]))
        p = preds[key]
        want = confusion_matrix([x["y_true"] for x in p], [x["y_pred"] for x in p], labels=classes)
        got = np.zeros_like(want)
        for r in conf:
            if tuple(r[k] for k in KEY) == key:
                got[classes.index(r["true"]), classes.index(r["predicted"])] = int(r["count"])
        np.testing.assert_array_equal(got, want)
        table = md.split(f"### Per class: `{a}` → `{b}` at the headline map", 1)[1]
        lines = [ln for ln in table.split("| true / predicted |", 1)[1].splitlines()[2:]][:4]
        shown = np.array([[int(v) for v in ln.strip("|").split("|")[1:]] for ln in lines])
        np.testing.assert_array_equal(shown, want)
