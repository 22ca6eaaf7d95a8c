"""The report: Markdown and a self-contained HTML page, generated from the results files only.

``write_report(OUT)`` reads ``OUT/results/*.csv`` and ``OUT/results.json`` (never the models or
the cache) and writes ``OUT/report.md`` (figures as ``OUT/figures/*.png``) and ``OUT/report.html``
(the same content, figures embedded as base64 PNG, no external resources): the main body, with
each task's headline table, figures and reading; and ``OUT/appendix.md`` / ``appendix.html``,
every per-seed and per-setting table.

One module per part: ``document`` (the document model and its Markdown / HTML writers),
``common`` (reading rows, formatting, headline rows, tables), ``summary``, ``stitching`` (with
``space``), ``zeroshot`` (with ``scoring``), ``retrieval``, ``comparisons`` (each task's means
over seeds, paired differences and permutation control), ``reproducibility`` (splits files,
encoders, environment) and ``timing``.
"""

from __future__ import annotations

import json
from pathlib import Path

from semalign.artefacts import atomic_write_bytes
from semalign.experiments.report import (
    comparisons,
    reproducibility,
    retrieval,
    stitching,
    summary,
    timing,
    zeroshot,
)
from semalign.experiments.report.common import fmt, of_task, read_rows
from semalign.experiments.report.document import Block, Doc

__all__ = ["APPENDIX", "Doc", "build", "fmt", "read_rows", "write_report"]

APPENDIX = "appendix"  # the appendix's file stem: OUT/appendix.md and OUT/appendix.html


def build(out: Path) -> tuple[Doc, str]:
    """The report document built from ``out``'s results files, and its title."""
    meta = json.loads((out / "results.json").read_text(encoding="utf-8"))
    res = out / "results"
    stitch_rows = read_rows(res / "stitch.csv")
    # mode asif-sweep rows (ASIF's held-out choice of settings) stay in the CSVs, not in tables
    zs_rows = [r for r in read_rows(res / "zeroshot.csv") if r["mode"] != "asif-sweep"]
    space_rows = read_rows(res / "space.csv")
    scores = read_rows(res / "zeroshot_scores.csv")
    pca = read_rows(res / "pca.csv")
    confusion = read_rows(res / "stitch_confusion.csv")
    comp_rows = read_rows(res / "comparisons.csv")
    ret_rows = [r for r in read_rows(res / "retrieval.csv") if r["mode"] != "asif-sweep"]
    recipe = meta.get("recipe", {})
    title = recipe.get("title") or f"semalign report: {recipe.get('name')}"
    doc = Doc()
    doc.h(title, 1)
    if recipe.get("notes"):
        doc.p(" ".join(recipe["notes"].split()))
    doc.p(
        f"Recipe `{recipe.get('name')}`; {recipe.get('bootstrap')} bootstrap resamples for every "
        "CI. Every number below is read from `results/*.csv` (see `results.json`). Each task "
        "has one headline table, its figures and one paragraph on what it shows and what it "
        "cannot; every seed, anchor count and setting, the per-class tables, the statistics "
        f"tables and the longer method descriptions are in the [appendix]({APPENDIX}.md)."
    )
    tasks = meta.get("tasks", {})
    summary.section(doc, tasks, stitch_rows, zs_rows, ret_rows, comp_rows)
    for name, m in tasks.get("stitch", {}).items():
        stitching.section(
            doc,
            name,
            m,
            of_task(stitch_rows, name),
            of_task(space_rows, name),
            [r for r in pca if r.get("setting") == name],
            [r for r in confusion if r.get("setting") == name],
            of_task(comp_rows, name),
        )
        comparisons.section(doc.appendix, name, m, of_task(comp_rows, name), "stitch")
    for name, m in tasks.get("zeroshot", {}).items():
        zeroshot.section(
            doc,
            name,
            m,
            of_task(zs_rows, name),
            [r for r in scores if r.get("setting") == name],
            of_task(comp_rows, name),
        )
        comparisons.section(doc.appendix, name, m, of_task(comp_rows, name), "zeroshot")
    for name, m in tasks.get("retrieval", {}).items():
        retrieval.section(doc, name, m, of_task(ret_rows, name), of_task(comp_rows, name))
        comparisons.section(doc.appendix, name, m, of_task(comp_rows, name), "retrieval")
    doc.h("Files")
    doc.bullets(f"`results/{f}`" for f in meta.get("files", []))
    reproducibility.section(doc, meta)
    timing.section(doc, meta.get("timings"))
    return doc, title


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``figures/``) and the self-contained ``report.html`` in ``out``,
    and the appendix beside them (``appendix.md``, ``appendix.html``)."""
    out = Path(out)
    doc, title = build(out)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    for name, png in {**doc.figures, **doc.appendix.figures}.items():
        atomic_write_bytes(figures / f"{name}.png", png)
    md, page = out / "report.md", out / "report.html"
    appendix = doc.appendix
    appendix.blocks.insert(0, Block("heading", f"Appendix: {title}", 1))
    appendix.blocks.insert(
        1, Block("text", "The tables behind the [report](report.md), task by task.")
    )
    for doc_, stem, head in ((doc, "report", title), (appendix, APPENDIX, f"Appendix: {title}")):
        atomic_write_bytes(out / f"{stem}.md", doc_.markdown().encode("utf-8"))
        atomic_write_bytes(out / f"{stem}.html", doc_.html(head).encode("utf-8"))
    return md, page
