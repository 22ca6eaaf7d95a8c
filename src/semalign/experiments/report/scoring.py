"""The zero-shot section's part on scoring: CSLS beside cosine and the ASIF baseline beside T,
where the task ran them (from ``results/zeroshot.csv`` rows only)."""

from __future__ import annotations

from typing import Any

from semalign.experiments import plots
from semalign.experiments.plots import scoring_of
from semalign.experiments.report.common import cell, group
from semalign.experiments.report.document import Doc

__all__ = ["section"]


def section(doc: Doc, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """CSLS beside cosine and ASIF beside T: macro AUROC at every anchor count (first seed)."""
    doc.h("Scoring (cosine, CSLS) and the ASIF baseline", 3)
    k = meta.get("csls_k", 10)
    if "csls" in meta.get("scoring", []):
        doc.p(
            f"**CSLS** (Conneau et al. 2018, k = {k}) rescores the (images × class prompts) "
            "matrix as 2·cos − r_image − r_class. r_image (an image's mean over its k best class "
            "scores) moves every class of one image equally; r_class (a class's mean over its "
            "k best images) is a property of the *batch* of images scored together. Here the "
            "batch is every evaluated image mapped by the fold's map"
            + (
                ", the held-out image included, unlabelled: transductive but label-free (no "
                "label of any image enters the CSLS terms)"
                if meta.get("split") == "loo"
                else ""
            )
            + ". A batch of one image (single-image prediction) has r_class equal to its own "
            "score, which turns CSLS into the cosine scores minus a constant: the same "
            "decisions as cosine. Within one batch CSLS shifts each class's score column by a "
            "constant (r_image cancels in every decision): under the pos-neg rule it moves only "
            "the threshold and cannot reorder the images on a label, so its AUROC differs from "
            "cosine's only where each fold has its own map and batch (leave-one-out); under "
            "argmax it changes decisions and class log-odds. The shuffled-anchors control is "
            "scored the same way; the anchor centroids and comparators have no prompts and stay "
            "cosine."
        )
    asif = meta.get("asif")
    supervised = (
        " These anchors are label-matched, so ASIF is exactly as supervised as T here."
        if meta.get("protocol") == "label-matched"
        else ""
    )
    if asif and asif.get("select"):
        doc.p(
            "**ASIF** (Norelli et al. 2023): no map; each image is represented by its cosines "
            "to the fold's anchor images, each prompt by its cosines to the same pairs' anchor "
            "reports, kept at the top_k largest and raised to a power, optionally after "
            "subtracting each side's anchor mean; the two codes are compared by cosine with the "
            "same prompt rule, on the same folds, anchor draws and seeds as T. The setting "
            f"(top_k in {asif.get('top_k')}, power in {asif.get('power')}, centring in "
            f"{asif.get('center')}) is chosen in every fold on that fold's own anchor pairs, "
            "never the held-out image's: a quarter of them is held out and the setting whose "
            "held-out pairs find each other best (mean reciprocal rank) is used; the mode "
            f"`asif-sweep` rows of `results/zeroshot.csv` give each setting's held-out score "
            f"and how many folds chose it.{supervised}"
        )
    elif asif:
        used = ", ".join(f"{a} anchors: top_k {t}" for a, t in asif.get("top_k_used", {}).items())
        doc.p(
            "**ASIF** (Norelli et al. 2023): no map; each image is represented by its cosines "
            "to the fold's anchor images, each prompt by its cosines to the same pairs' anchor "
            f"reports, kept at the top_k largest and raised to the power {asif.get('power')}; "
            "the two codes are compared by cosine with the same prompt rule, on the same "
            f"folds, anchor draws and seeds as T. Asked top_k = {asif.get('top_k')}, used "
            f"(capped at the anchor count): {used}.{supervised}"
        )
    n = int(meta.get("n_images") or 0)
    doc.p(
        f"Macro AUROC (first seed, 95% bootstrap CIs over the {n} images) at each anchor count. "
        "Where intervals overlap this broadly, the data cannot rank the settings."
    )
    first = plots._first_seed(rows)
    anchored = [
        r
        for r in rows
        if r["metric"] == "macro_auroc" and r["anchors"] != "" and r["seed"] == first
    ]
    counts = sorted({int(r["anchors"]) for r in anchored})
    body = []
    keyed = [{**r, "scoring": scoring_of(r)} for r in anchored]
    for (mode, method, scoring), g in group(keyed, ("mode", "method", "scoring")).items():
        by = {int(r["anchors"]): r for r in g}
        body.append([mode, method or "", scoring] + [cell(by.get(a)) for a in counts])
    doc.table(["mode", "method", "scoring", *(f"{a} anchors" for a in counts)], body)
