"""``split_seeds``: one stratified test split per seed of the same items, every unit on every
split, rows that say their split, seed means over every (split, seed), every split published,
checked by ``--reproduce`` and counted by ``--plan``; refused where it cannot apply."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planted_records import CLASSES, planted_records
from semalign.errors import InputError
from semalign.experiments import load_recipe, parse_recipe, run_recipe
from semalign.experiments.inputs import (
    read_records,
    retrieval_data,
    retrieval_splits_data,
    stitch_data,
    stitch_splits_data,
)
from semalign.experiments.plan import make_plan
from semalign.experiments.reproduce import reproduce
from semalign.metrics import text_groups
from semalign.tasks.splits import group_split


def _recipe(section: str, table: dict[str, Any]) -> Any:
    data = {
        "datasets": {"d": {"name": "iu-reports"}},
        "encoders": {"a": {"model": "minilm"}, "b": {"model": "e5-small"}},
        "stitch": [
            {
                "name": "st",
                "dataset": "d",
                "section": "impression",
                "pairs": [["a", "b"]],
                "classes": CLASSES,
            }
        ],
    }
    if section == "stitch":
        data["stitch"] = [{**data["stitch"][0], **table}]  # type: ignore[index]
    else:
        base = {"dataset": "d", "kind": "report-report", "pairs": [["a", "b"]]}
        data["retrieval"] = [{**base, **table}]
    return parse_recipe(data)


# ----------------------------------------------------------------------------- the key


def test_split_seeds_keep_the_recipes_order_and_the_first_is_split_seed() -> None:
    spec = _recipe("stitch", {"split_seeds": [2, 0, 5]}).stitch[0]
    assert (spec.split_seeds, spec.split_seed, spec.splits) == ([2, 0, 5], 2, [2, 0, 5])
    one = _recipe("stitch", {"split_seed": 3}).stitch[0]
    assert (one.split_seeds, one.split_seed, one.splits) == (None, 3, [3])
    rt = _recipe("retrieval", {"split": "random", "split_seeds": [1, 4]}).retrieval[0]
    assert (rt.split_seeds, rt.split_seed, rt.splits) == ([1, 4], 1, [1, 4])


@pytest.mark.parametrize(
    ("section", "table", "message"),
    [
        ("stitch", {"split_seed": 0, "split_seeds": [0, 1]},
         r"stitch\[0\]\.split_seed and stitch\[0\]\.split_seeds are both given: keep one"),
        ("stitch", {"split_seeds": []}, r"stitch\[0\]\.split_seeds is empty"),
        ("stitch", {"split_seeds": [0, 1, 0]}, r"split_seeds lists seed 0 twice"),
        ("stitch", {"split_seeds": [0, "1"]}, r"split_seeds = \[0, '1'\] must be a list of "
                                             r"integers >= 0"),
        ("stitch", {"split_seeds": [0, 1.5]}, r"must be a list of integers >= 0"),
        ("stitch", {"split_seeds": [True, 2]}, r"must be a list of integers >= 0"),
        ("stitch", {"split_seeds": [-1, 2]}, r"must be a list of integers >= 0"),
        ("stitch", {"split_seeds": 3}, r"must be a list of integers >= 0"),
        ("retrieval", {"split_seeds": [0, 1]},
         r'retrieval\[0\]\.split_seeds needs split = "random": the dataset\'s official split '
         r"is one split"),
        ("retrieval", {"split": "random", "split_seeds": [0, 1], "items_from": "st"},
         r"split_seeds cannot be combined with items_from: the task reuses stitch task 'st'"),
        ("retrieval", {"split": "random", "split_seed": 1, "split_seeds": [0, 1]},
         r"are both given"),
    ],
)  # fmt: skip
def test_bad_split_seeds_are_refused_in_one_sentence(
    section: str, table: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message) as err:
        _recipe(section, table)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- the splits


def test_each_split_seed_draws_its_own_stratified_split_of_the_same_items() -> None:
    seeds = [0, 3, 7]
    table = {"split_seeds": seeds, "dedup": "none", "test_fraction": 0.3}
    spec = _recipe("stitch", table).stitch[0]
    parts = stitch_splits_data(spec, stitch_data(spec, planted_records()))
    assert len(parts) == 3
    first = stitch_data(replace(spec, split_seeds=None, split_seed=0), planted_records())
    assert np.array_equal(parts[0].test, first.test)  # the first split is split_seed's
    groups = text_groups(parts[0].items.payloads)
    tests = []
    for seed, part in zip(seeds, parts, strict=True):
        assert part.items.ids == parts[0].items.ids and np.array_equal(part.y, parts[0].y)
        # the split Python draws with that seed (the oracle), on whole texts, every class
        _, test = group_split(groups, 0.3, y=part.y, seed=seed)
        assert np.array_equal(part.test, test)
        train = np.setdiff1d(np.arange(len(part.items)), part.test)
        assert not set(groups[part.test]) & set(groups[train])
        for cls in CLASSES:
            assert np.any(part.y[part.test] == cls) and np.any(part.y[train] == cls)
        tests.append(tuple(part.test.tolist()))
    assert len(set(tests)) == 3


def test_retrieval_split_seeds_draw_one_random_split_each() -> None:
    spec = _recipe(
        "retrieval",
        {
            "split": "random",
            "split_seeds": [4, 1],
            "dedup": "none",
            "test_fraction": 0.3,
            "section": "impression",
        },
    ).retrieval[0]
    parts = retrieval_splits_data(spec, planted_records())
    for seed, part in zip([4, 1], parts, strict=True):
        alone = retrieval_data(replace(spec, split_seeds=None, split_seed=seed), planted_records())
        assert np.array_equal(part.test, alone.test) and part.texts.ids == alone.texts.ids
    assert [parts[0].texts.ids[i] for i in parts[0].test] != [
        parts[1].texts.ids[i] for i in parts[1].test
    ]


# ----------------------------------------------------------------------------- a run

RECIPE = """
[experiment]
name = "splits"
bootstrap = 20
permutations = 4

