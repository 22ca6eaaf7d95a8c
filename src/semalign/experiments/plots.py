"""Report figures (matplotlib, Agg backend) drawn from result rows; each returns PNG bytes or None.

Rows are the dicts of :func:`semalign.experiments.report.read_rows`: values are floats (NaN when
undefined), keys such as ``anchors`` and ``seed`` are strings as in the CSV files.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

COLORS = ["#1f6fb4", "#d9541a", "#2a9d55", "#8c4bb5", "#b8860b", "#c2185b", "#00838f"]
GREY = "#8a93a3"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # no Software entry: the bytes depend on the drawing only, not on matplotlib's version string
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def scoring_of(row: dict[str, Any]) -> str:
    """The scoring of a results row: ``cosine``, or ``csls`` where its ``scoring`` column says
    ``csls@k`` (empty: no scoring applies, read as cosine)."""
    return str(row.get("scoring") or "cosine").split("@")[0]


def _pairs(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["source"], r["target"]) for r in rows))


def _first_seed(rows: list[dict[str, Any]]) -> str | None:
    seeds = sorted({r["seed"] for r in rows if r["seed"] != ""}, key=int)
    return seeds[0] if seeds else None


def _curve(
    ax: Any,
    rows: list[dict[str, Any]],
    metric: str,
    label: str,
    color: str,
    ls: str = "-",
    marker: str = "o",
) -> None:
    """Line + band: the ``seed-mean`` rows (mean over seeds, interval over seeds and test rows)
    where ``rows`` hold them, else the first seed and its CI; dots for every other seed. The
    line is drawn with line style ``ls`` and ``marker``."""
    pts = [r for r in rows if r["metric"] == metric and not math.isnan(r["value"])]
    means = sorted(
        (r for r in pts if r.get("variant") == "seed-mean"), key=lambda r: int(r["anchors"])
    )
    pts = [r for r in pts if r.get("variant") != "seed-mean"]
    style = {"color": color, "ls": ls, "marker": marker, "ms": 3.5, "lw": 1.6}
    if means:
        x = [int(r["anchors"]) for r in means]
        ax.plot(x, [r["value"] for r in means], label=label, **style)
        lo, hi = [r["ci_low"] for r in means], [r["ci_high"] for r in means]
        if not any(math.isnan(v) for v in lo + hi):
            ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
        if pts:
            xs = [int(r["anchors"]) for r in pts]
            ax.plot(xs, [r["value"] for r in pts], ".", color=color, alpha=0.5, ms=4)
        return
    if not pts:
        return
    first = _first_seed(pts)
    main = sorted((r for r in pts if r["seed"] == first), key=lambda r: int(r["anchors"]))
    x = [int(r["anchors"]) for r in main]
    ax.plot(x, [r["value"] for r in main], label=label, **style)
    lo = [r["ci_low"] for r in main]
    if not any(math.isnan(v) for v in lo):
        ax.fill_between(x, lo, [r["ci_high"] for r in main], color=color, alpha=0.15, lw=0)
    rest = [r for r in pts if r["seed"] != first]
    if rest:
        ax.plot(
            [int(r["anchors"]) for r in rest],
            [r["value"] for r in rest],
            ".",
            color=color,
            alpha=0.5,
            ms=4,
        )


def _legend_right(fig: Any, ax: Any, fontsize: float = 7.5) -> None:
    """One legend for the whole figure, right of ``ax``: every labelled line, bar or patch of
    every panel, each label once (first drawn first)."""
    seen: dict[str, Any] = {}
    for a in fig.axes:
        for handle, label in zip(*a.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        ax.legend(
            list(seen.values()),
            list(seen),
            fontsize=fontsize,
            frameon=False,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )


DARK = "#333333"
REFERENCE_LINES: tuple[tuple[str, str, str, str], ...] = (
    ("end-to-end", "end-to-end", "--", DARK),
    ("target", "target", ":", DARK),
    ("naive", "naive (no map)", "--", GREY),
    ("majority", "majority floor", "-.", GREY),
)
"""Horizontal lines of the stitching anchors figure: (mode, legend label, line style, colour)."""


def anchor_curves_figure(rows: list[dict[str, Any]], metric: str = "accuracy") -> Any | None:
    """The figure of :func:`anchor_curves` (a matplotlib Figure; the caller closes it)."""
    pairs = _pairs(rows)
    if not pairs or not any(r["mode"] in ("aligned", "relative") for r in rows):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 3.6), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        sub = [r for r in rows if r["source"] == a and r["target"] == b]
        methods = list(dict.fromkeys(r["method"] for r in sub if r["mode"] == "aligned"))
        for i, m in enumerate(methods):
            _curve(
                ax,
                [r for r in sub if r["mode"] == "aligned" and r["method"] == m],
                metric,
                f"aligned: {m}",
                COLORS[i % len(COLORS)],
            )
        _curve(ax, [r for r in sub if r["mode"] == "relative"], metric, "relative", COLORS[5])
        for mode, label, style, color in REFERENCE_LINES:
            hit = [
                r
                for r in sub
                if r["mode"] == mode and r["metric"] == metric and not math.isnan(r["value"])
            ]
            if hit:
                ax.axhline(hit[0]["value"], ls=style, color=color, lw=1.1, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("anchors")
        ax.set_ylabel(metric)
        ax.set_title(f"{a} → {b}")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    _legend_right(fig, axes[0][-1])
    fig.tight_layout()
    return fig


def anchor_curves(rows: list[dict[str, Any]], metric: str = "accuracy") -> bytes | None:
    """Stitching ``metric`` vs anchors, one panel per encoder pair, with the end-to-end, target,
    naive and majority rows of the pair as horizontal lines (:data:`REFERENCE_LINES`: styles
    and legend labels); one legend, right of the last panel, names every line of every panel."""
    fig = anchor_curves_figure(rows, metric)
    return None if fig is None else _png(fig)


def mode_bar_anchors(
    rows: list[dict[str, Any]], source: str, target: str, metric: str = "accuracy"
) -> int | None:
    """The anchor count at which :func:`mode_bars` compares the modes of a pair: the largest
    count at which aligned (some method) and relative both have a first-seed row of ``metric``
    with a value (where the pair has no relative rows: the largest aligned count); None where
    they share no count."""
    first = _first_seed(rows)
    counts: dict[str, set[int]] = {}
    for r in rows:
        if (
            r["source"] == source
            and r["target"] == target
            and r["metric"] == metric
            and r["mode"] in ("aligned", "relative")
            and r["seed"] == first
            and r.get("variant") != "seed-mean"
            and not math.isnan(r["value"])
        ):
            counts.setdefault(r["mode"], set()).add(int(r["anchors"]))
    if not counts:
        return None
    common = set.intersection(*counts.values())
    return max(common) if common else None


def mode_bars_figure(rows: list[dict[str, Any]], metric: str = "accuracy") -> Any | None:
    """The figure of :func:`mode_bars` (a matplotlib Figure; the caller closes it)."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 3.2 * len(pairs)), 3.8))
    first = _first_seed(rows)
    labels: list[str] = []
    series: list[dict[str, dict[str, Any] | None]] = []
    at: list[int | None] = []
    for a, b in pairs:
        sub = [r for r in rows if r["source"] == a and r["target"] == b and r["metric"] == metric]
        k = mode_bar_anchors(rows, a, b, metric)
        at.append(k)
        bars: list[tuple[str, dict[str, Any] | None]] = []
        for mode in ("end-to-end", "naive"):
            bars.append((mode, next((r for r in sub if r["mode"] == mode), None)))
        for mode in ("aligned", "relative"):
            cand = [
                r
                for r in sub
                if r["mode"] == mode and r["seed"] == first and r.get("variant") != "seed-mean"
            ]
            for m in dict.fromkeys(r["method"] for r in cand):
                at_k = (r for r in cand if r["method"] == m and int(r["anchors"]) == k)
                name = f"{mode}: {m}" if mode == "aligned" else mode
                bars.append((name, None if k is None else next(at_k, None)))
        bars.append(("target", next((r for r in sub if r["mode"] == "target"), None)))
        for name, _ in bars:
            if name not in labels:
                labels.append(name)
        series.append(dict(bars))
    width = 0.8 / max(1, len(labels))
    for j, name in enumerate(labels):
        xs, ys, err = [], [], []
        for i, s in enumerate(series):
            r = s.get(name)
            x = i + (j - (len(labels) - 1) / 2) * width
            if r is None or math.isnan(r["value"]):
                if name in s and name.startswith(("aligned", "relative")):  # no value at k
                    ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
                continue
            xs.append(x)
            ys.append(r["value"])
            lo, hi = r["ci_low"], r["ci_high"]
            err.append((0.0, 0.0) if math.isnan(lo) else (r["value"] - lo, hi - r["value"]))
        color = GREY if name == "naive" else COLORS[j % len(COLORS)]
        ax.bar(
            xs,
            ys,
            width,
            label=name,
            color=color,
            yerr=np.array(err).T if err else None,
            capsize=2,
            error_kw={"lw": 0.8},
        )
    ticks = [
        f"{a} → {b}\n" + (f"(at {k} anchors)" if k is not None else "(no common anchor count)")
        for (a, b), k in zip(pairs, at, strict=True)
    ]
    ax.set_xticks(range(len(pairs)), ticks)
    shared = set(at)
    common = f"{at[0]} anchors" if len(shared) == 1 and None not in shared else None
    title = f"at {common}" if common else "at each pair's common anchor count"
    ax.set_title(f"aligned and relative {title} (first seed)", fontsize=9)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7.5, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def mode_bars(rows: list[dict[str, Any]], metric: str = "accuracy") -> bytes | None:
    """Bars per mode for each encoder pair: end-to-end, naive and target, and aligned (per
    method) and relative at one common anchor count (:func:`mode_bar_anchors`, first seed),
    named in the title and under each pair; error bars are the rows' CIs; ``n/a`` where a
    method has no value at that count."""
    fig = mode_bars_figure(rows, metric)
    return None if fig is None else _png(fig)


