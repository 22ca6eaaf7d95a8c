"""The demo recipe end to end at test size: results files, report numbers, caching, the CLI."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from clitools import TIMEOUT
from semalign.experiments import load_recipe, run_recipe
from semalign.experiments.report import fmt

KEYS = ("source", "target", "mode", "method", "scaling", "anchors", "seed")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _num(s: str) -> float:
    return float(s) if s else float("nan")


def _formatted(rows: list[dict[str, str]], ci: bool = True) -> dict[tuple[str, ...], str]:
    """Formatted cells keyed by KEYS + scoring + metric."""
    out = {}
    for r in rows:
        lo, hi = (_num(r["ci_low"]), _num(r["ci_high"])) if ci else (float("nan"),) * 2
        scoring = "csls" if r["scoring"].startswith("csls") else "cosine"
        out[(*(r[k] for k in KEYS), scoring, r["metric"])] = fmt(_num(r["value"]), lo, hi)
    return out


def _md_tables(text: str) -> list[list[list[str]]]:
    tables, cur = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cur.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    return tables


def test_results_files(small_run) -> None:
    res = small_run.out / "results"
    for name in ("stitch", "zeroshot", "space", "zeroshot_scores", "pca", "retrieval",
                 "stitch_predictions", "stitch_confusion"):  # fmt: skip
        assert (res / f"{name}.csv").is_file(), name
    stitch = _csv(res / "stitch.csv")
    modes = {r["mode"] for r in stitch}
    assert modes == {"majority", "end-to-end", "target", "naive", "aligned", "relative"}
    assert {(r["source"], r["target"]) for r in stitch if r["mode"] == "majority"} == {("", "")}
    both = {(r["source"], r["target"]) for r in stitch if r["mode"] != "majority"}
    assert both == {("minilm", "e5"), ("e5", "minilm")}
    acc = {(r["source"], r["mode"], r["method"], r["anchors"], r["seed"]): _num(r["value"])
           for r in stitch if r["metric"] == "accuracy"}  # fmt: skip
    # four classes: an aligned map with enough anchors beats chance and the naive stitch
    for src in ("minilm", "e5"):
        aligned = acc[(src, "aligned", "orthogonal", "72", "0")]
        assert aligned > 0.4 and aligned > acc[(src, "naive", "", "", "")]
    # affine needs d + 1 = 385 anchors: reported as undefined, not dropped
    assert all(r["value"] == "" for r in stitch if r["method"] == "affine")
    zs = _csv(res / "zeroshot.csv")
    modes = {"unimodal", "shuffled-anchors", "anchor-centroid", "nearest-centroid", "linear-probe"}
    assert {r["mode"] for r in zs} == modes | {"asif", "asif-sweep"}  # + ASIF's held-out sweep
    # CSLS rows beside cosine for the prompt modes only; ASIF's used top_k is recorded
    csls = {r["mode"] for r in zs if r["scoring"] == "csls@10"}
    assert not any("scoring=" in r["setting"] or "skipped" in r["setting"] for r in zs)
    assert csls == {"unimodal", "shuffled-anchors", "asif"}
    assert {r["n"] for r in zs if r["mode"] != "asif-sweep"} == {"16"}  # sweep: held-out pairs
    meta = json.loads((small_run.out / "results.json").read_text())
    st = meta["tasks"]["stitch"]["iu-stitch"]
    assert st["class_counts"]["effusion"] == 25
    # deduplicated by normalised text: every item is a distinct text, fewer than the records
    assert st["distinct_texts"] == st["n_items"] == 100
    assert st["dedup_counts"]["distinct"] < st["dedup_counts"]["records"]
    assert meta["tasks"]["zeroshot"]["kermany-label-matched"]["protocol"] == "label-matched"
    ret = _csv(res / "retrieval.csv")
    assert len(meta["rows"]) == len(stitch) + len(zs) + len(_csv(res / "space.csv")) + len(ret)
    # report retrieval reuses the stitch task's items and test split: 20 test reports
    modes = {"naive", "aligned", "refined", "asif", "asif-sweep"}
    assert {r["mode"] for r in ret} == modes
    assert {r["n"] for r in ret if r["mode"] != "asif-sweep"} == {"20"}
    assert {r["setting"] for r in ret} == {"iu-retrieval"}
    r1 = {(r["direction"], r["mode"], r["method"], r["anchors"], r["seed"], r["scoring"]):
          _num(r["value"]) for r in ret if r["metric"] == "recall@1"}  # fmt: skip
    # the 20 test reports rank among every distinct IU impression outside the task
    gallery = meta["tasks"]["retrieval"]["iu-retrieval"]["gallery"]
    assert gallery["kind"] == "all-distinct" and gallery["size"] == 20 + gallery["distractors"]
    assert gallery["distractors"] > 500
    for d in ("minilm->e5", "e5->minilm"):
        aligned = r1[(d, "aligned", "orthogonal", "72", "0", "cosine")]
        naive = r1[(d, "naive", "", "", "", "cosine")]
        assert aligned > max(0.25, naive + 0.2, 50 / gallery["size"])  # chance: 1 / size
    assert meta["tasks"]["retrieval"]["iu-retrieval"]["n_train"] == 80
    asif = meta["tasks"]["zeroshot"]["kermany-label-matched"]["asif"]
    sweep = (asif["select"], asif["top_k"], asif["top_k_used"])  # chosen per fold
    assert sweep == ("held-out-anchors", [4, 8, 16, 32], None)
    sizes = [r for r in _csv(res / "space.csv") if r["mode"] == "sample-size"]
    assert {r["n"] for r in sizes} == {"16", "32", "64"}
    assert {(r["source"], r["target"]) for r in sizes} == {("minilm", "e5")}  # one per pair
    assert {r["metric"] for r in sizes} == {
        "cka", "unbiased_cka", "mutual_knn@10", "cknna@10", "knn_jaccard@10"
    }  # fmt: skip


RETRIEVAL_KEYS = ("source", "target", "direction", "mode", "method", "scaling", "scoring",
                  "refinement", "anchors", "seed")  # fmt: skip


def _variant(row: dict[str, str]) -> tuple[str, str]:
    """(scoring, refinement) of a retrieval row, from its columns."""
    f = dict(w.split("=") for w in row["variant"].split() if w.count("=") == 1)
    refinement = "refined" if row["mode"] == "refined" else "none"
    if refinement == "refined" and "refits" in f:
        refinement = f"{f['refits']} refits, {f['pseudo']} pseudo-pairs, pools {f['pools']}"
    return row["scoring"] or "cosine", refinement


def _retrieval_cells(rows: list[dict[str, str]]) -> dict[tuple[str, ...], str]:
    out = {}
    for r in rows:
        key = (r["source"], r["target"], r["direction"], *(r[k] for k in RETRIEVAL_KEYS[3:6]),
               *_variant(r), r["anchors"], r["seed"])  # fmt: skip
        out[(*key, r["metric"])] = fmt(_num(r["value"]), _num(r["ci_low"]), _num(r["ci_high"]))
    return out


def test_report_retrieval_numbers_come_from_results(small_run) -> None:
    rows = _csv(small_run.out / "results" / "retrieval.csv")
    expected = _retrieval_cells([r for r in rows if r["mode"] != "asif-sweep"])  # not tabled
    md = small_run.report_md.read_text(encoding="utf-8")
    appendix = (small_run.out / "appendix.md").read_text(encoding="utf-8")
    html = (small_run.out / "appendix.html").read_text(encoding="utf-8")
    assert "## Retrieval: iu-retrieval" in md and "not clinical image→report retrieval" in md
    assert not [t for t in _md_tables(md) if tuple(t[0][:10]) == RETRIEVAL_KEYS]
    tables = [t for t in _md_tables(appendix) if tuple(t[0][:10]) == RETRIEVAL_KEYS]
    assert len(tables) == 1
    header, body = tables[0][0], tables[0][2:]
    assert header[10:] == ["recall@1", "mrr", "recall@5", "recall@10"]  # R@1 and MRR lead
    shown = set()
    for row in body:
        for metric, cell in zip(header[10:], row[10:], strict=True):
            assert cell == expected.get((*row[:10], metric), "n/a"), (row, metric)
            assert f"<td>{cell}</td>" in html
            shown.add((*row[:10], metric))
    # every row of every seed with a value is in the appendix's table; the settings with no
    # value at all are one sentence each in the main body
    assert {k for k, v in expected.items() if v != "n/a"} <= shown
    assert "n/a for direction `minilm->e5` / `e5->minilm`, mode `aligned` / `refined`, " in md
    assert (
        "iu-retrieval-recall" in md
        and (small_run.out / "figures/iu-retrieval-recall.png").is_file()
    )


def test_report_numbers_come_from_results(small_run) -> None:
    res = small_run.out / "results"
    cells = _formatted(_csv(res / "stitch.csv")) | _formatted(_csv(res / "zeroshot.csv"))
    cells |= _retrieval_cells(_csv(res / "retrieval.csv"))
    space = _formatted(_csv(res / "space.csv"), ci=False)
    main = small_run.report_md.read_text(encoding="utf-8")
    md = main + (small_run.out / "appendix.md").read_text(encoding="utf-8")
    html = small_run.report_html.read_text(encoding="utf-8")
    html += (small_run.out / "appendix.html").read_text(encoding="utf-8")
    checked = 0
    for table in _md_tables(md):
        header, body = table[0], table[2:]
        if tuple(header[:7]) == KEYS:
            at = 8 if header[7] == "scoring" else 7
            for row in body:
                scoring = row[7] if at == 8 else "cosine"
                for metric, cell in zip(header[at:], row[at:], strict=True):
                    if cell:
                        assert cell == cells[(*row[:7], scoring, metric)], (row, metric)
                        assert f"<td>{cell}</td>" in html
                        checked += 1
        elif header[:3] == ["source", "target", "mode"] and "cka" in header:
            for row in body:
                src, tgt, mode, method, _ = row[:5]
                for metric, cell in zip(header[5:], row[5:], strict=True):
                    hits = [v for k, v in space.items() if k[0] == src and k[1] == tgt
                            and k[2] == mode and k[3] == method and k[8] == metric]  # fmt: skip
                    assert cell == (hits[0] if hits else "n/a")
                    checked += 1
    assert checked > 100
    # the space-vs-n table: mean [2.5, 97.5 percentiles] of each (pair, n, metric)
    sizes = {(r["source"], r["target"], r["n"], r["metric"]): fmt(
        _num(r["value"]), _num(r["ci_low"]), _num(r["ci_high"]))
        for r in _csv(res / "space.csv") if r["mode"] == "sample-size"}  # fmt: skip
    (table,) = [t for t in _md_tables(md) if t[0][:3] == ["source", "target", "n"]]
    for row in table[2:]:
        for metric, cell in zip(table[0][3:], row[3:], strict=True):
            assert cell == sizes[(*row[:3], metric)]
            checked += 1
    assert "## Space similarity: iu-stitch" in md and "These metrics drift with n" in md
    # every "value [low, high]" anywhere in the report (summary included) is a results row,
    # seed means, paired differences and null ranges included (results/comparisons.csv)
    quoted = set(re.findall(r"-?\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]", md))
    comparisons = {fmt(_num(r["value"]), _num(r["ci_low"]), _num(r["ci_high"]))
                   for r in _csv(res / "comparisons.csv")}  # fmt: skip
    assert quoted and quoted <= set(cells.values()) | set(sizes.values()) | comparisons
    assert "Scoring (cosine, CSLS) and the ASIF baseline" in md
    assert "ASIF is exactly as supervised as T here" in md and "transductive but label-free" in main
    assert "Limits" in main and "16 images" in main
    assert "label-matched anchors — supervised, few-shot, not zero-shot" in main
    assert "The data that ship offline allow no true zero-shot" in main
    assert main.count("declared in the recipe's `headline`") == 3  # stitch, zero-shot, retrieval
    assert "distinct texts" in main
    # the main body holds no per-seed table: every table row of it is a headline setting, a
    # class, a timing step, or a confusion count
    assert len([ln for ln in main.splitlines() if ln.startswith("|")]) < 80


def test_summary_is_the_headline_cell(small_run) -> None:
    """The summary leads with the headline map's mean over seeds (and its interval) from
    results/comparisons.csv, beside the first-seed-free baselines of results/stitch.csv."""
    rows = _csv(small_run.out / "results" / "stitch.csv")
    comp = _csv(small_run.out / "results" / "comparisons.csv")
    md = small_run.report_md.read_text(encoding="utf-8")
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    for src, tgt in (("minilm", "e5"), ("e5", "minilm")):
        (mean,) = [r for r in comp if (r["source"], r["target"], r["mode"], r["method"],
                   r["anchors"], r["variant"], r["metric"]) == (src, tgt, "aligned", "orthogonal",
                   "72", "seed-mean", "balanced_accuracy")]  # fmt: skip
        value = fmt(_num(mean["value"]), _num(mean["ci_low"]), _num(mean["ci_high"]))
        assert f"aligned (orthogonal, standard, 72 anchors) {value} (mean over seeds" in summary
        (target,) = [r for r in rows if (r["source"], r["target"], r["mode"], r["metric"])
                     == (src, tgt, "target", "balanced_accuracy")]  # fmt: skip
        value = fmt(_num(target["value"]), _num(target["ci_low"]), _num(target["ci_high"]))
        assert f"; target {value}" in summary
    assert summary.count("majority floor 0.250") == 2


def test_html_is_self_contained(small_run) -> None:
    html = small_run.report_html.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 6
    assert not re.search(r"(src|href)=\"(https?:|//|figures/)", html)


def test_rerun_recomputes_nothing(small_run, small_recipe: Path, store: Path) -> None:
    before = {p.name: p.read_bytes() for p in (small_run.out / "results").glob("*.csv")}
    again = run_recipe(load_recipe(small_recipe), small_run.out, store=store, progress=False)
    assert again.models_loaded == []
    assert again.embeddings_computed == 0 and again.steps_computed == 0
    assert again.steps_reused == small_run.steps_computed + small_run.steps_reused
    after = {p.name: p.read_bytes() for p in (small_run.out / "results").glob("*.csv")}
    assert after == before and "retrieval.csv" in after


def test_changing_one_method_recomputes_only_it(small_run, small_recipe: Path, store: Path,
                                                tmp_path: Path) -> None:  # fmt: skip
    import shutil

    out = tmp_path / "out"
    shutil.copytree(small_run.out, out)
    recipe = load_recipe(small_recipe)
    st = replace(recipe.stitch[0], methods=["orthogonal", "similarity"])
    rt = replace(recipe.retrieval[0], methods=["orthogonal", "similarity"])
    changed = replace(recipe, stitch=[st], retrieval=[rt])
    summary = run_recipe(changed, out, store=store, progress=False)
    assert summary.models_loaded == []
    # one (similarity) stitch unit per encoder pair + retrieval: one per scoring, one refined,
    # and the comparisons unit, which pairs the headline map with every other method
    assert summary.steps_computed == 6
    for name in ("stitch", "retrieval"):
        methods = {r["method"] for r in _csv(out / "results" / f"{name}.csv")}
        assert "similarity" in methods and "affine" not in methods, name


def test_cli_run_warm(small_run, small_recipe: Path, store: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-out"
    proc = subprocess.run(
        [sys.executable, "-m", "semalign", "run", str(small_recipe), "--out", str(out),
         "--store", str(store)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "models loaded: none" in proc.stdout
    assert f"report:  {out / 'report.html'}" in proc.stdout
    assert (out / "report.md").is_file()


def test_new_settings_are_in_the_step_keys(small_run, small_recipe: Path, store: Path,
                                           tmp_path: Path) -> None:  # fmt: skip
    from semalign.experiments.recipe import AsifSpec

    recipe = load_recipe(small_recipe)
    z, st = recipe.zeroshot[0], recipe.stitch[0]
    cases = {
        "asif": (replace(recipe, zeroshot=[replace(z, asif=AsifSpec(800, 4.0))]), 1),
        # every unit scored by prompts: the method unit and ASIF
        "csls_k": (replace(recipe, zeroshot=[replace(z, csls_k=5)]), 2),
        "scoring": (replace(recipe, zeroshot=[replace(z, scoring=["cosine"])]), 2),
        "space_repeats": (replace(recipe, stitch=[replace(st, space_repeats=3)]), 1),
        "space_sizes": (replace(recipe, stitch=[replace(st, space_sizes=[16, 64])]), 1),
    }
    for name, (changed, units) in cases.items():
        summary = run_recipe(changed, tmp_path / name, store=store, progress=False, report=False)
        assert summary.models_loaded == [] and summary.steps_computed == units, name
