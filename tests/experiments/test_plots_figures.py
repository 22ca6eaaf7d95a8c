"""Report figures: what each draws, read off its matplotlib artists (no image snapshots).

Each ``plots.<name>_figure`` returns the Figure that ``plots.<name>`` renders to PNG bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from semalign.experiments import plots

NAN = float("nan")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _row(**kw: Any) -> dict[str, Any]:
    base = {
        "source": "a",
        "target": "b",
        "mode": "",
        "method": "",
        "scaling": "",
        "anchors": "",
        "seed": "",
        "metric": "accuracy",
        "value": NAN,
        "ci_low": NAN,
        "ci_high": NAN,
        "variant": "",
        "scoring": "",
        "setting": "t",
    }
    return {**base, **kw}


def _legend_texts(ax: Any) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _area(line: Any) -> float:
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


# ------------------------------------------------------------------------------------- ROC


def _scores(mode: str, d: np.ndarray, truth: np.ndarray, classes: list[str], **key: Any):
    return [
        {
            "mode": mode,
            "method": key.get("method", ""),
            "scaling": "",
            "anchors": key.get("anchors", ""),
            "seed": key.get("seed", ""),
            "setting": "t",
            "id": f"i{i}",
            "class": c,
            "y_true": float(truth[i, j]),
            "score": float(d[i, j]),
        }
        for i in range(d.shape[0])
        for j, c in enumerate(classes)
    ]


def test_roc_legend_reads_the_results_auroc_and_marks_a_computed_one() -> None:
    from semalign.metrics.classification import binary_auroc

    rng = np.random.default_rng(0)
    truth = np.repeat([1.0, 0.0], 12)[:, None]
    d = np.round(truth + rng.normal(size=(24, 1)), 1)  # rounded: tied scores
    uni = _scores("unimodal", d, truth, ["P"], method="orthogonal", anchors="56", seed="0")
    probe = _scores("linear-probe", -d, truth, ["P"])
    scores = uni + probe
    # the results row (one label: its macro AUROC) is what the legend shows, even when planted
    rows = [
        _row(
            mode="unimodal",
            method="orthogonal",
            anchors="56",
            seed="0",
            metric="macro_auroc",
            value=0.777,
            scoring="cosine",
        ),
        _row(
            mode="unimodal",
            method="orthogonal",
            anchors="56",
            seed="1",
            metric="macro_auroc",
            value=0.111,
            scoring="cosine",
        ),  # another seed: not the scored one
        _row(
            mode="unimodal",
            method="orthogonal",
            anchors="56",
            seed="0",
            metric="macro_auroc",
            value=0.222,
            scoring="csls@10",
        ),  # another scoring
    ]
    fig = plots.roc_curves_figure(scores, rows)
    ax = fig.axes[0]
    texts = _legend_texts(ax)
    assert texts[0] == "orthogonal, 56 anchors: AUROC 0.777"
    expected = binary_auroc(truth[:, 0], -d[:, 0])
    assert texts[1] == f"linear-probe: AUROC {expected:.3f} (from scores)"
    # the drawn curves' areas are the AUROC of their scores, ties counted one half
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert _area(lines[0]) == pytest.approx(binary_auroc(truth[:, 0], d[:, 0]))
    assert _area(lines[1]) == pytest.approx(expected)


def test_roc_of_an_argmax_task_ranks_class_log_odds_and_pos_neg_reads_per_label_rows() -> None:
    from semalign.metrics.classification import classification_report
    from semalign.tasks.zeroshot import zeroshot_report

    rng = np.random.default_rng(1)
    classes = ["x", "y", "z"]
    t = np.arange(30) % 3
    d = np.eye(3)[t] + rng.normal(scale=0.9, size=(30, 3))
    truth = np.eye(3)[t]
    scores = _scores("unimodal", d, truth, classes, method="orthogonal", anchors="8", seed="0")
    # argmax tasks write no per-class AUROC rows: each legend value comes from the scores and
    # equals the one-vs-rest AUROC of that class's log-odds (what macro_auroc averages)
    oracle = classification_report(
        t, d, task="multiclass", logits=True, label_names=classes, n_resamples=0
    )
    curves = plots.roc_data(scores, [], rule="argmax")
    assert [c["class"] for c in curves] == classes
    for c in curves:
        assert c["auroc_from"] == "scores"
        assert c["auroc"] == pytest.approx(oracle[f"auroc[{c['class']}]"].value)
    assert np.mean([c["auroc"] for c in curves]) == pytest.approx(oracle["macro_auroc"].value)
    raw = plots.roc_data(scores, [], rule="pos-neg")  # raw decision values rank differently
    assert not all(np.isclose(r["auroc"], c["auroc"]) for r, c in zip(raw, curves, strict=True))
    assert plots._roc_rule(scores, []) == "argmax"
    # pos-neg with several labels: the legend reads each label's auroc[label] row
    y = (rng.random((30, 3)) < 0.5).astype(float)
    dv = y + rng.normal(size=(30, 3))
    rep = zeroshot_report(dv, y, None, classes, "pos-neg", n_resamples=0)
    rows = [
        _row(
            mode="unimodal",
            method="orthogonal",
            anchors="8",
            seed="0",
            metric=m,
            value=e.value,
            scoring="cosine",
        )
        for m, e in rep.items()
    ]
    pos = _scores("unimodal", dv, y, classes, method="orthogonal", anchors="8", seed="0")
    fig = plots.roc_curves_figure(pos, rows)
    for ax, c in zip(fig.axes, classes, strict=True):
        assert ax.get_title() == c
        assert _legend_texts(ax) == [f"orthogonal, 8 anchors: AUROC {rep[f'auroc[{c}]'].value:.3f}"]


# ------------------------------------------------------------------------ zero-shot anchors


def _zeroshot_rows() -> list[dict[str, Any]]:
    rows = []
    for sc in ("cosine", "csls@10"):
        for mode, method in (
            ("unimodal", "orthogonal"),
            ("shuffled-anchors", "orthogonal"),
            ("asif", ""),
        ):
            for k in ("8", "32"):
                rows.append(
                    _row(
                        mode=mode,
                        method=method,
                        anchors=k,
                        seed="0",
                        scoring=sc,
                        metric="macro_auroc",
                        value=0.7,
                        ci_low=0.6,
                        ci_high=0.8,
                    )
                )
    rows.append(
        _row(
            mode="anchor-centroid",
            method="orthogonal",
            anchors="8",
            seed="0",
            scoring="cosine",
            metric="macro_auroc",
            value=0.6,
        )
    )
    rows.append(_row(mode="nearest-centroid", metric="macro_auroc", value=0.8))
    rows.append(_row(mode="linear-probe", metric="macro_auroc", value=0.85))
    return rows


def test_zeroshot_curves_give_scorings_comparators_and_chance_their_own_styles() -> None:
    fig = plots.zeroshot_curves_figure(_zeroshot_rows())
    ax = fig.axes[0]
    named = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert set(_legend_texts(ax)) == set(named)
    csls = [n for n in named if n.endswith("(CSLS)")]
    cosine = [
        n
        for n in named
        if n.startswith(("unimodal", "shuffled", "no prompts", "ASIF")) and n not in csls
    ]
    assert len(csls) == 3 and len(cosine) == 4
    for n in csls:
        assert (named[n].get_linestyle(), named[n].get_marker()) == ("--", "s"), n
    for n in cosine:
        assert (named[n].get_linestyle(), named[n].get_marker()) == ("-", "o"), n
    for n in ("nearest-centroid (no map)", "linear-probe (no map)"):
        assert named[n].get_linestyle() == "-." and named[n].get_marker() in ("None", "", None)
        assert set(named[n].get_ydata()) == {0.8 if n.startswith("nearest") else 0.85}
    assert named["chance (0.5)"].get_linestyle() == ":"
    # dashed means CSLS, and nothing else
    assert {n for n, ln in named.items() if ln.get_linestyle() == "--"} == set(csls)
    # the control is grey under either scoring; each series keeps its colour across scorings
    assert named["shuffled anchors: orthogonal"].get_color() == plots.GREY
    assert named["shuffled anchors: orthogonal (CSLS)"].get_color() == plots.GREY
    assert named["ASIF"].get_color() == named["ASIF (CSLS)"].get_color()


# ------------------------------------------------------------------------ stitching anchors


def _stitch_rows(pairs: list[tuple[str, str]], majority_in: set[tuple[str, str]]):
    rows = []
    for a, b in pairs:
        for k, v in (("8", 0.4), ("32", 0.6), ("512", 0.7)):
            rows.append(
                _row(
                    source=a,
                    target=b,
                    mode="aligned",
                    method="orthogonal",
                    anchors=k,
                    seed="0",
                    value=v,
                    ci_low=v - 0.05,
                    ci_high=v + 0.05,
                )
            )
            rows.append(
                _row(
                    source=a,
                    target=b,
                    mode="aligned",
                    method="affine",
                    anchors=k,
                    seed="0",
                    value=NAN if k != "512" else 0.72,
                )
            )
        for k, v in (("8", 0.45), ("32", 0.5)):
            rows.append(
                _row(
                    source=a,
                    target=b,
                    mode="relative",
                    anchors=k,
                    seed="0",
                    value=v,
                    ci_low=v - 0.1,
                    ci_high=v + 0.1,
                )
            )
        for mode, v in (("end-to-end", 0.8), ("target", 0.75), ("naive", 0.3)):
            rows.append(
                _row(source=a, target=b, mode=mode, value=v, ci_low=v - 0.05, ci_high=v + 0.05)
            )
        if (a, b) in majority_in:
            rows.append(_row(source=a, target=b, mode="majority", value=0.25))
    return rows


def test_anchor_curves_reference_lines_have_the_stated_styles_and_legend_entries() -> None:
    pairs = [("a", "b"), ("b", "a")]
    fig = plots.anchor_curves_figure(_stitch_rows(pairs, {("a", "b")}))
    expected = {  # what the caption states: dark dashed, dark dotted, grey dashed, grey dash-dot
        "end-to-end": ("--", "#333333", 0.8),
        "target": (":", "#333333", 0.75),
        "naive (no map)": ("--", plots.GREY, 0.3),
        "majority floor": ("-.", plots.GREY, 0.25),
    }
    for ax in fig.axes[:2]:
        for ln in ax.get_lines():
            label = ln.get_label()
            if label in expected:
                ls, color, value = expected[label]
                assert (ln.get_linestyle(), ln.get_color()) == (ls, color), label
                assert set(ln.get_ydata()) == {value}
    # the majority floor is drawn in the first panel only, yet the one legend names it
    legend = _legend_texts(fig.axes[1])
    assert set(expected) <= set(legend)
    assert {"aligned: orthogonal", "relative"} <= set(legend)
    assert len(legend) == len(set(legend))


# ----------------------------------------------------------------------------------- modes


def test_mode_bars_compare_aligned_and_relative_at_one_common_anchor_count() -> None:
    rows = _stitch_rows([("a", "b")], set())
    assert plots.mode_bar_anchors(rows, "a", "b") == 32  # aligned also has 512, relative not
    fig = plots.mode_bars_figure(rows)
    ax = fig.axes[0]
    assert "32 anchors" in ax.get_title()
    assert "32 anchors" in ax.get_xticklabels()[0].get_text()
    heights = {
        c.get_label(): [p.get_height() for p in c.patches]
        for c in ax.containers
        if hasattr(c, "patches")
    }
    assert heights["aligned: orthogonal"] == [pytest.approx(0.6)]  # not 0.7 (512 anchors)
    assert heights["relative"] == [pytest.approx(0.5)]
    assert heights["aligned: affine"] == []  # NaN at 32 anchors ...
    assert "n/a" in [t.get_text() for t in ax.texts]  # ... marked, not silently dropped
    # without relative rows the aligned bars stand at the most anchors
    only = [r for r in rows if r["mode"] != "relative"]
    assert plots.mode_bar_anchors(only, "a", "b") == 512
    # an aligned count relative lacks is not the common count even when it is the only value
    assert (
        plots.mode_bar_anchors(
            [r for r in rows if not (r["mode"] == "aligned" and r["anchors"] != "512")], "a", "b"
        )
        is None
    )


# ------------------------------------------------------------------------------------- PCA


def test_pca_rows_project_held_out_rows_on_a_basis_fitted_on_training_rows() -> None:
    from semalign.experiments.units import pca_rows

    rng = np.random.default_rng(2)
    train_s, train_t = rng.normal(size=(50, 6)), rng.normal(size=(50, 5)) * [5, 3, 1, 1, 1]
    xs, xt = rng.normal(size=(7, 6)), rng.normal(size=(7, 5))
    xa = xt + 0.1
    rows = pca_rows(
        xs,
        xt,
        xa,
        list("abcdefg"),
        fit=(train_s, train_t),
        rows="test",
        source="s",
        target="t",
        method="m",
    )
    assert {r["rows"] for r in rows} == {"test"} and {r["basis"] for r in rows} == {"train"}
    mean = train_t.mean(axis=0)
    axes = np.linalg.svd(train_t - mean, full_matrices=False)[2][:2].T
    for role, x in (("target", xt), ("aligned", xa)):
        got = np.array([[r["pc1"], r["pc2"]] for r in rows if r["role"] == role])
        assert np.allclose(got, (x - mean) @ axes)
    assert [r["label"] for r in rows if r["role"] == "source"] == list("abcdefg")
    # without ``fit`` the basis is the points' own
    own = pca_rows(xs, xt, xa, list("abcdefg"))
    assert {r["rows"] for r in own} == {"anchors"} and {r["basis"] for r in own} == {"shown"}


def test_stitch_method_pca_shows_the_test_rows() -> None:
    from semalign.experiments.units import stitch_method

    rng = np.random.default_rng(3)
    y = np.repeat(["p", "q"], 60)
    xa = rng.normal(size=(120, 6)) + (y == "p")[:, None]
    xb = xa @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 0.05 * rng.normal(size=(120, 6))
    test = np.arange(0, 120, 4)  # both classes among the held-out rows
    out = stitch_method(
        xa,
        xb,
        y,
        test,
        method="orthogonal",
        scaling="standard",
        anchors=[20],
        seeds=[0],
        strategy="random",
        names=("a", "b"),
        bootstrap=0,
    )
    pca = out.extras["pca"]
    for role in ("source", "target", "aligned"):
        mine = [r for r in pca if r["role"] == role]
        assert [r["label"] for r in mine] == list(y[test])
        assert {r["rows"] for r in mine} == {"test"}
    train = np.setdiff1d(np.arange(120), test)
    mean = xb[train].mean(axis=0)
    axes = np.linalg.svd(xb[train] - mean, full_matrices=False)[2][:2].T
    got = np.array([[r["pc1"], r["pc2"]] for r in pca if r["role"] == "target"])
    assert np.allclose(got, (xb[test] - mean) @ axes)


def test_pca_panels_name_the_rows_and_basis_they_show() -> None:
    from semalign.experiments.units import pca_rows

    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 4))
    key = {"source": "a", "target": "b", "method": "orthogonal", "anchors": "512"}
    new = pca_rows(x, x, x, ["c"] * 8, fit=(x, x), rows="test", **key)
    fig = plots.pca_panels_figure(new)
    titles = [ax.get_title() for ax in fig.axes]
    assert all("held-out test rows" in t and "training rows" in t for t in titles)
    assert "512 anchors" in titles[1]
    old = [{k: v for k, v in r.items() if k not in ("rows", "basis")} for r in new]
    titles = [ax.get_title() for ax in plots.pca_panels_figure(old).axes]
    assert all("anchors" in t and "held-out" not in t for t in titles)


# ----------------------------------------------------------------------------- space bars


def test_space_bars_write_every_bar_value() -> None:
    metrics = ("cka", "top1", "mrr")
    rows = [
        _row(mode="before", metric="cka", value=0.793),
        _row(mode="before", metric="top1", value=0.0059),
        _row(mode="after", method="orthogonal", metric="cka", value=0.801),
        _row(mode="after", method="orthogonal", metric="top1", value=0.959),
        _row(mode="after", method="orthogonal", metric="mrr", value=0.978),
    ]
    fig = plots.space_bars_figure(rows, metrics)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    # the before mrr row is missing: its bar is n/a, and the near-zero top1 is written out
    assert texts == ["0.793", "0.006", "n/a", "0.801", "0.959", "0.978"]
    bars = [p for c in ax.containers for p in c.patches]
    assert len(bars) == len(texts)
    for bar, t in zip(bars, ax.texts, strict=True):
        assert t.get_position()[0] == pytest.approx(bar.get_x() + bar.get_width() / 2)


# --------------------------------------------------------------------------- determinism


def test_figures_are_the_same_bytes_for_the_same_rows_and_carry_no_version() -> None:
    stitch = _stitch_rows([("a", "b")], {("a", "b")})
    rng = np.random.default_rng(5)
    truth = np.repeat([1.0, 0.0], 6)[:, None]
    scores = _scores("nearest-centroid", truth + rng.normal(size=(12, 1)), truth, ["P"])
    calls = [
        lambda: plots.anchor_curves(stitch),
        lambda: plots.mode_bars(stitch),
        lambda: plots.zeroshot_curves(_zeroshot_rows()),
        lambda: plots.roc_curves(scores, []),
        lambda: plots.space_bars([_row(mode="before", metric="cka", value=0.5)], ("cka",)),
    ]
    for call in calls:
        first, again = call(), call()
        assert first is not None and first == again
        assert first.startswith(b"\x89PNG") and b"Software" not in first
