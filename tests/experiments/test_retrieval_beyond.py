"""Retrieval beyond the paper in recipes: CSLS rows, T refined on unpaired pools, ASIF rows.

The runner's rows are checked against direct computations on the same embeddings (read back from
the test store, no model loaded) and the same anchors and pools (read from the recorded ids).
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clitools import fails_cleanly, run
from semalign.errors import InputError
from semalign.experiments import load_recipe, parse_recipe, run_recipe
from semalign.experiments.grid import distinct_cells
from semalign.experiments.recipe import AsifSpec, UnpairedSpec

TASK = "iu-retrieval"
SEEDS = (0, 1, 2)
ANCHORS = (8, 32, 72)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- recipe keys


def _data(**retrieval: Any) -> dict[str, Any]:
    table = {"name": "r", "dataset": "d", "kind": "report-report", "split": "random",
             "pairs": [["a", "b"]], "anchors": [8, 16], **retrieval}  # fmt: skip
    return {
        "datasets": {"d": {"name": "iu-reports"}},
        "encoders": {"a": {"model": "minilm"}, "b": {"model": "e5-small"}},
        "retrieval": [table],
    }


def test_defaults_and_full_keys() -> None:
    spec = parse_recipe(_data()).retrieval[0]
    assert (spec.scorings, spec.csls_k, spec.unpaired, spec.asif) == (["cosine"], 10, None, None)
    assert spec.headline is not None and spec.headline.scoring == "cosine"
    spec = parse_recipe(
        _data(scoring=["csls", "cosine"], csls_k=5, unpaired={"iterations": 3, "max_pseudo": 50},
              asif={"top_k": 4, "power": 2}, headline={"anchors": 8, "scoring": "cosine"})
    ).retrieval[0]  # fmt: skip
    assert spec.scorings == ["csls", "cosine"] and spec.csls_k == 5
    assert spec.unpaired == UnpairedSpec("train-rest", 3, 50)
    assert spec.asif == AsifSpec(4, 2.0)
    assert spec.headline is not None and spec.headline.scoring == "cosine"
    # without a declared headline scoring, the first one listed is reported
    assert parse_recipe(_data(scoring="csls")).retrieval[0].headline.scoring == "csls"  # type: ignore[union-attr]
    assert parse_recipe(_data(unpaired={})).retrieval[0].unpaired == UnpairedSpec()


@pytest.mark.parametrize(
    ("keys", "needle"),
    [
        ({"scoring": ["cosine", "cls"]}, "retrieval[0].scoring has 'cls' (did you mean 'csls'?)"),
        ({"csls_k": 0}, "retrieval[0].csls_k must be an integer >= 1"),
        ({"unpaired": {"iteration": 3}}, "retrieval[0].unpaired.'iteration' (did you mean"),
        ({"unpaired": {"pool": "test"}}, "retrieval[0].unpaired.pool = 'test' is not allowed"),
        ({"unpaired": {"iterations": 0}}, "retrieval[0].unpaired.iterations must be an integer"),
        ({"unpaired": {"max_pseudo": -1}}, "retrieval[0].unpaired.max_pseudo must be an integer"),
        ({"unpaired": True}, "retrieval[0].unpaired must be a table"),
        ({"asif": {"top_k": 0}}, "retrieval[0].asif.top_k must be an integer >= 1"),
        ({"asif": {"power": -1}}, "retrieval[0].asif.power = -1 must be a positive number"),
        ({"asif": {"topk": 8}}, "retrieval[0].asif.'topk' (did you mean 'top_k'?)"),
        ({"headline": {"scoring": "csls"}}, "retrieval[0].headline.scoring = 'csls' is not"),
    ],
)
def test_bad_keys_are_one_line_errors(keys: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_recipe(_data(**keys))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_cli_refuses_a_bad_key_before_any_work(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(
        '[datasets.d]\nname = "iu-reports"\n[encoders.a]\nmodel = "minilm"\n'
        '[encoders.b]\nmodel = "e5-small"\n[[retrieval]]\ndataset = "d"\nkind = "report-report"\n'
        'pairs = [["a", "b"]]\nunpaired = { pool = "train-rest", iteratons = 3 }\n',
        encoding="utf-8",
    )
    proc = run("run", recipe, "--out", tmp_path / "out", "--store", tmp_path / "store")
    fails_cleanly(proc, "retrieval[0].unpaired.'iteratons'", "did you mean 'iterations'?")
    assert not (tmp_path / "out" / "results.json").exists()


# --------------------------------------------------------------------------- the demo run


@pytest.fixture(scope="module")
def demo(small_run, small_recipe: Path, store: Path) -> dict[str, Any]:
    """The small demo's retrieval rows, recorded pools, metadata and embeddings (from the store)."""
    from semalign.experiments.embedding import Embedder
    from semalign.experiments.inputs import gallery_items, read_records, stitch_data

    recipe = load_recipe(small_recipe)
    st = recipe.stitch[0]
    records = read_records(recipe.datasets[st.dataset])
    data = stitch_data(st, records)
    emb = Embedder(store, recipe.encoders)
    xa = emb.embed("minilm", data.items, st.name)[1]
    xb = emb.embed("e5", data.items, st.name)[1]
    spec = recipe.retrieval[0]
    assert spec.gallery == "all-distinct"  # every query also ranks these distractors
    gallery = gallery_items(records, spec.section, spec.kind, data.items).texts
    ga = emb.embed("minilm", gallery, f"{st.name}-gallery")[1]
    gb = emb.embed("e5", gallery, f"{st.name}-gallery")[1]
    assert not emb.loaded  # read back, not re-embedded
    res = small_run.out / "results"
    pools: dict[tuple[int, int], dict[str, list[str]]] = {}
    for r in _csv(res / "retrieval_pools.csv"):
        assert r["setting"] == TASK and int(r["n"]) == len(r["ids"].split())
        pools.setdefault((int(r["anchors"]), int(r["seed"])), {})[r["role"]] = r["ids"].split()
    meta = json.loads((small_run.out / "results.json").read_text())["tasks"]["retrieval"][TASK]
    return {
        "rows": _csv(res / "retrieval.csv"), "pools": pools, "meta": meta, "data": data,
        "xa": xa, "xb": xb, "ga": ga, "gb": gb,
        "row": {i: j for j, i in enumerate(data.items.ids)},
        "recipe": recipe,
    }  # fmt: skip


