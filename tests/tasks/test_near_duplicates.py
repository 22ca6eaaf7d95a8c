"""Near-duplicate reports: the text key ignores case, punctuation, whitespace, list numbering and
the IU de-identification token "XXXX"; deduplication counts what it merged and what recurring
under another class cost each class; on the real IU reports no test text equals a training
text under an independent reference key."""

from __future__ import annotations

import re

import pytest

from semalign.metrics.space import normalise_text, text_groups
from semalign.tasks.splits import dedup_by_text

MERGE = [
    ("Normal chest", "Normal chest."),
    ("No acute cardiopulmonary abnormality.", "no acute  cardiopulmonary\nabnormality"),
    ("1. Normal chest. 2. No effusion.", "Normal chest; no effusion"),
    ("1) Normal chest 2) No effusion", "normal chest, no effusion."),
    ("(1) Cardiomegaly.", "Cardiomegaly"),
    ("XXXX pneumonia in the left lower lobe.", "Pneumonia in the left lower lobe"),
    ("Normal chest x-XXXX.", "normal chest x"),
    ("No effusions 2. Abnormal opacity", "No effusions. Abnormal opacity."),
    ("Heart size normal, lungs clear.", "Heart size normal. Lungs clear"),
    ("Non-acute.", "non acute"),
]
APART = [
    ("Heart size 1.5 cm", "Heart size 15 cm"),  # a decimal is not numbering
    ("No pneumothorax.", "Pneumothorax."),
    ("Normal chest", "Normal chest x"),
    ("T12 fracture.", "T fracture."),  # a level is not numbering
    ("Stable since 2010.", "Stable since."),  # a year is not numbering
    ("Small left effusion", "Small right effusion"),
]


@pytest.mark.parametrize(("a", "b"), MERGE)
def test_near_duplicates_share_one_key(a: str, b: str) -> None:
    assert normalise_text(a) == normalise_text(b)
    assert text_groups([a, b]).tolist() == [0, 0]


@pytest.mark.parametrize(("a", "b"), APART)
def test_different_reports_keep_different_keys(a: str, b: str) -> None:
    assert normalise_text(a) != normalise_text(b)


def test_dedup_counts_merges_and_the_rows_each_class_lost() -> None:
    ids = [f"r{i}" for i in range(8)]
    texts = [
        "Normal chest.",  # r0 \
        "Normal chest",  # r1  } one text, near-duplicates under the plain rule
        "1. NORMAL CHEST",  # r2 /
        "Cardiomegaly.",  # r3: also under "normal" below -> a conflict
        "cardiomegaly",  # r4
        "XXXX cardiomegaly",  # r5
        "Effusion.",  # r6
        "effusion.",  # r7: the same text under case alone (not a near-duplicate merge)
    ]
    classes = ["normal", "normal", "normal", "cardiomegaly", "cardiomegaly", "normal", "eff", "eff"]
    rows, d = dedup_by_text(ids, texts, classes)
    assert [ids[i] for i in rows] == ["r0", "r6"]
    assert (d.records, d.distinct) == (8, 3)
    assert (d.dropped_duplicates, d.dropped_conflicts, d.conflict_texts) == (3, 3, 1)
    assert d.conflicts_by_class == {"cardiomegaly": 2, "normal": 1}
    # plain keys: normal chest. / normal chest / 1. normal chest / cardiomegaly. / cardiomegaly
    # / xxxx cardiomegaly / effusion. -> 7, merged into 3 by the full rule
    assert d.merged_near_duplicates == 7 - 3


def _reference_key(text: str) -> str:
    """An independent key: whitespace tokens, a numbering token ("1.", "2)", "(3)") dropped,
    the rest cut into alphanumeric runs, runs of four or more x dropped."""
    words: list[str] = []
    for token in text.lower().split():
        if re.fullmatch(r"\(?[0-9]{1,2}[.)]", token):
            continue
        words += [w for w in re.findall(r"[^\W_]+", token) if not re.fullmatch("x{4,}", w)]
    return " ".join(words)


def test_real_iu_impressions_split_with_no_test_text_in_training() -> None:
    from semalign.experiments import load_recipe, recipe_path
    from semalign.experiments.inputs import read_records, stitch_data

    recipe = load_recipe(recipe_path("demo"))
    spec = recipe.stitch[0]
    records = read_records(recipe.datasets[spec.dataset])
    impressions = [r.impression for r in records if r.impression]
    assert [normalise_text(t) for t in impressions] == [_reference_key(t) for t in impressions]
    data = stitch_data(spec, records)
    keys = [_reference_key(t) for t in data.items.payloads]
    test = set(data.test.tolist())
    train_keys = {k for i, k in enumerate(keys) if i not in test}
    assert test and not [keys[i] for i in test if keys[i] in train_keys]
    assert len(set(keys)) == len(keys)  # deduplicated: one row per key
    assert data.dedup is not None and data.dedup.merged_near_duplicates > 0
    assert sum(data.dedup.conflicts_by_class.values()) == data.dedup.dropped_conflicts
