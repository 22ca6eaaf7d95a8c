"""The all-distinct retrieval gallery on the real IU reports: every distinct impression outside
the task, so no anchor, pool or test id and no copy of a task text is among its distractors."""

from __future__ import annotations

import numpy as np

from semalign.experiments import load_recipe, recipe_path
from semalign.experiments.inputs import gallery_items, read_records, stitch_data
from semalign.metrics.space import normalise_text
from semalign.tasks.retrieval_refined import unpaired_pools


def test_the_gallery_excludes_every_anchor_pool_and_test_item() -> None:
    recipe = load_recipe(recipe_path("demo"))
    spec = recipe.stitch[0]
    records = read_records(recipe.datasets[spec.dataset])
    data = stitch_data(spec, records)
    gallery = gallery_items(records, spec.section, "report-report", data.items)
    assert gallery.images is None and gallery.source_items() is gallery.texts
    ids = set(gallery.texts.ids)
    zeros = np.zeros((len(data.items), 1))
    for k in recipe.retrieval[0].anchors:
        for seed in recipe.retrieval[0].seeds:
            pools = unpaired_pools(zeros, data.test, k, seed, "random")
            used = {data.items.ids[i] for idx in pools.roles().values() for i in idx.tolist()}
            assert len(used) == len(data.items)  # every task row is test, anchor or pool
            assert not ids & used
    keys = [normalise_text(t) for t in gallery.texts.payloads]
    rows = {normalise_text(t) for t in data.items.payloads}
    assert len(set(keys)) == len(keys) and not set(keys) & rows
    # an independent count: the distinct impressions of the dataset less the task's texts
    every = {normalise_text(r.impression) for r in records if r.impression}
    assert len(keys) == len(every - rows) > len(data.test)
    first = {}
    for r in sorted(records, key=lambda r: r.id):
        if r.impression:
            first.setdefault(normalise_text(r.impression), r.id)
    assert all(first[key] == i for key, i in zip(keys, gallery.texts.ids, strict=True))


def test_the_published_splits_name_the_gallery(small_run) -> None:
    """splits/iu-retrieval.json lists the distractors the run ranked, by id: the gallery built
    here from the run's own published rows, and as many as results.json says."""
    import json

    doc = json.loads((small_run.out / "splits" / "iu-retrieval.json").read_text(encoding="utf-8"))
    meta = json.loads((small_run.out / "results.json").read_text(encoding="utf-8"))
    task = meta["tasks"]["retrieval"]["iu-retrieval"]
    published = doc["gallery"]["distractors"]
    assert doc["gallery"]["kind"] == "all-distinct" and "distractor_images" not in doc["gallery"]
    assert len(published) == task["gallery"]["distractors"] == len(set(published))
    records = {r.id: r for r in read_records(load_recipe(recipe_path("demo")).datasets["iu"])}
    rows = {normalise_text(records[i].impression) for i in [*doc["train"], *doc["test"]]}
    keys = {normalise_text(records[i].impression) for i in published}
    assert len(keys) == len(published) and not keys & rows
    every = {normalise_text(r.impression) for r in records.values() if r.impression}
    assert keys == every - rows
