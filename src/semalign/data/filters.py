"""Record filters and patient-level splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

import numpy as np

from semalign.data.records import Record
from semalign.data.views import is_frontal
from semalign.errors import InputError

VIEW_PREFERENCE: tuple[str, ...] = ("PA", "AP", "FRONTAL")


def frontal_only(records: Iterable[Record]) -> Iterator[Record]:
    """Keep records whose view is frontal (PA, AP, FRONTAL); lazy."""
    return (r for r in records if is_frontal(r.view))


def one_per_study(
    records: Iterable[Record], prefer: Sequence[str] = VIEW_PREFERENCE
) -> list[Record]:
    """One record per study: the first view of ``prefer`` present, ties broken by smallest id.

    Records without a study id are their own study. Order follows each study's first record.
    """
    rank = {v: i for i, v in enumerate(prefer)}
    best: dict[str, Record] = {}
    for r in records:
        key = r.study_id if r.study_id is not None else f"\0{r.id}"
        current = best.get(key)
        if current is None or _order(r, rank) < _order(current, rank):
            best[key] = r
    return list(best.values())


def _order(r: Record, rank: Mapping[str, int]) -> tuple[int, str]:
    return (rank.get(r.view or "", len(rank)), r.id)


def patient_split(
    records: Iterable[Record],
    fractions: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
) -> list[Record]:
    """Assign splits by patient so that no patient falls in two splits.

    ``fractions`` maps split names to shares of *patients* (default train 0.8, val 0.1,
    test 0.1; they must sum to 1). The patient order is a permutation drawn with ``seed``, so the
    same records and seed give the same assignment. Existing splits are overwritten.
    """
    fractions = dict(fractions or {"train": 0.8, "val": 0.1, "test": 0.1})
    if not fractions or any(f < 0 for f in fractions.values()):
        raise InputError(f"split fractions {fractions} must be non-negative and not empty")
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise InputError(f"split fractions {fractions} sum to {sum(fractions.values())}, not 1")
    items = list(records)
    missing = [r.id for r in items if r.patient_id is None]
    if missing:
        raise InputError(
            f"record {missing[0]!r} (and {len(missing) - 1} more) has no patient id: "
            "a patient-level split needs one on every record"
        )
    patients = sorted({r.patient_id for r in items if r.patient_id is not None})
    order = np.random.default_rng(seed).permutation(len(patients))
    bounds = np.rint(np.cumsum(list(fractions.values())) * len(patients)).astype(int)
    assignment: dict[str, str] = {}
    start = 0
    for name, stop in zip(fractions, bounds, strict=True):
        for i in order[start:stop]:
            assignment[patients[i]] = name
        start = stop
    return [replace(r, split=assignment[r.patient_id]) for r in items if r.patient_id]


def check_patient_disjoint(records: Iterable[Record]) -> None:
    """Raise InputError when a patient id appears in more than one split."""
    seen: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.patient_id is not None and r.split is not None:
            seen[r.patient_id].add(r.split)
    for patient, splits in seen.items():
        if len(splits) > 1:
            raise InputError(
                f"patient {patient!r} is in splits {sorted(splits)}: "
                "re-split with patient_split so that each patient is in one split"
            )


def select_split(records: Iterable[Record], split: str | None) -> Iterator[Record]:
    """Keep records of ``split`` (all records when None); lazy."""
    return (r for r in records if split is None or r.split == split)
