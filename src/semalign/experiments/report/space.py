"""The report's space-similarity parts of a stitch task: the before/after-alignment table on the
test rows (``results/space.csv``), and the raw spaces at several sample sizes (mode
``sample-size``), their own section."""

from __future__ import annotations

import math
from typing import Any

from semalign.experiments import plots
from semalign.experiments.report.common import fmt, group, metric_cells
from semalign.experiments.report.document import Doc

__all__ = ["SAMPLE_SIZE", "SPACE", "before_after", "sizes_section"]

SPACE = ("cka", "knn_jaccard@10", "top1", "mrr", "cosine")
SAMPLE_SIZE = "sample-size"  # mode of the raw-space rows at several sample sizes (units.py)


def before_after(doc: Doc, name: str, space: list[dict[str, Any]]) -> None:
    """Source and target compared before alignment and after, per method, on the test rows:
    the figure in ``doc``, the table in its appendix."""
    doc.h("Space similarity before and after alignment", 3)
    doc.p(
        "On the test rows: *before* compares the source embeddings (zero-padded or truncated)"
        " with the target's; *after* compares T(source) with the target at the most anchors. "
        "`cka`: linear CKA; `knn_jaccard@10`: overlap of the 10 nearest neighbours; `top1` "
        "and `mrr`: retrieval of each item's own target embedding; `cosine`: mean cosine of "
        "the pairs. `source_cka` is the CKA of the untouched spaces (no map needed)."
    )
    doc.figure(
        f"{name}-space",
        plots.space_bars(space, SPACE),
        "Space similarity of source and target on the test rows, before alignment (grey: "
        "source zero-padded or truncated) and after it (per method, at the most anchors, first "
        "seed). Each bar's value is written above it: top1 and mrr before alignment are near "
        "zero, not missing. Linear CKA is unchanged by rotations and isotropic scaling, so "
        "under `orthogonal` a change in `cka` comes from the per-dimension `standard` scaling "
        "that wraps the map (each dimension centred and divided by its anchor standard "
        "deviation before the rotation, the target's scale restored after it), or, where the "
        "source has more dimensions than the target, from the projection onto fewer.",
    )
    body = []
    for k, g in group(space, ("source", "target", "mode", "method", "anchors")).items():
        by = {r["metric"]: r["value"] for r in g}
        body.append([*map(str, k)] + [fmt(by.get(m, math.nan)) for m in (*SPACE, "source_cka")])
    doc.appendix.h("Space similarity before and after alignment", 3)
    doc.appendix.table(
        ["source", "target", "mode", "method", "anchors", *SPACE, "source_cka"], body
    )


def sizes_section(doc: Doc, name: str, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Raw-space similarity (no map) of each pair at each sample size: the draws' mean and
    2.5-97.5 percentiles: the figure in ``doc``, the table in its appendix."""
    k = meta.get("space_k", 10)
    metrics = ["cka", "unbiased_cka", f"mutual_knn@{k}", f"cknna@{k}", f"knn_jaccard@{k}"]
    doc.h(f"Space similarity: {name}")
    doc.p(
        f"How similar the two encoders' raw spaces are (no map), on random subsamples of the "
        f"task's {meta.get('n_items')} items (all of them, training and test rows alike: "
        "nothing here is fitted), at each sample size n: "
        f"{meta.get('space_repeats')} seeded draws per n, each a nested chain (a larger sample "
        "of a draw contains its smaller ones). `cka`: linear CKA; `unbiased_cka`: CKA with the "
        f"unbiased HSIC estimator; `mutual_knn@{k}`: mean shared fraction of the {k} cosine "
        f"nearest neighbours (Huh et al. 2024); `cknna@{k}`: CKA restricted to mutual "
        f"neighbours; `knn_jaccard@{k}`: Jaccard overlap of the {k}-NN sets. Values are the "
        "mean over the draws; brackets hold the 2.5-97.5 percentiles of the draws (the spread "
        "of one sample of that size; it vanishes where n is every item). Each pair is measured "
        "once: every metric is symmetric."
    )
    doc.p(
        "**These metrics drift with n.** At a fixed k the neighbourhoods cover a smaller "
        "fraction of a larger sample, so the k-NN metrics change with n, and linear CKA is "
        "biased upwards when n is small against the widths (the unbiased estimator removes that "
        "bias): compare two pairs of spaces only at the same n, never across sample sizes."
    )
    doc.figure(
        f"{name}-space-vs-n",
        plots.space_vs_n(rows, metrics),
        "Raw-space similarity vs sample size n (mean over the draws; band: 2.5-97.5 "
        "percentiles of the draws).",
    )
    body = []
    for (src, tgt, n), g in group(rows, ("source", "target", "n")).items():
        body.append([src, tgt, str(n), *metric_cells(g, metrics)])
    body.sort(key=lambda r: (r[0], r[1], int(r[2])))
    doc.appendix.h(f"Space similarity at each sample size: {name}", 3)
    doc.appendix.table(["source", "target", "n", *metrics], body)
