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
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
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


def _curve(ax: Any, rows: list[dict[str, Any]], metric: str, label: str, color: str) -> None:
    """Line + band: the ``seed-mean`` rows (mean over seeds, interval over seeds and test rows)
    where ``rows`` hold them, else the first seed and its CI; dots for every other seed."""
    pts = [r for r in rows if r["metric"] == metric and not math.isnan(r["value"])]
    means = sorted(
        (r for r in pts if r.get("variant") == "seed-mean"), key=lambda r: int(r["anchors"])
    )
    pts = [r for r in pts if r.get("variant") != "seed-mean"]
    if means:
        x = [int(r["anchors"]) for r in means]
        ax.plot(x, [r["value"] for r in means], "-o", color=color, label=label, ms=3.5, lw=1.6)
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
    ax.plot(x, [r["value"] for r in main], "-o", color=color, label=label, ms=3.5, lw=1.6)
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


def anchor_curves(rows: list[dict[str, Any]], metric: str = "accuracy") -> bytes | None:
    """Stitching ``metric`` vs anchors, one panel per encoder pair, with the end-to-end, target,
    naive and majority rows of the pair as horizontal lines."""
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
        for mode, style, color in (
            ("end-to-end", "--", "#333333"),
            ("target", ":", "#333333"),
            ("naive", "--", GREY),
            ("majority", "-.", GREY),
        ):
            hit = [r for r in sub if r["mode"] == mode and r["metric"] == metric]
            if hit:
                ax.axhline(hit[0]["value"], ls=style, color=color, lw=1.1, label=mode)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("anchors")
        ax.set_ylabel(metric)
        ax.set_title(f"{a} → {b}")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(loc="lower right", fontsize=7.5, frameon=False)
    fig.tight_layout()
    return _png(fig)


def mode_bars(rows: list[dict[str, Any]], metric: str = "accuracy") -> bytes | None:
    """Bars per mode for each encoder pair (aligned/relative at the most anchors, first seed)."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 3.2 * len(pairs)), 3.6))
    first = _first_seed(rows)
    labels: list[str] = []
    series: list[list[dict[str, Any] | None]] = []
    for a, b in pairs:
        sub = [r for r in rows if r["source"] == a and r["target"] == b and r["metric"] == metric]
        bars: list[tuple[str, dict[str, Any] | None]] = []
        for mode in ("end-to-end", "naive"):
            bars.append((mode, next((r for r in sub if r["mode"] == mode), None)))
        for mode in ("aligned", "relative"):
            cand = [
                r
                for r in sub
                if r["mode"] == mode and r["seed"] == first and not math.isnan(r["value"])
            ]
            for m in dict.fromkeys(r["method"] for r in cand):
                mc = [r for r in cand if r["method"] == m]
                top = max(mc, key=lambda r: int(r["anchors"]))
                bars.append((f"{mode}: {m}" if mode == "aligned" else mode, top))
        bars.append(("target", next((r for r in sub if r["mode"] == "target"), None)))
        for name, _ in bars:
            if name not in labels:
                labels.append(name)
        series.append([dict(bars).get(name) for name in labels])
    width = 0.8 / max(1, len(labels))
    for j, name in enumerate(labels):
        xs, ys, err = [], [], []
        for i, s in enumerate(series):
            r = s[j] if j < len(s) else None
            if r is None:
                continue
            xs.append(i + (j - (len(labels) - 1) / 2) * width)
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
    ax.set_xticks(range(len(pairs)), [f"{a} → {b}" for a, b in pairs])
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7.5, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def space_bars(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> bytes | None:
    """Space similarity before vs after alignment, one panel per encoder pair."""
    pairs = _pairs(rows)
    if not pairs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 3.2), squeeze=False)
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
            color = GREY if name == "before" else COLORS[(j - 1) % len(COLORS)]
            ax.bar(xs, [by.get(m, math.nan) for m in metrics], width, label=name, color=color)
        ax.set_xticks(range(len(metrics)), metrics, rotation=20)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{a} → {b}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][-1].legend(fontsize=7.5, frameon=False)
    fig.tight_layout()
    return _png(fig)


def _scatter(ax: Any, rows: list[dict[str, Any]], cls: str, **style: Any) -> None:
    """The PCA points of ``rows`` whose class is ``cls``."""
    pts = [r for r in rows if r["label"] == cls]
    ax.scatter([r["pc1"] for r in pts], [r["pc2"] for r in pts], **style)


def pca_panels(rows: list[dict[str, Any]]) -> bytes | None:
    """Per (pair, method): source anchors in their PCA basis; target + aligned in the target's."""
    combos = list(dict.fromkeys((r["source"], r["target"], r["method"]) for r in rows))
    if not combos:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(combos), 2, figsize=(9.0, 3.6 * len(combos)), squeeze=False)
    classes = sorted({r["label"] for r in rows})
    color = {c: COLORS[i % len(COLORS)] for i, c in enumerate(classes)}
    for (a, b, m), (ax1, ax2) in zip(combos, axes, strict=True):
        sub = [r for r in rows if (r["source"], r["target"], r["method"]) == (a, b, m)]
        role = {k: [r for r in sub if r["role"] == k] for k in ("source", "target", "aligned")}
        for c in classes:
            _scatter(ax1, role["source"], c, s=9, color=color[c], label=c, alpha=0.8)
        ax1.set_title(f"source {a} (own PCA)")
        t = {r["row"]: r for r in role["target"]}
        for r in role["aligned"][:40]:
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
            _scatter(ax2, role["aligned"], c, s=14, color=color[c], marker="x", alpha=0.9, lw=0.8)
        ax2.set_title(f"target {b} (o) and T({a}) by {m} (x)")
        for ax in (ax1, ax2):
            ax.set_xlabel("PC1")
            ax.set_ylabel("PC2")
        ax1.legend(fontsize=7.5, frameon=False)
    fig.tight_layout()
    return _png(fig)