def test_pools_are_disjoint_from_test_anchors_and_each_other(demo: dict[str, Any]) -> None:
    data = demo["data"]
    test_ids = {data.items.ids[i] for i in data.test.tolist()}
    all_ids = set(data.items.ids)
    n_train = len(all_ids) - len(test_ids)
    assert set(demo["pools"]) == {(k, s) for k in ANCHORS for s in SEEDS}
    for (k, _), cell in demo["pools"].items():
        anchors, u, v = (set(cell[r]) for r in ("anchors", "pool-source", "pool-target"))
        assert set(cell["test"]) == test_ids and len(cell["test"]) == len(test_ids)
        assert len(anchors) == k and (anchors | u | v) <= all_ids - test_ids
        assert not (u & v) and not (u & anchors) and not (v & anchors)
        assert not (u | v) & test_ids
        # every training row not drawn as an anchor is in one pool, halves as documented
        assert len(u) + len(v) + k == n_train and len(u) == (n_train - k) // 2
        assert demo["meta"]["unpaired"]["pool_sizes"][str(k)] == [len(u), len(v)]
    # seeds draw different pools
    assert demo["pools"][8, 0]["pool-source"] != demo["pools"][8, 1]["pool-source"]


def _label(r: dict[str, str], variant: bool = False) -> str:
    """Direction, then the scoring where it is not cosine, then (``variant``) the variant, from
    the row's columns."""
    words = [r["direction"], "" if r["scoring"] in ("", "cosine") else r["scoring"]]
    return " ".join(w for w in [*words, r["variant"] if variant else ""] if w)


def _cells(rows: list[dict[str, str]], mode: str) -> set[tuple[str, ...]]:
    return {(_label(r), r["method"], r["anchors"], r["seed"])
            for r in rows if r["mode"] == mode and r["metric"] == "recall@1"}  # fmt: skip


