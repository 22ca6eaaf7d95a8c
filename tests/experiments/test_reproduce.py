"""Published splits and ``--reproduce``: every run writes the ids its numbers were computed on,
a second run writes the same files, the ids recompute the result rows from the stored
embeddings, ``reproduce`` gives the same tables, and changed splits or data are refused."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clitools import fails_cleanly, run
from semalign.align import Aligner
from semalign.errors import InputError
from semalign.experiments import load_recipe, parse_recipe, run_recipe
from semalign.experiments.published import _dump, first_difference
from semalign.experiments.reproduce import reproduce
from semalign.store import open_store

RECIPE = """
[experiment]
name = "tiny"
bootstrap = 20

[datasets.iu]
name = "iu-reports"

[datasets.kermany]
name = "kermany-mini"

[encoders.minilm]
model = "minilm"

[encoders.e5]
model = "e5-small"

[encoders.effnet]
model = "efficientnet-lite0"

[[stitch]]
name = "st"
dataset = "iu"
section = "impression"
max_per_class = 20
test_fraction = 0.25
pairs = [["minilm", "e5"], ["e5", "minilm"]]
anchors = [8, 16, 500]
seeds = [0, 1]
methods = ["orthogonal"]
scalings = ["standard"]
modes = ["target", "naive", "aligned"]

[stitch.classes]
normal = ["No Finding"]
cardiomegaly = ["Cardiomegaly"]
effusion = ["Pleural Effusion"]

[[retrieval]]
name = "rt"
kind = "report-report"
items_from = "st"
pairs = [["minilm", "e5"]]
anchors = [8, 16]
seeds = [0, 1]
methods = ["orthogonal"]
scalings = ["standard"]
ks = [1, 5]
unpaired = { pool = "train-rest", iterations = 2 }

