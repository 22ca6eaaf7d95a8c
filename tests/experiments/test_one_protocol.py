"""One protocol, three doors: the Python API, the CLI and a recipe give the same rows for the
same setting (one seed, one split), because all three run the cells of ``semalign.tasks``."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from clitools import TIMEOUT
from semalign.experiments import load_recipe
from semalign.experiments.embedding import Embedder
from semalign.experiments.inputs import gallery_items, read_records, stitch_data
from semalign.tasks import retrieve, stitch

MODES = ("end-to-end", "target", "naive", "aligned", "relative")


def _num(v: object) -> float:
    return math.nan if v in ("", None) else float(v)  # type: ignore[arg-type]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _key(r: dict, *extra: str) -> tuple:
    return tuple(str(r[k] if r[k] is not None else "") for k in
                 ("mode", "method", "scaling", "anchors", "seed", *extra, "metric"))  # fmt: skip


def _recipe_inputs(small_recipe: Path, store: Path):
    recipe = load_recipe(small_recipe)
    spec = recipe.stitch[0]
    data = stitch_data(spec, read_records(recipe.datasets[spec.dataset]))
    emb = Embedder(store, recipe.encoders)
    a, b = spec.pairs[0]
    xa, xb = emb.embed(a, data.items, spec.name)[1], emb.embed(b, data.items, spec.name)[1]
    assert not emb.loaded  # read back from the run's store entries
    return recipe, spec, data, (a, b), xa, xb


def _rows(path: Path, a: str, b: str) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if (r["source"], r["target"]) == (a, b)]


def _check(recipe_rows: list[dict], other: dict[tuple, dict], first_seed: str, *extra: str) -> int:
    """Every recipe row has the same value in ``other`` (keyed by :func:`_key` with ``extra``
    columns); CIs too where the recipe has them."""
    for r in recipe_rows:
        o = other[_key(r, *extra)]
        assert _same(_num(r["value"]), _num(o["value"])), (r, o)
        assert r["note"] == (o["note"] or ""), (r, o)
        if r["seed"] in ("", first_seed) and not math.isnan(_num(r["ci_low"])):
            assert _same(_num(r["ci_low"]), _num(o["ci_low"])), (r, o)
            assert _same(_num(r["ci_high"]), _num(o["ci_high"])), (r, o)
    return len(recipe_rows)


def test_stitch_rows_from_api_cli_and_recipe_agree(small_run, small_recipe, store, tmp_path):
    recipe, spec, data, (a, b), xa, xb = _recipe_inputs(small_recipe, store)
    kw = {
        "methods": list(spec.methods), "scalings": list(spec.scalings),
        "anchor_counts": list(spec.anchors), "seeds": list(spec.seeds),
        "anchor_strategy": spec.anchor_strategy, "n_resamples": recipe.bootstrap,
    }  # fmt: skip
    api = stitch(xa, xb, data.y, test=data.test, modes=MODES, source_name=a, target_name=b, **kw)
    api_rows = {_key(r): r for r in api.to_records()}
    # the CLI on the same arrays, with the recipe's split as a split column
    np.save(tmp_path / "a.npy", xa)
    np.save(tmp_path / "b.npy", xb)
    split = np.full(len(data.y), "train", dtype=object)
    split[data.test] = "test"
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["finding", "split"])
        w.writerows(zip(data.y.tolist(), split.tolist(), strict=True))
    proc = subprocess.run(
        [sys.executable, "-m", "semalign", "stitch", str(tmp_path / "a.npy"),
         str(tmp_path / "b.npy"), "--labels", str(tmp_path / "labels.csv"), "--label-column",
         "finding", "--split-column", "split", "--methods", ",".join(spec.methods),
         "--scalings", ",".join(spec.scalings), "--anchors", ",".join(map(str, spec.anchors)),
         "--seeds", ",".join(map(str, spec.seeds)), "--anchor-strategy", spec.anchor_strategy,
         "--resamples", str(recipe.bootstrap), "--modes", ",".join(MODES), "--source-name", a,
         "--target-name", b, "--json", str(tmp_path / "cli.json")],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cli_rows = {_key(r): r for r in json.loads((tmp_path / "cli.json").read_text())["rows"]}
    assert set(cli_rows) == set(api_rows)
    for k, r in api_rows.items():
        for col in ("value", "ci_low", "ci_high", "n", "note"):
            assert (
                _same(_num(r[col]), _num(cli_rows[k][col]))
                if col != "note"
                else (r[col] == cli_rows[k][col])
            ), (k, col)
    rows = [r for r in _rows(small_run.out / "results" / "stitch.csv", a, b)]
    assert {r["setting"] for r in rows} == {spec.name}
    first = str(spec.seeds[0])
    assert _check(rows, api_rows, first) > 50
    # the recipe's aligned cells are every cell the API has (relative: first seed, <= 256)
    aligned = {k for k in api_rows if k[0] == "aligned"}
    assert aligned == {_key(r) for r in rows if r["mode"] == "aligned"}


def test_retrieval_rows_from_api_and_recipe_agree(small_run, small_recipe, store) -> None:
    recipe, _, data, (a, b), xa, xb = _recipe_inputs(small_recipe, store)
    spec = next(r for r in recipe.retrieval if r.items_from is not None)
    assert tuple(spec.pairs[0]) == (a, b)
    rows = [r for r in _rows(small_run.out / "results" / "retrieval.csv", a, b)
            if r["mode"] in ("naive", "aligned")]  # fmt: skip
    names = {"image->report": f"{a}->{b}", "report->image": f"{b}->{a}"}
    distractors = None
    if spec.gallery == "all-distinct":  # the recipe ranks among the test rows and the rest
        records = read_records(recipe.datasets[spec.dataset])
        gallery = gallery_items(records, spec.section, spec.kind, data.items)
        emb = Embedder(store, recipe.encoders)
        what = f"{spec.items_from}-gallery"
        distractors = (emb.embed(a, gallery.texts, what)[1], emb.embed(b, gallery.texts, what)[1])
        assert not emb.loaded and len(gallery.texts) > 0
    api: dict[tuple, dict] = {}
    for scoring in spec.scorings:
        table = retrieve(
            xa, xb, test=data.test, methods=list(spec.methods), scalings=list(spec.scalings),
            anchor_counts=list(spec.anchors), seeds=list(spec.seeds),
            anchor_strategy=spec.anchor_strategy, ks=list(spec.ks), n_resamples=recipe.bootstrap,
            scoring=scoring, csls_k=spec.csls_k, naive=scoring == "cosine",
            distractors=distractors,
        )  # fmt: skip
        for r in table.to_records():
            r["direction"] = names[r["direction"]]
            api[_key(r, "direction", "scoring")] = r
    assert _check(rows, api, str(spec.seeds[0]), "direction", "scoring") == len(api) > 50