def _bar_values(ax: Any, xs: list[float], ys: list[float]) -> None:
    """Each bar's value above it (``n/a`` for NaN), rotated to fit narrow bars."""
    for x, y in zip(xs, ys, strict=True):
        text = "n/a" if math.isnan(y) else f"{y:.3f}"
        top = 0.0 if math.isnan(y) else max(y, 0.0)
        ax.text(x, top + 0.015, text, ha="center", va="bottom", fontsize=6, rotation=90)


def space_bars_figure(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> Any | None:
    """The figure of :func:`space_bars` (a matplotlib Figure; the caller closes it)."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 3.4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        sub = [r for r in rows if r["source"] == a and r["target"] == b]
        groups = [("before", [r for r in sub if r["mode"] == "before"])]
        for m in dict.fromkeys(r["method"] for r in sub if r["mode"] == "after"):
            groups.append(
                (f"after: {m}", [r for r in sub if r["mode"] == "after" and r["method"] == m])
            )
        width = 0.8 / len(groups)
        for j, (name, g) in enumerate(groups):
            by = {r["metric"]: r["value"] for r in g}
            xs = [i + (j - (len(groups) - 1) / 2) * width for i in range(len(metrics))]
            ys = [by.get(m, math.nan) for m in metrics]
            color = GREY if name == "before" else COLORS[(j - 1) % len(COLORS)]
            ax.bar(xs, ys, width, label=name, color=color)
            _bar_values(ax, xs, ys)
        ax.set_xticks(range(len(metrics)), metrics, rotation=20)
        ax.set_ylim(0, 1.25)
        ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(f"{a} → {b}")
        ax.grid(axis="y", alpha=0.3)
    _legend_right(fig, axes[0][-1])
    fig.tight_layout()
    return fig


def space_bars(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> bytes | None:
    """Space similarity before vs after alignment, one panel per encoder pair; every bar's
    value written above it (``n/a`` where the row is missing or undefined)."""
    fig = space_bars_figure(rows, metrics)
    return None if fig is None else _png(fig)


def _scatter(ax: Any, rows: list[dict[str, Any]], cls: str, **style: Any) -> None:
    """The PCA points of ``rows`` whose class is ``cls``."""
    pts = [r for r in rows if r["label"] == cls]
    ax.scatter([r["pc1"] for r in pts], [r["pc2"] for r in pts], **style)


PCA_SEGMENTS = 40  # aligned points joined to their target by a grey segment
_PCA_ROWS = {"test": "held-out test rows", "anchors": "anchors"}
_PCA_BASIS = {"train": "PCA of its training rows", "shown": "PCA of the points shown"}


def pca_panels_figure(rows: list[dict[str, Any]]) -> Any | None:
    """The figure of :func:`pca_panels` (a matplotlib Figure; the caller closes it): one row
    per encoder pair, the source panel first, then one target panel per method."""
    pairs = list(dict.fromkeys((r["source"], r["target"]) for r in rows))
    if not pairs:
        return None
    methods = {
        p: list(dict.fromkeys(r["method"] for r in rows if (r["source"], r["target"]) == p))
        for p in pairs
    }
    cols = 1 + max(len(m) for m in methods.values())
    plt = _plt()
    fig, axes = plt.subplots(
        len(pairs), cols, figsize=(3.9 * cols, 3.6 * len(pairs)), squeeze=False
    )
    classes = sorted({r["label"] for r in rows})
    color = {c: COLORS[i % len(COLORS)] for i, c in enumerate(classes)}
    for (a, b), row_axes in zip(pairs, axes, strict=True):
        for ax in row_axes[1 + len(methods[a, b]) :]:
            ax.set_visible(False)
        for i, m in enumerate(methods[a, b]):
            sub = [r for r in rows if (r["source"], r["target"], r["method"]) == (a, b, m)]
            role = {k: [r for r in sub if r["role"] == k] for k in ("source", "target", "aligned")}
            # rows written before the ``rows``/``basis`` columns existed are the fitted anchors
            which = _PCA_ROWS.get(str(sub[0].get("rows") or "anchors"), str(sub[0].get("rows")))
            basis = _PCA_BASIS.get(str(sub[0].get("basis") or "shown"), str(sub[0].get("basis")))
            k = sub[0].get("anchors", "")
            if i == 0:  # the source's points do not depend on the method
                ax1 = row_axes[0]
                for c in classes:
                    _scatter(ax1, role["source"], c, s=9, color=color[c], label=c, alpha=0.8)
                ax1.set_title(f"source {a}: {which}\n({basis})", fontsize=8.5)
                ax1.legend(fontsize=7.5, frameon=False)
            ax2 = row_axes[1 + i]
            t = {r["row"]: r for r in role["target"]}
            for r in role["aligned"][:PCA_SEGMENTS]:
                if r["row"] in t:
                    ax2.plot(
                        [r["pc1"], t[r["row"]]["pc1"]],
                        [r["pc2"], t[r["row"]]["pc2"]],
                        color=GREY,
                        lw=0.5,
                        alpha=0.6,
                    )
            for c in classes:
                _scatter(ax2, role["target"], c, s=10, color=color[c], marker="o", alpha=0.55)
                _scatter(ax2, role["aligned"], c, s=14, color=color[c], marker="x", alpha=0.9,
                         lw=0.8)  # fmt: skip
            ax2.set_title(
                f"target {b} (o), T({a}) by {m},\n{k} anchors (x): {which} ({b}'s {basis})",
                fontsize=8,
            )
        for ax in row_axes:
            ax.set_xlabel("PC1")
            ax.set_ylabel("PC2")
    fig.tight_layout()
    return fig


def pca_panels(rows: list[dict[str, Any]]) -> bytes | None:
    """Per (pair, method), from ``results/pca.csv``: the source's points in the PCA basis of
    its own training rows; the target's points (o) and the same items' source points mapped by
    T (x) in the target's basis, a grey segment joining the first :data:`PCA_SEGMENTS` mapped
    points to their target. Which points and basis are read from the rows' ``rows`` and
    ``basis`` columns (rows without them: the anchors, in a basis fitted on themselves) and
    named in the panel titles."""
    fig = pca_panels_figure(rows)
    return None if fig is None else _png(fig)


SCORING_STYLES = {"cosine": ("-", "o"), "csls": ("--", "s")}
"""Line style and marker of each scoring in :func:`zeroshot_curves`."""
COMPARATOR_STYLE = "-."  # horizontal lines of the modes with no map in :func:`zeroshot_curves`
COMPARATORS = ("nearest-centroid", "linear-probe", "multimodal")


def zeroshot_curves_figure(rows: list[dict[str, Any]], metric: str = "macro_auroc") -> Any | None:
    """The figure of :func:`zeroshot_curves` (a matplotlib Figure; the caller closes it)."""
    uni = [r for r in rows if r["mode"] == "unimodal"]
    if not uni:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    methods = list(dict.fromkeys(r["method"] for r in uni))
    scorings = [s for s in SCORING_STYLES if any(scoring_of(r) == s for r in rows)]
    palette = iter(COLORS * 3)
    colour: dict[tuple[str, str], str] = {}
    for m in methods:
        colour["unimodal", m] = next(palette)
        colour["anchor-centroid", m] = next(palette)
    colour["asif", ""] = next(palette)
    for mode in COMPARATORS[:2]:
        colour[mode, ""] = next(palette)
    colour["multimodal", ""] = DARK

    def curve(sub: list[dict[str, Any]], label: str, color: str, scoring: str) -> None:
        ls, marker = SCORING_STYLES[scoring]
        pts = [r for r in sub if scoring_of(r) == scoring]
        name = label if scoring == "cosine" else f"{label} (CSLS)"
        _curve(ax, pts, metric, name, color, ls=ls, marker=marker)

    for sc in scorings:
        for m in methods:
            curve([r for r in uni if r["method"] == m], f"unimodal: {m}", colour["unimodal", m], sc)
            shuffled = [r for r in rows if r["mode"] == "shuffled-anchors" and r["method"] == m]
            curve(shuffled, f"shuffled anchors: {m}", GREY, sc)
            centroid = [r for r in rows if r["mode"] == "anchor-centroid" and r["method"] == m]
            curve(centroid, f"no prompts, anchor centroids: {m}", colour["anchor-centroid", m], sc)
        curve([r for r in rows if r["mode"] == "asif"], "ASIF", colour["asif", ""], sc)
    for mode in COMPARATORS:
        hit = [
            r
            for r in rows
            if r["mode"] == mode
            and r["metric"] == metric
            and scoring_of(r) == "cosine"
            and not math.isnan(r["value"])
        ]
        if hit:
            ax.axhline(
                hit[0]["value"], ls=COMPARATOR_STYLE, color=colour[mode, ""], lw=1.2,
                label=f"{mode} (no map)",
            )  # fmt: skip
    if "auroc" in metric:
        ax.axhline(0.5, ls=":", color=GREY, lw=0.8, label="chance (0.5)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("anchor pairs")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def zeroshot_curves(rows: list[dict[str, Any]], metric: str = "macro_auroc") -> bytes | None:
    """Zero-shot ``metric`` vs anchors per method, its shuffled-anchors control (grey), the
    no-prompt anchor centroids and ASIF. Colour: the series; scoring: cosine a solid line with
    circles, CSLS a dashed line with squares (:data:`SCORING_STYLES`), the control and every
    curve alike. The modes with no map (nearest-centroid, linear-probe, a joint encoder's
    multimodal; cosine) are dash-dot horizontal lines; chance (0.5) a dotted grey line for an
    AUROC. Every line is named in the legend."""
    fig = zeroshot_curves_figure(rows, metric)
    return None if fig is None else _png(fig)


def space_vs_n(rows: list[dict[str, Any]], metrics: list[str]) -> bytes | None:
    """Raw-space similarity vs sample size n (mean over subsamples, band: their 2.5-97.5
    percentiles), one line per metric, one panel per encoder pair."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.4 * len(pairs), 3.4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        for j, metric in enumerate(metrics):
            pts = sorted(
                (r for r in rows if (r["source"], r["target"]) == (a, b) and r["metric"] == metric),
                key=lambda r: int(r["n"]),
            )
            if not pts:
                continue
            x = [int(r["n"]) for r in pts]
            color = COLORS[j % len(COLORS)]
            ax.plot(x, [r["value"] for r in pts], "-o", color=color, ms=3.5, lw=1.5, label=metric)
            ax.fill_between(
                x, [r["ci_low"] for r in pts], [r["ci_high"] for r in pts], color=color,
                alpha=0.15, lw=0,
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sample size n")
        ax.set_ylabel("similarity")
        ax.set_title(f"{a} ↔ {b} (raw spaces)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _png(fig)


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points (fpr, tpr) of binary ``y`` against scores ``s``: one point per distinct score
    (tied scores move together), from (0, 0); joined by straight segments, the area under them
    is the AUROC with ties counted one half."""
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    P, N = max(y.sum(), 1), max(y.size - y.sum(), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P]


def _area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Trapezoidal area under the ROC points of :func:`_roc`."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _settings(scores: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys((r["mode"], r["method"], r["anchors"]) for r in scores))


def first_seed_scores(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-item score rows of each setting's first seed (the seed of its first row):
    ``results/zeroshot_scores.csv`` holds every seed at the headline anchors, the figures show
    one; a setting without seed (a comparator, a joint space) keeps all its rows."""
    first: dict[tuple[Any, ...], str] = {}
    for r in scores:
        first.setdefault((r["mode"], r["method"], r["anchors"]), _text(r.get("seed")))
    return [r for r in scores
            if _text(r.get("seed")) == first[r["mode"], r["method"], r["anchors"]]]  # fmt: skip


def _text(v: Any) -> str:
    """A key cell as the CSV files hold it: '' for None/NaN, else its text."""
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _roc_rule(scores: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The decision rule behind ``scores`` when the caller does not say: ``pos-neg`` for one
    label or where the results hold per-label AUROC rows (``auroc[...]``, which only pos-neg
    tasks write), else ``argmax`` where every item has exactly one true class."""
    classes = {r["class"] for r in scores}
    if len(classes) < 2 or any(str(r["metric"]).startswith("auroc[") for r in rows):
        return "pos-neg"
    truth: dict[tuple[Any, ...], float] = {}
    for r in scores:
        key = (r["mode"], r["method"], _text(r["anchors"]), r["id"])
        truth[key] = truth.get(key, 0.0) + float(r["y_true"])
    return "argmax" if all(v == 1.0 for v in truth.values()) else "pos-neg"


def roc_data(
    scores: list[dict[str, Any]], rows: list[dict[str, Any]], rule: str | None = None
) -> list[dict[str, Any]]:
    """The curves of :func:`roc_curves`: per class, per scored setting (``results/
    zeroshot_scores.csv``: the first seed at the headline anchor count, cosine), a dict with
    ``class``, ``mode``, ``method``, ``anchors``, ``seed``, ``fpr``, ``tpr``, ``auroc`` and
    ``auroc_from``.

    The curve ranks what the task's AUROC ranks: for ``pos-neg`` each label's decision value;
    for ``argmax`` each class's log-odds (:func:`~semalign.metrics.classification.
    class_log_odds` of the item's decision values over every class), one class against the
    rest. ``auroc``: the matching cosine row of ``rows`` (``results/zeroshot.csv``, same mode,
    method, anchors and seed): ``auroc[class]``, or ``macro_auroc`` where the task has one
    class, with ``auroc_from = "results"``; where there is no such row (argmax tasks write
    only the macro AUROC), the area under the drawn curve, ``auroc_from = "scores"``.
    ``rule``: ``argmax`` or ``pos-neg`` (None: read from the scores and rows)."""
    from semalign.metrics.classification import class_log_odds

    if not scores:
        return []
    scores = first_seed_scores(scores)
    rule = rule or _roc_rule(scores, rows)
    classes = list(dict.fromkeys(r["class"] for r in scores))
    out: list[dict[str, Any]] = []
    for mode, method, anchors in _settings(scores):
        pts = [
            r for r in scores if (r["mode"], r["method"], r["anchors"]) == (mode, method, anchors)
        ]
        seed = _text(pts[0].get("seed"))
        curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if rule == "argmax":
            ids = list(dict.fromkeys(r["id"] for r in pts))
            cell = {(r["id"], r["class"]): r for r in pts}
            if any((i, c) not in cell for i in ids for c in classes):
                continue  # an item without every class: no log-odds
            d = np.array([[cell[i, c]["score"] for c in classes] for i in ids], dtype=float)
            odds = class_log_odds(d)
            for j, c in enumerate(classes):
                curves[c] = (np.array([cell[i, c]["y_true"] for i in ids], float), odds[:, j])
        else:
            for c in classes:
                own = [r for r in pts if r["class"] == c]
                y = np.array([r["y_true"] for r in own], dtype=float)
                curves[c] = (y, np.array([r["score"] for r in own], dtype=float))
        for c, (y, s) in curves.items():
            if y.size == 0 or y.min() == y.max():
                continue
            fpr, tpr = _roc(y, s)
            metric = f"auroc[{c}]" if len(classes) > 1 else "macro_auroc"
            hit = [
                r
                for r in rows
                if r["mode"] == mode
                and _text(r["method"]) == _text(method)
                and _text(r["anchors"]) == _text(anchors)
                and _text(r["seed"]) == seed
                and r["metric"] == metric
                and scoring_of(r) == "cosine"
                and r.get("variant") != "seed-mean"
                and not math.isnan(r["value"])
            ]
            out.append(
                {
                    "class": c, "mode": mode, "method": _text(method),
                    "anchors": _text(anchors), "seed": seed, "fpr": fpr, "tpr": tpr,
                    "auroc": float(hit[0]["value"]) if hit else _area(fpr, tpr),
                    "auroc_from": "results" if hit else "scores",
                }
            )  # fmt: skip
    return out


def _roc_label(c: dict[str, Any]) -> str:
    names = {"unimodal": f"{c['method']}, {c['anchors']} anchors",
             "asif": f"ASIF, {c['anchors']} anchors"}  # fmt: skip
    tail = "" if c["auroc_from"] == "results" else " (from scores)"
    return f"{names.get(c['mode'], c['mode'])}: AUROC {c['auroc']:.3f}{tail}"


def roc_curves_figure(
    scores: list[dict[str, Any]], rows: list[dict[str, Any]], rule: str | None = None
) -> Any | None:
    """The figure of :func:`roc_curves` (a matplotlib Figure; the caller closes it)."""
    curves = roc_data(scores, rows, rule)
    if not curves:
        return None
    classes = list(dict.fromkeys(c["class"] for c in curves))
    settings = list(dict.fromkeys((c["mode"], c["method"], c["anchors"]) for c in curves))
    plt = _plt()
    fig, axes = plt.subplots(1, len(classes), figsize=(4.3 * len(classes), 5.2), squeeze=False)
    for ax, cls in zip(axes[0], classes, strict=True):
        for c in (c for c in curves if c["class"] == cls):
            i = settings.index((c["mode"], c["method"], c["anchors"]))
            color = GREY if c["mode"] == "shuffled-anchors" else COLORS[i % len(COLORS)]
            # earlier settings drawn wider, so that a curve another one covers still shows
            lw = max(1.0, 3.0 - 0.35 * i)
            ax.plot(c["fpr"], c["tpr"], color=color, label=_roc_label(c), lw=lw, alpha=0.9)
        ax.plot([0, 1], [0, 1], ":", color=GREY, lw=0.8)
        ax.set_title(cls)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_aspect("equal")
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    return fig


def roc_curves(
    scores: list[dict[str, Any]], rows: list[dict[str, Any]], rule: str | None = None
) -> bytes | None:
    """ROC curve per class for each scored setting (:func:`roc_data`); each legend entry holds
    its curve's AUROC, from ``rows`` (``results/zeroshot.csv``) where they hold it, else the
    area under the drawn curve, marked ``(from scores)``."""
    fig = roc_curves_figure(scores, rows, rule)
    return None if fig is None else _png(fig)


def confusion(scores: list[dict[str, Any]], rule: str) -> bytes | None:
    """Confusion matrix of the headline unimodal setting (else the first scored setting); for
    pos-neg a positive decision value predicts the label (each setting's first seed)."""
    scores = first_seed_scores(scores)
    settings = _settings(scores)
    if not settings:
        return None
    chosen = next((s for s in settings if s[0] in ("unimodal", "multimodal")), settings[0])
    pts = [r for r in scores if (r["mode"], r["method"], r["anchors"]) == chosen]
    classes = list(dict.fromkeys(r["class"] for r in pts))
    plt = _plt()
    if rule == "argmax":
        names = classes
        by: dict[str, dict[str, tuple[float, float]]] = {}
        for r in pts:
            by.setdefault(r["id"], {})[r["class"]] = (r["y_true"], r["score"])
        m = np.zeros((len(names), len(names)), dtype=int)
        for d in by.values():
            true = max(d, key=lambda c: d[c][0])
            pred = max(d, key=lambda c: d[c][1])
            m[names.index(true), names.index(pred)] += 1
    else:
        c = classes[0]
        names = [f"no {c}", c]
        m = np.zeros((2, 2), dtype=int)
        for r in pts:
            if r["class"] == c:
                m[int(r["y_true"]), int(r["score"] > 0.0)] += 1
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.2, 1.1 * len(names) + 1.6))
    ax.imshow(m, cmap="Blues")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                color="white" if m[i, j] > m.max() / 2 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    label = chosen[0] if chosen[0] != "unimodal" else f"{chosen[1]}, {chosen[2]} anchors"
    ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _direction(row: dict[str, Any]) -> str:
    """The query -> key direction of a retrieval row (its ``direction`` column)."""
    return str(row.get("direction") or "")


def retrieval_curves(rows: list[dict[str, Any]], metrics: list[str]) -> bytes | None:
    """Recall@k vs anchors, one panel per (encoder pair, direction); colours are k, line styles
    methods; the unaligned control as a dotted line of the same colour."""
    panels = list(dict.fromkeys((r["source"], r["target"], _direction(r)) for r in rows))
    if not panels or not any(r["mode"] == "aligned" for r in rows):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    styles = ["-", "--", "-.", ":"]
    for ax, (a, b, d) in zip(axes[0], panels, strict=True):
        sub = [r for r in rows if r["source"] == a and r["target"] == b and _direction(r) == d]
        methods = list(dict.fromkeys(r["method"] for r in sub if r["mode"] == "aligned"))
        for j, metric in enumerate(metrics):
            color = COLORS[j % len(COLORS)]
            for i, m in enumerate(methods):
                pts = [r for r in sub if r["mode"] == "aligned" and r["method"] == m]
                before = len(ax.lines)
                _curve(ax, pts, metric, f"{m} {metric}", color)
                if len(ax.lines) > before:
                    ax.lines[before].set_linestyle(styles[i % len(styles)])
            hit = [r for r in sub if r["mode"] == "naive" and r["metric"] == metric]
            if hit and not math.isnan(hit[0]["value"]):
                ax.axhline(hit[0]["value"], ls=":", color=color, lw=1.0, alpha=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("anchors")
        ax.set_ylabel("recall")
        ax.set_title(f"{d} (map {a} → {b})", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize=7, frameon=False, handlelength=3.2)
    fig.tight_layout()
    return _png(fig)


def anchor_efficiency(
    panels: list[tuple[str, dict[str, list[dict[str, Any]]]]], metric: str = "recall@1"
) -> bytes | None:
    """``metric`` vs anchors, one panel per (title, {line label: rows}): each line the mean over
    seeds; where a line's rows hold its ``seed-mean`` rows (``results/comparisons.csv``), their
    values and their interval over seeds and test rows draw the line and its band (no band
    otherwise); a line labelled ``unaligned`` (one row, no anchors) is drawn as a dotted
    horizontal line."""
    if not any(rows for _, lines in panels for rows in lines.values()):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.5), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels, strict=True):
        for i, (label, rows) in enumerate(lines.items()):
            pts = [r for r in rows if r["metric"] == metric and not math.isnan(r["value"])]
            if label == "unaligned":
                if pts:
                    ax.axhline(pts[0]["value"], ls=":", color=GREY, lw=1.1, label=label)
                continue
            means = {int(r["anchors"]): r for r in pts if r.get("variant") == "seed-mean"}
            by: dict[int, list[dict[str, Any]]] = {}
            for r in pts:
                if r.get("variant") != "seed-mean":
                    by.setdefault(int(r["anchors"]), []).append(r)
            x = sorted(set(by) | set(means))
            if not x:
                continue
            color = COLORS[i % len(COLORS)]
            mean = [
                means[k]["value"] if k in means else float(np.mean([r["value"] for r in by[k]]))
                for k in x
            ]
            ax.plot(x, mean, "-o", color=color, label=label, ms=3.5, lw=1.6)
            if set(means) == set(x):
                lo = [means[k]["ci_low"] for k in x]
                hi = [means[k]["ci_high"] for k in x]
                if not any(math.isnan(v) for v in lo + hi):
                    ax.fill_between(x, lo, hi, color=color, alpha=0.12, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("anchors")
        ax.set_ylabel(metric)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return _png(fig)