[[zeroshot]]
name = "zs"
images = "kermany"
labels = ["Pneumonia"]
prompts = "biovil-pneumonia"
rule = "pos-neg"
image_encoder = "effnet"
text_encoder = "minilm"
anchor_dataset = "kermany"
pairing = "label-matched"
reports = "iu"
match_labels = ["Pneumonia", "No Finding"]
reports_per_image = 2
split = "loo"
anchors = [8, 16]
seeds = [0, 1]
methods = ["orthogonal"]
scalings = ["standard"]
"""
TABLES = ("stitch", "space", "retrieval", "retrieval_pools", "zeroshot", "zeroshot_scores")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("reproduce")
    (base / "tiny.toml").write_text(RECIPE, encoding="utf-8")
    recipe = load_recipe(base / "tiny.toml")
    store = base / "store"
    for name in ("first", "second"):
        run_recipe(recipe, base / name, store=store, progress=False, report=False)
    return {"base": base, "store": store, "first": base / "first", "second": base / "second"}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _rows(out: Path, alias: str, ids: list[str]) -> np.ndarray:
    """The stored embeddings of ``ids`` by encoder ``alias`` (task st's store entry)."""
    entry = _json(out / "results.json")["run"]["entries"][f"{alias}:st"]
    stored, x = open_store(entry).read()
    at = {k: i for i, k in enumerate(stored)}
    return np.asarray(x, dtype=np.float64)[[at[i] for i in ids]]


def _value(rows: list[dict[str, str]], **key: str) -> float:
    hit = [r for r in rows if all(r[k] == v for k, v in key.items())]
    assert len(hit) == 1, key
    return float(hit[0]["value"])


def _cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA through n x n Gram matrices (the library computes d x d products)."""
    h = np.eye(len(x)) - 1.0 / len(x)
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float(np.sum(kx * ky) / np.sqrt(np.sum(kx * kx) * np.sum(ky * ky)))


def test_every_task_publishes_the_same_splits_twice(runs: dict[str, Path]) -> None:
    first, second = runs["first"], runs["second"]
    meta = _json(first / "results.json")
    assert meta["splits"] == {t: f"splits/{t}.json" for t in ("st", "rt", "zs")}
    for rel in meta["splits"].values():
        assert (first / rel).read_bytes() == (second / rel).read_bytes()
    st = _json(first / "splits" / "st.json")
    assert not set(st["train"]) & set(st["test"])
    assert len(st["train"]) + len(st["test"]) == 60  # 3 classes x max_per_class 20
    # counts the 45 training rows cannot fill are not listed; both sources, both seeds
    assert {a: sorted(v, key=int) for a, v in st["anchors"].items()} == {
        "minilm": ["8", "16"], "e5": ["8", "16"]
    }  # fmt: skip
    for by_seed in st["anchors"]["minilm"].values():
        for ids in by_seed.values():
            assert set(ids) <= set(st["train"]) and len(set(ids)) == len(ids)
    # the recipe, its roots and every encoder's identity travel with the results
    assert meta["recipe"]["text"] == RECIPE
    e5 = meta["models"]["e5"]
    assert e5["upstream"] == "intfloat/multilingual-e5-small" and e5["prefix"] == "query: "
    assert e5["quantisation"].startswith("4-bit") and len(e5["fingerprint"]) == 64
    assert meta["environment"]["packages"]["numpy"] == np.__version__


def test_split_ids_are_the_rows_the_results_were_computed_on(runs: dict[str, Path]) -> None:
    out = runs["first"]
    st = _json(out / "splits" / "st.json")
    test = st["test"]
    stitch = _csv(out / "results" / "stitch.csv")
    assert {r["n"] for r in stitch} == {str(len(test))}
    # raw-space CKA on the published test rows (depends on nothing else)
    xa, xb = _rows(out, "minilm", test), _rows(out, "e5", test)
    space = _csv(out / "results" / "space.csv")
    key = {"source": "minilm", "target": "e5", "metric": "source_cka", "mode": "before"}
    assert _value(space, **key) == pytest.approx(_cka(xa, xb), abs=1e-9)
    # the map fitted on the published anchors (most anchors, first seed) gives the "after" row
    anchors = st["anchors"]["minilm"]["16"]["0"]
    t = Aligner("orthogonal", "standard", seed=0).fit(
        _rows(out, "minilm", anchors), _rows(out, "e5", anchors)
    )
    mapped = t.transform(xa)
    cos = np.sum(mapped * xb, 1) / np.linalg.norm(mapped, axis=1) / np.linalg.norm(xb, axis=1)
    after = {"source": "minilm", "target": "e5", "metric": "cosine", "mode": "after"}
    assert _value(space, **after) == pytest.approx(float(cos.mean()), abs=1e-9)
    # retrieval: recall@1 of minilm -> e5 through T on the published anchors of (16, seed 1)
    rt = _json(out / "splits" / "rt.json")
    assert rt["test"] == test and rt["train"] == st["train"]
    anchors = rt["anchors"]["minilm"]["16"]["1"]
    t = Aligner("orthogonal", "standard", seed=1).fit(
        _rows(out, "minilm", anchors), _rows(out, "e5", anchors)
    )
    q = t.transform(xa)
    sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        xb / np.linalg.norm(xb, axis=1, keepdims=True)
    ).T
    recall1 = float(np.mean(sims.argmax(axis=1) == np.arange(len(test))))
    retrieval = _csv(out / "results" / "retrieval.csv")
    cell = {"mode": "aligned", "anchors": "16", "seed": "1", "metric": "recall@1",
            "direction": "minilm->e5", "scoring": "cosine"}  # fmt: skip
    assert _value(retrieval, **cell) == pytest.approx(recall1, abs=1e-12)
    # the refinement unit's own record of its pools names the published ids
    for r in _csv(out / "results" / "retrieval_pools.csv"):
        role, k, seed = r["role"], r["anchors"], r["seed"]
        if role == "test":
            want = test
        elif role == "anchors":
            want = rt["anchors"]["minilm"][k][seed]
        else:
            want = rt["pools"]["minilm"][k][seed][role.removeprefix("pool-")]
        assert r["ids"].split() == want, (role, k, seed)
    # zero-shot: the scored images are the published ones; no fold draws its own images' pairs
    zs = _json(out / "splits" / "zs.json")
    scored = {r["id"] for r in _csv(out / "results" / "zeroshot_scores.csv")}
    assert scored == set(zs["images"])
    for by_seed in zs["anchors"].values():
        for folds in by_seed.values():
            assert sorted(i for f in folds for i in f.split()) == sorted(zs["images"])
            for fold, pairs in folds.items():
                assert not {zs["pairs"][p][0] for p in pairs} & set(fold.split())


def test_reproduce_gives_the_same_tables(runs: dict[str, Path]) -> None:
    """A store with the embeddings but no cached steps: every unit is computed again."""
    store = runs["base"] / "store-no-steps"
    shutil.copytree(runs["store"], store, ignore=shutil.ignore_patterns("steps"))
    out = runs["base"] / "again"
    summary = reproduce(runs["first"] / "results.json", out, store=store, progress=False,
                        report=False)  # fmt: skip
    assert summary.steps_reused == 0 and summary.steps_computed > 0
    assert summary.notices[-1].startswith("reproduced: all ")
    for name in TABLES:
        path = Path("results") / f"{name}.csv"
        assert (out / path).read_bytes() == (runs["first"] / path).read_bytes(), name
    for rel in _json(out / "results.json")["splits"].values():
        assert (out / rel).read_bytes() == (runs["first"] / rel).read_bytes()


def _tampered(runs: dict[str, Path], name: str) -> Path:
    copy = runs["base"] / name
    shutil.copytree(runs["first"], copy)
    return copy


def test_a_changed_split_file_is_refused(runs: dict[str, Path]) -> None:
    copy = _tampered(runs, "tampered")
    path = copy / "splits" / "st.json"
    doc = _json(path)
    drawn = doc["anchors"]["e5"]["8"]["1"][2]
    doc["anchors"]["e5"]["8"]["1"][2] = "CXR1"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as err:
        reproduce(copy / "results.json", runs["base"] / "t-out", store=runs["store"],
                  progress=False, report=False)  # fmt: skip
    msg = str(err.value)
    assert "\n" not in msg and "task 'st'" in msg
    assert f"anchors source=e5 k=8 seed=1: item 2 is {drawn!r}, published 'CXR1'" in msg


def _records_changed(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Every read of the IU reports goes through ``change``."""
    from semalign.data import registry

    real = registry.open_dataset

    def changed(name: str, *args: Any, **kw: Any) -> Any:
        records = list(real(name, *args, **kw))
        return change(records) if name == "iu-reports" else records

    monkeypatch.setattr(registry, "open_dataset", changed)


def test_changed_data_is_refused(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    gone = _json(runs["first"] / "splits" / "st.json")["test"][0]
    _records_changed(monkeypatch, lambda recs: [r for r in recs if r.id != gone])
    with pytest.raises(InputError) as err:
        reproduce(runs["first"] / "results.json", runs["base"] / "d-out", store=runs["store"],
                  progress=False, report=False)  # fmt: skip
    assert "\n" not in str(err.value)
    assert re.search(
        r"task 'st': reproduce: the splits drawn differ .* at (test|train)", str(err.value)
    )


def test_published_splits_are_taken_from_other_data(
    runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the data that lacks half the normal reports the run did not use (the class
    max_per_class caps) draws another split; ``take`` gives the published one, and with it the
    same anchors and result rows."""
    import tomllib

    data = tomllib.loads(RECIPE)
    del data["zeroshot"]  # not taken: its label-matched deal follows the reports it is given
    recipe = parse_recipe(data)
    published = runs["first"] / "splits"
    st = _json(published / "st.json")
    used = {*st["train"], *st["test"]}

    def fewer_normals(recs: list[Any]) -> list[Any]:
        spare = [r.id for r in recs if r.id not in used and r.labels.get("No Finding") == 1.0]
        return [r for r in recs if r.id not in set(spare[::2])]

    _records_changed(monkeypatch, fewer_normals)
    with pytest.raises(InputError, match="task 'st'"):
        run_recipe(recipe, runs["base"] / "r-drawn", store=runs["store"], progress=False,
                   report=False, published=published)  # fmt: skip
    out = runs["base"] / "r-taken"
    run_recipe(recipe, out, store=runs["store"], progress=False, report=False,
               published=published, take=True)  # fmt: skip
    for task in ("st", "rt"):
        taken = (out / "splits" / f"{task}.json").read_bytes()
        assert taken == (published / f"{task}.json").read_bytes()
    for name in ("stitch", "retrieval"):
        path = Path("results") / f"{name}.csv"
        assert (out / path).read_bytes() == (runs["first"] / path).read_bytes(), name


def test_cli_reproduce_refuses_in_one_line(runs: dict[str, Path]) -> None:
    copy = _tampered(runs, "tampered-cli")
    path = copy / "splits" / "rt.json"
    doc = _json(path)
    doc["pools"]["minilm"]["16"]["0"]["target"].reverse()
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = run("run", "--reproduce", str(copy / "results.json"), "--out",
               str(runs["base"] / "cli-out"), "--store", str(runs["store"]))  # fmt: skip
    fails_cleanly(done, "pools source=minilm k=16 seed=0 pool=target")


def test_first_difference_and_file_format() -> None:
    doc = {"kind": "stitch", "train": ["a", "b"], "anchors": {"m": {"8": {"0": ["a"]}}}}
    assert first_difference(doc, json.loads(json.dumps(doc))) is None
    other = json.loads(json.dumps(doc))
    other["anchors"]["m"]["8"]["1"] = ["b"]
    assert first_difference(doc, other) == "anchors source=m k=8 seed=1 (not published)"
    other = {**doc, "train": ["a"]}
    assert first_difference(doc, other) == "train: 1 ids, published 2"
    text = _dump(doc)
    assert json.loads(text) == doc
    assert '["a", "b"]' in text  # a list of ids on one line


def test_report_says_what_each_encoder_is(runs: dict[str, Path]) -> None:
    from semalign.experiments.report import write_report

    copy = _tampered(runs, "report")
    text = write_report(copy)[0].read_text(encoding="utf-8")
    part = text[text.index("## Reproducibility") :]
    part = part[: part.find("\n## ", 3)] if "\n## " in part[3:] else part
    lines = {a: [x for x in part.splitlines() if x.startswith(f"- `{a}` (")] for a in
             _json(copy / "results.json")["models"]}  # fmt: skip
    assert sorted(lines) == ["e5", "effnet", "minilm"] and all(len(v) == 1 for v in lines.values())
    e5 = lines["e5"][0]
    assert "intfloat/multilingual-e5-small" in e5 and "4-bit quantised" in e5
    assert "prefix 'query: '" in e5
    assert "`splits/st.json`" in part and f"numpy {np.__version__}" in part


def test_taken_anchors_are_the_ones_fitted(runs: dict[str, Path]) -> None:
    """Published anchors with one id replaced: ``take`` fits the maps on them (the "after"
    space row equals a map fitted on the edited ids), and publishes them as taken."""
    import tomllib

    data = tomllib.loads(RECIPE)
    del data["zeroshot"], data["retrieval"]
    recipe = parse_recipe(data)
    copy = _tampered(runs, "edited-anchors")
    path = copy / "splits" / "st.json"
    doc = _json(path)
    anchors = doc["anchors"]["minilm"]["16"]["0"]
    spare = next(i for i in doc["train"] if i not in anchors)
    anchors[0] = spare
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = runs["base"] / "edited-out"
    run_recipe(recipe, out, store=runs["store"], progress=False, report=False,
               published=copy / "splits", take=True)  # fmt: skip
    assert _json(out / "splits" / "st.json")["anchors"] == doc["anchors"]
    xa, xb = _rows(out, "minilm", doc["test"]), _rows(out, "e5", doc["test"])
    t = Aligner("orthogonal", "standard", seed=0).fit(
        _rows(out, "minilm", anchors), _rows(out, "e5", anchors)
    )
    mapped = t.transform(xa)
    cos = np.sum(mapped * xb, 1) / np.linalg.norm(mapped, axis=1) / np.linalg.norm(xb, axis=1)
    after = {"source": "minilm", "target": "e5", "metric": "cosine", "mode": "after"}
    got = _value(_csv(out / "results" / "space.csv"), **after)
    assert got == pytest.approx(float(cos.mean()), abs=1e-9)
    assert got != _value(_csv(runs["first"] / "results" / "space.csv"), **after)


def test_zeroshot_pairs_are_the_pairs_embedded() -> None:
    """Split "none": the published pairs are exactly those the runner embeds
    (:func:`semalign.experiments.inputs.drawn_pairs`), each cell's draw named by its ids."""
    from semalign.experiments.inputs import AnchorSet, drawn_pairs
    from semalign.experiments.published import zeroshot_splits
    from semalign.store.items import Items
    from semalign.tasks.zeroshot_folds import draw_pairs

    data = {
        "datasets": {"imgs": {"name": "kermany-mini"}, "anchors": {"name": "kermany-mini"}},
        "encoders": {"img": {"model": "efficientnet-lite0"}, "txt": {"model": "minilm"}},
        "zeroshot": [{
            "name": "zs", "images": "imgs", "labels": ["Pneumonia"], "prompts": "biovil-pneumonia",
            "rule": "pos-neg", "image_encoder": "img", "text_encoder": "txt",
            "anchor_dataset": "anchors", "pairing": "study", "split": "none",
            "anchors": [16, 64, 5000], "seeds": [0, 1], "methods": ["orthogonal"],
        }],
    }  # fmt: skip
    spec = parse_recipe(data).zeroshot[0]
    n_pairs = 400
    images = Items([f"i{k:03d}" for k in range(n_pairs)], ["p"] * n_pairs, "image")
    reports = Items([f"r{k:03d}" for k in range(n_pairs)], ["t"] * n_pairs, "text")
    rows = np.arange(n_pairs, dtype=np.int64)
    anchors = AnchorSet(images, reports, rows, rows[::-1].copy(), images.ids,
                        np.zeros((n_pairs, 1)))  # fmt: skip
    evaluated = Items(["e0", "e1"], ["x", "y"], "image")
    folds = ([np.arange(2)], [np.ones(n_pairs, bool)])
    doc = zeroshot_splits(spec, evaluated, anchors, folds)
    embedded = drawn_pairs(spec, n_pairs)
    assert embedded is not None
    assert doc["pairs"] == [[f"i{i:03d}", f"r{n_pairs - 1 - i:03d}"] for i in embedded.tolist()]
    assert sorted(doc["anchors"]) == ["16", "64"]  # 5000 > the 400 pairs: no cell draws
    for k in (16, 64):
        for seed in (0, 1):
            named = [doc["pairs"][p][0] for p in doc["anchors"][str(k)][str(seed)]]
            assert named == [f"i{i:03d}" for i in draw_pairs(n_pairs, k, seed).tolist()]


def test_cli_asks_for_a_recipe_or_results(tmp_path: Path) -> None:
    fails_cleanly(run("run"), "pass a RECIPE file, or --reproduce")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    fails_cleanly(run("run", str(recipe), "--reproduce", str(tmp_path / "results.json")),
                  "--reproduce reads the recipe")  # fmt: skip
    fails_cleanly(run("run", "--reproduce", str(tmp_path / "results.json")), "results.json")


def test_hub_model_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub model's commit comes from the HF cache's refs (planted here), pooling from the
    catalog, prefix and revision from the recipe's options."""
    from semalign.experiments import provenance
    from semalign.experiments.recipe import Compute, EncoderSpec

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--microsoft--rad-dino"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}", encoding="utf-8")
    assert provenance.hub_commit("microsoft/rad-dino", None, tmp_path) == commit
    assert provenance.hub_commit("microsoft/other", None, tmp_path) is None
    real = provenance.hub_commit
    monkeypatch.setattr(provenance, "hub_commit", lambda m, r: real(m, r, tmp_path))
    spec = EncoderSpec("rad", "rad-dino", {"precision": "float32"}, None)
    m = provenance.model_identity(spec, Compute())
    assert (m["source"], m["hub_id"], m["commit"]) == ("hub", "microsoft/rad-dino", commit)
    assert (m["pooling"], m["precision"], m["quantisation"]) == ("cls", "float32", None)
    text = EncoderSpec("t", "bert-base", {"prefix": "query: "}, None)
    assert provenance.model_identity(text, Compute())["prefix"] == "query: "
    # a dual encoder's tower: the catalog's open_clip hub id (hf-hub: prefix, no config.json)
    clip = "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    snap = tmp_path / f"models--{clip.replace('/', '--')}" / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "open_clip_config.json").write_text("{}", encoding="utf-8")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text(commit, encoding="utf-8")
    m = provenance.model_identity(EncoderSpec("bc", "biomedclip:image", {}, None), Compute())
    assert (m["tower"], m["hub_id"], m["commit"]) == ("image", clip, commit)
    assert real("biomedclip:image", None, tmp_path) is None  # not a repository id


def test_a_run_cannot_take_the_splits_it_overwrites(runs: dict[str, Path]) -> None:
    copy = _tampered(runs, "own-splits")
    before = (copy / "splits" / "st.json").read_bytes()
    with pytest.raises(InputError, match="this run's own output folder"):
        run_recipe(load_recipe(runs["base"] / "tiny.toml"), copy, store=runs["store"],
                   progress=False, report=False, published=copy / "splits", take=True)  # fmt: skip
    assert (copy / "splits" / "st.json").read_bytes() == before