[datasets.iu]
name = "iu-reports"

[encoders.minilm]
model = "minilm"

[encoders.e5]
model = "e5-small"

[[stitch]]
name = "st"
dataset = "iu"
section = "impression"
max_per_class = 20
test_fraction = 0.25
SPLIT
pairs = [["minilm", "e5"]]
anchors = [8, 16]
seeds = [0, 1]
methods = ["orthogonal"]
scalings = ["standard"]
modes = ["target", "naive", "aligned"]

[stitch.classes]
normal = ["No Finding"]
cardiomegaly = ["Cardiomegaly"]
effusion = ["Pleural Effusion"]
"""
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auroc")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The recipe with split_seeds = [0, 1], with split_seed = 0 and with split_seeds = [0]
    (the last two reuse the first split's cached units)."""
    base = tmp_path_factory.mktemp("split-seeds")
    store = base / "store"
    out: dict[str, Path] = {"base": base, "store": store}
    for name, line in (("two", "split_seeds = [0, 1]"), ("one", "split_seed = 0"),
                       ("listed", "split_seeds = [0]")):  # fmt: skip
        path = base / f"{name}.toml"
        path.write_text(RECIPE.replace("SPLIT", line), encoding="utf-8")
        out[f"{name}.toml"] = path
        run_recipe(load_recipe(path), base / name, store=store, progress=False, report=False)
        out[name] = base / name
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_split_is_published_stratified_and_anchors_stay_in_its_training_rows(runs):
    doc = _json(runs["two"] / "splits" / "st.json")
    assert doc["split_seeds"] == [0, 1] and set(doc["splits"]) == {"0", "1"}
    assert not {"train", "test", "anchors", "split_seed"} & set(doc)
    spec = load_recipe(runs["two.toml"]).stitch[0]
    data = stitch_data(spec, read_records(load_recipe(runs["two.toml"]).datasets["iu"]))
    ids = list(data.items.ids)
    cls = dict(zip(ids, data.y.tolist(), strict=True))
    groups = text_groups(data.items.payloads)
    tests = {}
    for seed in (0, 1):
        part = doc["splits"][str(seed)]
        train, test = part["train"], part["test"]
        assert sorted(train + test) == sorted(ids) and not set(train) & set(test)
        # the oracle: Python's group_split of the task's items with this seed
        oracle = group_split(groups, 0.25, y=data.y, seed=seed)[1]
        assert test == [ids[i] for i in oracle]
        for c in spec.classes:  # stratified: each class's share of the test rows (one per text)
            n_c = sum(v == c for v in cls.values())
            assert sum(cls[i] == c for i in test) == max(1, round(0.25 * n_c))
        for by_k in part["anchors"].values():
            for by_seed in by_k.values():
                for drawn in by_seed.values():
                    assert drawn and set(drawn) <= set(train) and not set(drawn) & set(test)
        tests[seed] = test
    assert tests[0] != tests[1]
    # split 0 is the one split of the same recipe with split_seed = 0
    one = _json(runs["one"] / "splits" / "st.json")
    assert "splits" not in one and one["split_seed"] == 0
    assert (one["train"], one["test"], one["anchors"]) == tuple(
        doc["splits"]["0"][k] for k in ("train", "test", "anchors")
    )


def test_rows_say_their_split_and_one_split_writes_the_rows_as_before(runs):
    two = _csv(runs["two"] / "results" / "stitch.csv")
    one_path = runs["one"] / "results" / "stitch.csv"
    one = _csv(one_path)
    doc = _json(runs["two"] / "splits" / "st.json")
    assert {r["split"] for r in two} == {"0", "1"}
    for r in two:
        assert r["n"] == str(len(doc["splits"][r["split"]]["test"]))
    # no split_seeds: no split column, and the rows are split 0's
    assert "split" not in one_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    split0 = [{k: v for k, v in r.items() if k != "split"} for r in two if r["split"] == "0"]
    assert split0 == one
    for name in ("comparisons", "stitch_predictions", "stitch_confusion", "space"):
        header = (runs["one"] / "results" / f"{name}.csv").read_text().splitlines()[0]
        assert "split" not in header.split(","), name
    assert "split" not in json.dumps(_json(runs["one"] / "results.json")["rows"][0])


