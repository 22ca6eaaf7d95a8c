"""Seed means over several test splits (a stitch task's ``split_seeds``), from prediction rows.

Each test split of a task runs its own units (tagged ``split`` = the split's seed), whose
``seed-mean`` rows cover that split's seeds only. :func:`split_seed_means` replaces them by one
``seed-mean`` row per aligned setting (encoder pair, method, scaling, anchor count) over every
(split, seed): the per-row predictions (``stitch_predictions``: the target head's logits on
each test row of the split) give, per split and seed, the weight statistic of
:func:`semalign.metrics.intervals.classification_stat`, and a :class:`~semalign.metrics.
intervals.Scored` with P splits gives the mean over (split, seed), the hierarchical interval
(splits, then each split's rows and seeds) and the spread of the (split, seed) values
(:func:`semalign.tasks.comparisons.seed_rows`). A split where no seed could fit a map at that
count is left out (``note`` names the splits the row covers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from semalign.errors import InputError
from semalign.metrics.intervals import Scored, WeightStat
from semalign.tasks.comparisons import prediction_stat, seed_rows
from semalign.tasks.results import ResultTable

__all__ = ["split_seed_means"]

Row = Mapping[str, Any]


def split_seed_means(
    predictions: Sequence[Row], splits: Sequence[int], *, n_resamples: int, setting: str
) -> ResultTable:
    """``seed-mean`` rows over every test split of task ``setting``: one per aligned setting of
    ``predictions`` (rows tagged ``split``, of the seeds in ``splits``), in the order the
    settings first appear; ``split`` empty, ``n`` = the test rows of the splits covered."""
    groups: dict[tuple[Any, ...], dict[int, dict[Any, list[Row]]]] = {}
    for r in predictions:
        if r.get("setting") != setting or r.get("mode") != "aligned" or r.get("split") is None:
            continue
        key = (r["source"], r["target"], r["method"], r["scaling"], r["anchors"])
        groups.setdefault(key, {}).setdefault(int(r["split"]), {}).setdefault(r["seed"], [])
        groups[key][int(r["split"])][r["seed"]].append(r)
    table = ResultTable()
    for (source, target, method, scaling, anchors), by_split in groups.items():
        covered = [int(s) for s in splits if by_split.get(int(s))]
        stats: list[tuple[WeightStat, ...]] = []
        rows: list[int] = []
        for s in covered:
            seeds = list(by_split[s].values())
            ids = [r["id"] for r in seeds[0]]
            if any([r["id"] for r in other] != ids for other in seeds[1:]):
                raise InputError(
                    f"the seeds of split {s} of {setting!r} scored different rows: a seed mean "
                    "needs every seed of a split on the same test rows"
                )
            stats.append(tuple(prediction_stat(rs) for rs in seeds))
            rows.append(len(ids))
        note = f"over split seeds {', '.join(map(str, covered))}"
        seed_rows(
            table, Scored(tuple(stats), tuple(rows)), n_resamples=n_resamples, task="stitch",
            source=source, target=target, mode="aligned", method=method, scaling=scaling,
            anchors=anchors, setting=setting, note=note,
        )  # fmt: skip
    return table
