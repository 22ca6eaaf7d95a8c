"""Pre-flight sees what leave-one-patient-out and the all-distinct gallery do: the anchor count a
fold can fill, and the distractors each encoder will embed."""

from __future__ import annotations

from dataclasses import replace

from semalign.experiments import load_recipe, recipe_path
from semalign.experiments.inputs import read_records, stitch_data
from semalign.experiments.preflight import preflight
from semalign.metrics.space import normalise_text


def test_preflight_counts_the_smallest_patient_fold_and_the_gallery() -> None:
    recipe = load_recipe(recipe_path("demo"))
    z = replace(recipe.zeroshot[0], anchors=[8, 56, 60])
    found = preflight(replace(recipe, stitch=recipe.stitch, zeroshot=[z]))
    # person1946's fold leaves out the 8 pairs of its two X-rays: 64 - 8 = 56 remain
    notice = [n for n in found.notices if "leave-one-patient-out" in n]
    assert notice == [
        f"[[zeroshot]] {z.name!r}: 56 anchor pairs in the smallest leave-one-patient-out fold, "
        "so the cells at 60 anchors are skipped (rows marked n/a with the reason)"
    ]
    spec = recipe.retrieval[0]
    assert spec.gallery == "all-distinct"
    gallery = [e for e in found.embeds if e.task == spec.name and "gallery" in e.what]
    assert sorted(e.alias for e in gallery) == ["e5", "minilm"]
    # the distractors: the dataset's distinct impressions less the stitch task's texts
    records = read_records(recipe.datasets[spec.dataset])
    rows = {normalise_text(t) for t in stitch_data(recipe.stitch[0], records).items.payloads}
    every = {normalise_text(r.impression) for r in records if r.impression}
    assert {len(e.items) for e in gallery} == {len(every - rows)}
    assert not [p for p in found.problems if "zeroshot" in p or "retrieval" in p]
