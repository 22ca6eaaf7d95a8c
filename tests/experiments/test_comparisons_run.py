"""results/comparisons.csv of the demo at test size, recomputed from the per-seed result files:
seed means, paired differences at the headline anchors, permutation controls of the headline
map only."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from semalign.experiments.report import fmt


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


KEY = ("source", "target", "mode", "method", "scaling", "anchors", "scoring", "direction")


def _per_seed(rows: list[dict[str, str]], metric: str) -> dict[tuple[str, ...], list[float]]:
    out: dict[tuple[str, ...], list[float]] = {}
    for r in rows:
        if r["metric"] == metric and r["seed"] != "" and r["value"] != "" and not r["note"]:
            out.setdefault(tuple(r[k] for k in KEY), []).append(float(r["value"]))
    return out


@pytest.fixture(scope="module")
def comparisons(small_run) -> list[dict[str, str]]:
    return _csv(small_run.out / "results" / "comparisons.csv")


@pytest.mark.parametrize(("task", "file", "metric"), [
    ("stitch", "stitch", "balanced_accuracy"), ("zeroshot", "zeroshot", "macro_auroc"),
    ("retrieve", "retrieval", "mrr"),
])  # fmt: skip
def test_seed_means_are_the_means_of_the_seeds_rows(small_run, comparisons, task, file, metric):
    per_seed = _per_seed(_csv(small_run.out / "results" / f"{file}.csv"), metric)
    means = {
        tuple(r[k] for k in KEY): r
        for r in comparisons
        if r["task"] == task and r["variant"] == "seed-mean" and r["metric"] == metric
    }
    assert means and set(means) <= set(per_seed)
    aligned = [k for k in per_seed if k[2] in ("aligned", "unimodal")]
    if task == "retrieve":  # the headline map only
        aligned = [k for k in aligned if k[3:5] == ("orthogonal", "standard")]
    assert set(aligned) <= set(means)
    for k, row in means.items():
        assert row["seed"] == ""
        assert float(row["value"]) == pytest.approx(np.mean(per_seed[k]), abs=1e-9)
        assert float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"])


def test_paired_differences_and_controls_at_the_headline(small_run, comparisons):
    stitch = _csv(small_run.out / "results" / "stitch.csv")
    paired = [r for r in comparisons if r["task"] == "stitch" and r["variant"].startswith("paired")]
    assert {r["variant"] for r in paired} == {
        "paired: aligned - target", "paired: aligned - naive",
        "paired: aligned orthogonal - relative",  # test_paired_methods_run.py checks it
    }  # fmt: skip
    assert {r["anchors"] for r in paired} == {"72"}
    per_seed = _per_seed(stitch, "accuracy")
    for r in paired:
        if r["metric"] != "accuracy" or r["variant"].endswith(" - relative"):
            continue
        other = r["variant"].split(" - ")[1]
        base = next(
            float(s["value"]) for s in stitch
            if s["mode"] == other and s["metric"] == "accuracy"
            and (s["source"], s["target"]) == (r["source"], r["target"])
        )  # fmt: skip
        a = per_seed[tuple(r[k] if k != "scoring" else "" for k in KEY)]
        assert float(r["value"]) == pytest.approx(np.mean(a) - base, abs=1e-9)
    controls = [r for r in comparisons if r["variant"] == "permutations=20"]
    # the headline map only (orthogonal, standard) at the headline anchors, first seed
    assert {(r["task"], r["method"], r["scaling"], r["anchors"], r["seed"]) for r in controls} == {
        ("stitch", "orthogonal", "standard", "72", "0"),
        ("zeroshot", "orthogonal", "standard", "56", "0"),
        ("retrieve", "orthogonal", "standard", "72", "0"),
    }
    for r in controls:
        assert r["mode"] == "shuffled-anchors"
        if r["metric"].endswith(":p") and r["value"]:
            assert 1 / 21 - 1e-12 <= float(r["value"]) <= 1.0


def test_report_shows_seed_means_differences_and_p_values(small_run, comparisons):
    text = (small_run.out / "report.md").read_text(encoding="utf-8")
    appendix = (small_run.out / "appendix.md").read_text(encoding="utf-8")
    for task in ("iu-stitch", "kermany-label-matched", "iu-retrieval"):
        assert f"### Across seeds, paired differences and the control: {task}" in appendix
        assert "### Across seeds" not in text  # the statistics tables live in the appendix
    # the stitching summary line per pair: the seed mean, its interval, the paired difference
    # to the target of the headline method (not of another method at the same anchors) and
    # the control's p
    at = {"task": "stitch", "anchors": "72", "method": "orthogonal", "scaling": "standard"}
    for pair in (("minilm", "e5"), ("e5", "minilm")):

        def one(variant: str, metric: str, pair=pair) -> dict:
            (row,) = [r for r in comparisons if r["variant"].startswith(variant)
                      and r["metric"] == metric and (r["source"], r["target"]) == pair
                      and all(r[k] == v for k, v in at.items())]  # fmt: skip
            return row

        mean = one("seed-mean", "balanced_accuracy")
        diff = one("paired: aligned - target", "balanced_accuracy")
        p = one("permutations=", "balanced_accuracy:p")
        line = next(x for x in text.splitlines()
                    if x.startswith(f"- **iu-stitch**, `{pair[0]}` → `{pair[1]}`"))  # fmt: skip
        interval = fmt(float(mean["value"]), float(mean["ci_low"]), float(mean["ci_high"]))
        paired = fmt(float(diff["value"]), float(diff["ci_low"]), float(diff["ci_high"]))
        assert f"72 anchors) {interval}" in line
        assert f"aligned − target {paired}" in line
        assert f"p = {float(p['value']):.3f}" in line
    assert "| e5->minilm | aligned - naive | orthogonal standard |" in appendix


def test_anchor_efficiency_band_is_the_seed_mean_interval(monkeypatch):
    import matplotlib.axes

    from semalign.experiments import plots

    bands = []

    def record(self, x, lo, hi, **kw):
        bands.append((x, lo, hi))

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", record)

    def row(k, seed, value, variant="", lo=float("nan"), hi=float("nan")):
        return {"metric": "recall@1", "anchors": str(k), "seed": seed, "value": value,
                "ci_low": lo, "ci_high": hi, "variant": variant}  # fmt: skip

    seeds = [row(k, s, v, lo=0.0, hi=1.0) for k in (8, 32) for s, v in (("0", 0.2), ("1", 0.4))]
    means = [row(8, "", 0.3, "seed-mean", 0.1, 0.5), row(32, "", 0.3, "seed-mean", 0.15, 0.45)]
    assert plots.anchor_efficiency([("p", {"T": seeds + means})]) is not None
    assert bands == [([8, 32], [0.1, 0.15], [0.5, 0.45])]
    bands.clear()
    # per-seed rows alone: the line, but no band (their CIs are no interval of the mean)
    assert plots.anchor_efficiency([("p", {"T": seeds})]) is not None
    assert bands == []


def test_stitch_anchor_curves_band_is_the_seed_mean_interval(monkeypatch):
    import matplotlib.axes

    from semalign.experiments import plots

    bands = []

    def record(self, x, lo, hi, **kw):
        bands.append((list(x), list(lo), list(hi)))

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", record)

    def row(k, seed, value, variant="", lo=0.0, hi=1.0):
        return {"source": "a", "target": "b", "mode": "aligned", "method": "orthogonal",
                "metric": "accuracy", "anchors": str(k), "seed": seed, "value": value,
                "ci_low": lo, "ci_high": hi, "variant": variant}  # fmt: skip

    seeds = [row(k, s, v) for k in (8, 32) for s, v in (("0", 0.2), ("1", 0.4))]
    means = [row(8, "", 0.3, "seed-mean", 0.1, 0.5), row(32, "", 0.3, "seed-mean", 0.2, 0.4)]
    assert plots.anchor_curves(seeds + means) is not None
    assert bands == [([8, 32], [0.1, 0.2], [0.5, 0.4])]
    bands.clear()
    assert plots.anchor_curves(seeds) is not None  # no seed means: the first seed and its CI
    assert bands == [([8, 32], [0.0, 0.0], [1.0, 1.0])]


def test_zeroshot_t_against_asif_and_comparators(small_run, comparisons):
    """Every seed of T (ASIF: the same seeds, paired; a comparator: its one run), recomputed
    as the difference of the means of the per-seed rows of results/zeroshot.csv."""
    zs = _csv(small_run.out / "results" / "zeroshot.csv")

    def value(mode: str, **where: str) -> float:
        hits = [
            float(r["value"]) for r in zs
            if r["mode"] == mode and r["metric"] == "macro_auroc" and r["scoring"] in ("", "cosine")
            and all(r[k] == v for k, v in where.items())
        ]  # fmt: skip
        assert len(hits) == (1 if "seed" in where or mode != "asif" else 3), (mode, where)
        return float(np.mean(hits))

    t = np.mean([value("unimodal", method="orthogonal", scaling="standard", anchors="56",
                       seed=s) for s in ("0", "1", "2")])  # fmt: skip
    others = {
        "asif": value("asif", anchors="56"),
        "nearest-centroid": value("nearest-centroid"),
        "linear-probe": value("linear-probe"),
    }
    for mode, v in others.items():
        (row,) = [
            r for r in comparisons
            if r["task"] == "zeroshot" and r["variant"] == f"paired: unimodal - {mode}"
            and r["metric"] == "macro_auroc"
        ]  # fmt: skip
        assert float(row["value"]) == pytest.approx(t - v, abs=1e-9)
        assert row["note"] == (
            "per-item scores of seeds 0, 1, 2 paired" if mode == "asif"
            else f"per-item scores of T's seeds 0, 1, 2 against the one run of {mode} (no seed)"
        )  # fmt: skip
