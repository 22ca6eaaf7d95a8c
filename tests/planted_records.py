"""Planted records for split tests: texts repeated in groups of about three rows, two classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semalign.data.records import Record

CLASSES = {"normal": ["No Finding"], "effusion": ["Pleural Effusion"]}


def planted_records(n: int = 60) -> list[Record]:
    """``n`` records; record i's impression repeats one of n // 3 texts, whose parity is its
    class (odd: No Finding, even: Pleural Effusion)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = int(rng.integers(0, n // 3))  # repeated texts: groups of about three rows
        label = "No Finding" if t % 2 else "Pleural Effusion"
        out.append(
            Record(
                id=f"r{i:03d}", dataset="x", impression=f"Finding {t} is stable.",
                labels={label: 1.0}, image_paths=(Path(f"/d/{i}.png"),), study_id=f"s{i:03d}",
            )
        )  # fmt: skip
    return out