def zeroshot_curves(rows: list[dict[str, Any]], metric: str = "macro_auroc") -> bytes | None:
    """Zero-shot metric vs anchors per method, its shuffled-anchors control and ASIF (CSLS
    scoring dashed, beside cosine); the comparators with no map (and a joint encoder) as
    horizontal dashed lines."""
    uni = [r for r in rows if r["mode"] == "unimodal"]
    if not uni:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    methods = list(dict.fromkeys(r["method"] for r in uni))
    scorings = list(dict.fromkeys(scoring_of(r) for r in rows))
    before = 0

    def curve(sub: list[dict[str, Any]], label: str, color: str, scoring: str) -> None:
        nonlocal before
        pts = [r for r in sub if scoring_of(r) == scoring]
        _curve(ax, pts, metric, label if scoring == "cosine" else f"{label} (CSLS)", color)
        if scoring != "cosine" and len(ax.lines) > before:
            ax.lines[before].set_linestyle("--")
        before = len(ax.lines)

    for sc in scorings:
        for i, m in enumerate(methods):
            curve([r for r in uni if r["method"] == m], f"unimodal: {m}", COLORS[i], sc)
            shuffled = [r for r in rows if r["mode"] == "shuffled-anchors" and r["method"] == m]
            curve(shuffled, f"shuffled anchors: {m}", GREY, sc)
            if sc == "cosine":
                centroid = [r for r in rows if r["mode"] == "anchor-centroid" and r["method"] == m]
                curve(centroid, f"no prompts, anchor centroids: {m}", COLORS[5], sc)
        curve([r for r in rows if r["mode"] == "asif"], "ASIF", COLORS[2], sc)
    fixed = ("nearest-centroid", "linear-probe", "multimodal")
    for mode, color in zip(fixed, (COLORS[3], COLORS[4], "#333333"), strict=True):
        hit = [r for r in rows if r["mode"] == mode and r["metric"] == metric]
        if hit:
            ax.axhline(hit[0]["value"], ls="--", color=color, lw=1.1, label=mode)
    ax.axhline(0.5, ls=":", color=GREY, lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("anchor pairs")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _png(fig)


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
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    P, N = max(y.sum(), 1), max(y.size - y.sum(), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P]


def _settings(scores: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return list(dict.fromkeys((r["mode"], r["method"], r["anchors"]) for r in scores))


def roc_curves(scores: list[dict[str, Any]], rows: list[dict[str, Any]]) -> bytes | None:
    """ROC curve per class for each scored setting; AUROC (from the results rows) in the legend."""
    if not scores:
        return None
    classes = list(dict.fromkeys(r["class"] for r in scores))
    plt = _plt()
    fig, axes = plt.subplots(1, len(classes), figsize=(4.3 * len(classes), 3.9), squeeze=False)
    for ax, c in zip(axes[0], classes, strict=True):
        for i, (mode, method, anchors) in enumerate(_settings(scores)):
            pts = [
                r
                for r in scores
                if (r["mode"], r["method"], r["anchors"]) == (mode, method, anchors)
                and r["class"] == c
            ]
            y = np.array([r["y_true"] for r in pts])
            if y.min() == y.max():
                continue
            fpr, tpr = _roc(y, np.array([r["score"] for r in pts]))
            auc = [
                r
                for r in rows
                if r["mode"] == mode
                and r["method"] == method
                and r["anchors"] == anchors
                and r["metric"] in (f"auroc[{c}]",)
                and scoring_of(r) == "cosine"
                and (r["seed"] == "" or r["seed"] == _first_seed(rows))
            ]
            names = {"unimodal": f"{method}, {anchors} anchors", "asif": f"ASIF, {anchors} anchors"}
            label = names.get(mode, mode)
            if auc:
                label += f" (AUROC {auc[0]['value']:.3f})"
            color = GREY if mode == "shuffled-anchors" else COLORS[i % len(COLORS)]
            ax.step(fpr, tpr, where="post", color=color, label=label, lw=1.6)
        ax.plot([0, 1], [0, 1], ":", color=GREY, lw=0.8)
        ax.set_title(c)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7.5, frameon=False, loc="lower right")
        ax.set_aspect("equal")
    fig.tight_layout()
    return _png(fig)


def confusion(scores: list[dict[str, Any]], rule: str) -> bytes | None:
    """Confusion matrix of the headline unimodal setting (else the first scored setting); for
    pos-neg a positive decision value predicts the label."""
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