def _values(rows: list[dict[str, str]], metric: str, k: str) -> dict[tuple[str, str], float]:
    return {
        (r["split"], r["seed"]): float(r["value"]) for r in rows
        if r["mode"] == "aligned" and r["anchors"] == k and r["metric"] == metric
    }  # fmt: skip


def test_seed_means_cover_every_split_and_seed(runs):
    stitch = _csv(runs["two"] / "results" / "stitch.csv")
    comp = _csv(runs["two"] / "results" / "comparisons.csv")
    doc = _json(runs["two"] / "splits" / "st.json")
    means = [r for r in comp if r["variant"] == "seed-mean"]
    assert means and {r["split"] for r in means} == {""}  # the per-split ones are replaced
    assert {r["note"] for r in means} == {"over split seeds 0, 1"}
    n = len(doc["splits"]["0"]["test"]) + len(doc["splits"]["1"]["test"])
    for k in ("8", "16"):
        for metric in METRICS:
            per = _values(stitch, metric, k)
            assert set(per) == {(s, d) for s in ("0", "1") for d in ("0", "1")}
            v = np.array(list(per.values()))
            row = {r["metric"]: r for r in means if r["anchors"] == k}
            assert float(row[metric]["value"]) == pytest.approx(v.mean(), abs=1e-12)
            assert float(row[metric]["ci_low"]) <= v.mean() <= float(row[metric]["ci_high"])
            assert float(row[f"{metric}:seed-sd"]["value"]) == pytest.approx(v.std(ddof=1))
            assert float(row[f"{metric}:seed-min"]["value"]) == pytest.approx(v.min())
            assert float(row[f"{metric}:seed-max"]["value"]) == pytest.approx(v.max())
            assert row[metric]["n"] == str(n)
    # paired rows stay per split; the shuffled-anchors control runs on the first split only
    paired = {r["split"] for r in comp if r["variant"] == "paired: aligned - target"}
    assert paired == {"0", "1"}
    assert {r["split"] for r in comp if r["variant"].startswith("permutations=")} == {"0"}
    # the confusion matrices are the first split's (their counts sum to its test rows)
    conf = _csv(runs["two"] / "results" / "stitch_confusion.csv")
    for mode in ("majority", "target", "aligned"):
        total = sum(int(r["count"]) for r in conf if r["mode"] == mode)
        assert total == len(doc["splits"]["0"]["test"]), mode


def test_one_listed_split_gives_the_units_own_seed_means(runs):
    """split_seeds = [0] recomputes the seed means from the prediction rows: the same value,
    interval and spread as the unit's own rows of split_seed = 0."""
    one = _csv(runs["one"] / "results" / "comparisons.csv")
    listed = _csv(runs["listed"] / "results" / "comparisons.csv")

    def means(rows: list[dict[str, str]]) -> dict[tuple[str, str], tuple[float, ...]]:
        return {
            (r["anchors"], r["metric"]): tuple(float(r[c] or "nan") for c in
                                               ("value", "ci_low", "ci_high"))
            for r in rows if r["variant"] == "seed-mean"
        }  # fmt: skip

    a, b = means(one), means(listed)
    assert a and set(a) == set(b)
    for key, v in a.items():
        assert b[key] == pytest.approx(v, abs=1e-12, nan_ok=True), key


def test_reproduce_checks_every_split_and_plan_counts_them(runs, tmp_path):
    summary = reproduce(
        runs["two"] / "results.json", tmp_path / "again", store=runs["store"], progress=False,
        report=False,
    )  # fmt: skip
    assert summary.notices[-1].startswith("reproduced: all")
    copy = tmp_path / "edited"
    (copy / "splits").mkdir(parents=True)
    for name in ("results.json",):
        (copy / name).write_bytes((runs["two"] / name).read_bytes())
    doc = _json(runs["two"] / "splits" / "st.json")
    part = doc["splits"]["1"]
    part["test"][0], part["train"][0] = part["train"][0], part["test"][0]
    (copy / "splits" / "st.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match=r"differ from the published ones at split=1 train"):
        reproduce(copy / "results.json", tmp_path / "refused", store=runs["store"],
                  progress=False, report=False)  # fmt: skip
    two = make_plan(load_recipe(runs["two.toml"]), runs["store"])
    one = make_plan(load_recipe(runs["one.toml"]), runs["store"])
    assert two.units["st"] == 2 * one.units["st"] + 1  # + the seed means over both splits
    assert two.checked.fits["st"].cells == 2 * one.checked.fits["st"].cells
    assert "st: 8 fit(s) over 2 test splits" in "\n".join(two.lines())