def test_every_variant_has_its_rows(demo: dict[str, Any]) -> None:
    rows = demo["rows"]
    dirs = ("minilm->e5", "e5->minilm")
    methods = ("orthogonal", "affine", "ridge-cv")
    grid = {(d + tag, m, str(k), str(s)) for d in dirs for tag in ("", " csls@10")
            for m in methods for k in ANCHORS for s in SEEDS}  # fmt: skip
    assert _cells(rows, "aligned") == grid
    assert _cells(rows, "refined") == grid
    asif = {(d, "asif", str(k), str(s)) for d in dirs for k in ANCHORS for s in SEEDS}
    assert _cells(rows, "asif") == asif
    # ASIF's setting is chosen per draw on held-out anchors: one chosen sweep row per cell
    assert all(r["variant"].endswith("(chosen on held-out anchors)")
               for r in rows if r["mode"] == "asif")  # fmt: skip
    chosen = [(r["anchors"], r["seed"]) for r in rows
              if r["mode"] == "asif-sweep" and r["note"] == "chosen"]  # fmt: skip
    assert sorted(chosen) == sorted((str(k), str(s)) for k in ANCHORS for s in SEEDS)
    assert {r["setting"] for r in rows} == {TASK}
    assert len(_cells(rows, "naive")) == 2
    assert {r["n"] for r in rows if r["mode"] != "asif-sweep"} == {"20"}
    # affine needs 385 anchors: undefined with and without refinement, with the reason
    assert all(r["value"] == "" and r["note"] == "skipped: needs >= 385 anchors"
               for r in rows if r["method"] == "affine")  # fmt: skip
    # the refinement records what it did
    refined = [r for r in rows if r["mode"] == "refined" and r["method"] == "orthogonal"]
    assert all("refits=" in r["variant"] and "pseudo=" in r["variant"] for r in refined)


def _rows_of(demo: dict[str, Any], mode: str, label: str, k: int, seed: int) -> dict[str, float]:
    """Metrics of the first-matching cell; ``label``: direction [+ " csls@k"]."""
    out = {}
    for r in demo["rows"]:
        if (r["mode"], r["method"], r["anchors"], r["seed"]) == (mode, "asif" if mode == "asif"
                else "orthogonal", str(k), str(seed)) and _label(r, True) == label:  # fmt: skip
            out[r["metric"]] = float(r["value"])
    assert out, (mode, label, k, seed)
    return out


def _split(demo: dict[str, Any], k: int, seed: int) -> dict[str, np.ndarray]:
    cell = demo["pools"][k, seed]
    return {role: np.array([demo["row"][i] for i in ids]) for role, ids in cell.items()}


def _check(
    rows: dict[str, float], queries: np.ndarray, keys: np.ndarray, extra: np.ndarray, **score: Any
) -> None:
    """The rows equal a direct ranking of ``queries`` among ``keys`` and the distractors
    ``extra`` (the gallery beyond the test rows, in the keys' space)."""
    from semalign.metrics.space import retrieval_outcome

    out = retrieval_outcome(queries, keys, distractors=extra, **score)
    for j in (1, 5, 10):
        assert rows[f"recall@{j}"] == pytest.approx(float(out.recall_at(j).mean()), abs=1e-12)
    assert rows["mrr"] == pytest.approx(float(out.reciprocal_rank().mean()), abs=1e-12)


@pytest.mark.parametrize("k", ANCHORS)
def test_csls_rows_equal_a_direct_computation(demo: dict[str, Any], k: int) -> None:
    from semalign.align import Aligner

    xa, xb, seed = demo["xa"], demo["xb"], 1
    s = _split(demo, k, seed)  # the recorded anchors are the ones plain T was fitted on
    t = Aligner("orthogonal", "standard", seed=seed).fit(xa[s["anchors"]], xb[s["anchors"]])
    mapped, keys = t.transform(xa[s["test"]]), xb[s["test"]]
    ga, gb = t.transform(demo["ga"]), demo["gb"]
    for direction, q, g, e in (
        ("minilm->e5", mapped, keys, gb), ("e5->minilm", keys, mapped, ga)
    ):  # fmt: skip
        csls = _rows_of(demo, "aligned", f"{direction} csls@10", k, seed)
        _check(csls, q, g, e, scoring="csls", csls_k=10)
        plain = _rows_of(demo, "aligned", direction, k, seed)
        _check(plain, q, g, e)


@pytest.mark.parametrize("k", ANCHORS)
def test_refined_rows_equal_a_refinement_on_the_recorded_pools(demo: dict[str, Any], k: int):
    from semalign.align.refine import RefinedAligner

    xa, xb, seed = demo["xa"], demo["xb"], 0
    s = _split(demo, k, seed)
    ref = RefinedAligner("orthogonal", "standard", iterations=10, csls_k=10, seed=seed)
    ref.fit(
        xa[s["anchors"]], xb[s["anchors"]], unpaired=(xa[s["pool-source"]], xb[s["pool-target"]])
    )
    mapped, keys = ref.transform(xa[s["test"]]), xb[s["test"]]
    note = (f" refits={ref.n_iter_} pseudo={ref.pairs_[0].size} "
            f"pools={s['pool-source'].size}/{s['pool-target'].size} kept={ref.kept_}")  # fmt: skip
    ga, gb = ref.transform(demo["ga"]), demo["gb"]
    for direction, q, g, e in (
        ("minilm->e5", mapped, keys, gb), ("e5->minilm", keys, mapped, ga)
    ):  # fmt: skip
        _check(_rows_of(demo, "refined", f"{direction}{note}", k, seed), q, g, e)
        rows = _rows_of(demo, "refined", f"{direction} csls@10{note}", k, seed)
        _check(rows, q, g, e, scoring="csls", csls_k=10)


@pytest.mark.parametrize("k", ANCHORS)
def test_asif_rows_equal_a_direct_asif(demo: dict[str, Any], k: int) -> None:
    from semalign.tasks.asif import AsifSweep, asif_variant

    xa, xb, seed = demo["xa"], demo["xb"], 2
    s = _split(demo, k, seed)
    xs, xt = xa[s["anchors"]], xb[s["anchors"]]
    sweep = AsifSweep([16, 32, 64, 128, 256], [1.0, 4.0, 8.0], [False, True])
    asif = sweep.select(xs, xt, seed)[0].fit(xs, xt)  # the demo's grid, on the cell's anchors
    variant = asif_variant(asif.params_) + " (chosen on held-out anchors)"
    q, g = asif.transform_source(xa[s["test"]]), asif.transform_target(xb[s["test"]])
    qe, ge = asif.transform_source(demo["ga"]), asif.transform_target(demo["gb"])
    for direction, a, b, e in (("minilm->e5", q, g, ge), ("e5->minilm", g, q, qe)):
        _check(_rows_of(demo, "asif", f"{direction} {variant}", k, seed), a, b, e)


def test_report_shows_the_variants(small_run) -> None:
    md = small_run.report_md.read_text(encoding="utf-8")
    appendix = (small_run.out / "appendix.md").read_text(encoding="utf-8")
    section = appendix.split(f"## Retrieval: {TASK}", 1)[1]
    disjoint = "the pools share no row with the test set, the anchors or each other"
    for text in ("**CSLS**", "**Refinement on unpaired pools**", "**ASIF**", disjoint):
        assert text in section, text
    body = md.split(f"## Retrieval: {TASK}", 1)[1]
    for text in ("*CSLS*", "*refined*", "*ASIF*", "Stopping rule:"):
        assert text in body, text
    assert (small_run.out / "figures" / f"{TASK}-anchor-efficiency.png").is_file()
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "refined + CSLS" in summary and "ASIF" in summary


# --------------------------------------------------------------------------- the step cache


def test_step_cache_tells_the_settings_apart(
    small_run, small_recipe: Path, store: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(small_recipe)
    spec = recipe.retrieval[0]

    def steps(**changes: Any) -> tuple[int, list[dict[str, str]]]:
        changed = replace(recipe, zeroshot=[], retrieval=[replace(spec, **changes)])
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        summary = run_recipe(changed, out, store=store, progress=False, report=False)
        assert summary.models_loaded == []
        return summary.steps_computed, _csv(out / "results" / "retrieval.csv")

    # per pair: one refined unit per distinct (method, scaling) and one comparisons unit (the
    # headline's seed means and paired differences, keyed by the scorings, csls_k and ASIF)
    cells = len(distinct_cells(spec.methods, spec.scalings)[0])
    assert len(spec.pairs) == 1 and cells >= 2
    # cosine only: the refined units and the comparisons; no CSLS row left
    n, rows = steps(scorings=["cosine"])
    assert n == cells + 1 and not any("csls@" in r["scoring"] for r in rows)
    # a new csls_k: every method's CSLS unit, every refined unit and the comparisons
    n, rows = steps(csls_k=5)
    assert n == 2 * cells + 1 and any(r["scoring"] == "csls@5" for r in rows)
    assert steps(unpaired=replace(spec.unpaired, iterations=2))[0] == cells  # the refined units
    n, rows = steps(asif=AsifSpec(top_k=800, power=4.0))  # the ASIF unit and the comparisons
    assert n == 2 and any("power=4" in r["variant"] for r in rows)
    n, rows = steps(unpaired=None, asif=None)  # the comparisons only (no ASIF difference)
    assert n == 1 and {r["mode"] for r in rows} == {"naive", "aligned"}
