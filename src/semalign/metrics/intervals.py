"""Intervals over seeds, splits and rows; paired differences; McNemar; permutation controls.

A setting scored with ``S`` anchor seeds on each of ``P`` test splits (split seeds; P = 1 for one
split) is a :class:`Scored`: per split its row count ``n_p`` and, per seed, a *weight statistic*
``W (R, n_p) -> {metric: (R,)}``, the metrics of the split's rows weighted by each row of W (row r
of W = how often each row was drawn in resample r; a row of ones gives the plain value).

**Hierarchical bootstrap** (:func:`seed_interval`). The point value is the mean over every
(split, seed) of the metric on all rows. Each resample draws P splits with replacement; within
each drawn split, one multiset of its rows (n_p draws with replacement) and S seeds with
replacement. The rows are shared by the split's seeds, because every seed was scored on the same
rows (seeds and rows are crossed, splits nest both); drawing rows anew per seed would treat one
test set as S independent ones and understate its variance. The resample's value is the mean over
drawn splits of the mean over drawn seeds of the metric on the drawn rows; the interval is the
((1 - level) / 2, (1 + level) / 2) percentile of the resampled values, ignoring resamples where a
metric is undefined (NaN). The seed spread (sd, min, max) is that of the (split, seed) values.

Random draws, in order: the splits (R, P); per split p, the row indices of each of its m_p draws
(m_p, n_p); per setting (once when seeds are paired) and split, the seed indices (m_p, S_p).

**Paired difference** (:func:`paired_difference`): two settings scored on the same rows get the
same resampled splits and rows (and seeds, when paired: the same anchor draws per seed); the
interval is that of the resampled differences. :func:`mcnemar` is the exact test of paired
correct / incorrect outcomes. **Permutation control** (:func:`permutation_test`): the statistic
with the anchor pairing permuted P times is the null distribution; p = (1 + #{null >= observed})
/ (1 + P).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.errors import InputError
from semalign.metrics import _weighted, classification
from semalign.metrics.classification import Estimate, class_log_odds

__all__ = [
    "McNemar",
    "Permutation",
    "Scored",
    "SeedEstimate",
    "WeightStat",
    "classification_stat",
    "mcnemar",
    "mean_stat",
    "paired_difference",
    "permutation_test",
    "seed_interval",
]

Float = NDArray[np.float64]
WeightStat = Callable[[Float], Mapping[str, Float]]
"""Metrics of n rows weighted by each row of W (R, n): {metric: (R,)}."""


@dataclass(frozen=True)
class Scored:
    """One setting: ``stats[p][s]`` is the weight statistic of split p and seed s, on the
    ``rows[p]`` rows of split p (every seed of a split scores the same rows)."""

    stats: tuple[tuple[WeightStat, ...], ...]
    rows: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.stats or len(self.stats) != len(self.rows):
            raise InputError(
                f"{len(self.stats)} splits of statistics for {len(self.rows)} row counts: pass "
                "one row count per split, and at least one split"
            )
        if any(not seeds for seeds in self.stats):
            raise InputError("a split has no seed: pass at least one statistic per split")

    @classmethod
    def seeds(cls, stats: Sequence[WeightStat], n: int) -> Scored:
        """One split of ``n`` rows scored by each seed's statistic."""
        return cls((tuple(stats),), (int(n),))

    @property
    def shape(self) -> tuple[int, ...]:
        """Seeds per split."""
        return tuple(len(s) for s in self.stats)


@dataclass(frozen=True)
class SeedEstimate:
    """The mean over (split, seed) with its hierarchical bootstrap interval, and the spread of
    the (split, seed) values: sample sd (NaN for one), min and max."""

    value: float
    low: float
    high: float
    sd: float
    min: float
    max: float
    n_units: int

    def estimate(self) -> Estimate:
        return Estimate(self.value, self.low, self.high)


def mean_stat(values: Mapping[str, Any] | Any, name: str = "value") -> WeightStat:
    """The weighted mean of per-row values: ``values`` (n,) (named ``name``) or
    {metric: (n,)} (e.g. a query's reciprocal rank, a row's 0/1 correctness)."""
    named = dict(values) if isinstance(values, Mapping) else {name: values}
    cols = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in named.items()}

    def stat(w: Float) -> dict[str, Float]:
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {k: (w @ v) / np.where(total > 0, total, np.nan) for k, v in cols.items()}

    return stat


def classification_stat(
    y_true: Any,
    logits: Any,
    *,
    task: str = "multiclass",
    mask: Any = None,
    label_names: Sequence[str] | None = None,
    threshold: float = 0.5,
) -> WeightStat:
    """The metrics of :func:`~semalign.metrics.classification.classification_report` with
    ``logits=True`` as a weight statistic: ``y_true`` (n,) class indices and softmax ``logits``
    (n, K), or multi-label ``y_true`` (n, L) in {0, 1, NaN} with one sigmoid logit per label
    (n, L), ``mask`` (n, L) False = skip, predictions at probability ``threshold``."""
    s = np.asarray(logits, dtype=np.float64)
    if task == "multiclass":
        t = np.asarray(y_true).astype(np.int64).ravel()
        if s.ndim != 2 or s.shape[0] != t.size:
            raise InputError(f"logits have shape {s.shape} for {t.size} labels: pass (n, K)")
        return partial(_weighted.multiclass, t, class_log_odds(s), None)
    if task not in ("multilabel", "binary"):
        raise InputError(f"task {task!r} is unknown: use multiclass, multilabel or binary")
    yy = np.asarray(y_true, dtype=np.float64)
    yy = yy[:, None] if yy.ndim == 1 else yy
    s = s.reshape(yy.shape[0], -1)
    if s.shape != yy.shape:
        raise InputError(f"labels have shape {yy.shape} but logits {s.shape}: one per label")
    m = np.ones(yy.shape, bool) if mask is None else np.asarray(mask, bool).reshape(yy.shape)
    m = m & ~np.isnan(yy)
    t = (np.nan_to_num(yy) == 1.0).astype(np.int64)
    names = list(label_names) if label_names else [str(j) for j in range(yy.shape[1])]
    cut = float(np.log(threshold / (1.0 - threshold)))
    return partial(_weighted.multilabel, t, s, m, cut, names, False)


def _check(n_resamples: int, level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InputError(f"level={level}: a confidence level lies strictly between 0 and 1")
    if n_resamples < 0:
        raise InputError(f"n_resamples={n_resamples}: pass 0 (no interval) or a positive count")


def _values(stat: WeightStat, w: Float) -> dict[str, Float]:
    """``stat`` of each row of weights w (R, n): (R,) per metric, ``BOOTSTRAP_BLOCK`` entries
    at a time (each row is scored on its own, so the blocks change no value)."""
    step = max(1, classification.BOOTSTRAP_BLOCK // max(w.shape[1], 1))
    parts = [stat(w[s : s + step]) for s in range(0, w.shape[0], step)] or [stat(w)]
    return {
        k: np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in parts[0]
    }


def _points(scored: Scored) -> dict[str, Float]:
    """Each metric's value per (split, seed), flattened split by split: (n_units,)."""
    per: dict[str, list[float]] = {}
    for stats, n in zip(scored.stats, scored.rows, strict=True):
        for stat in stats:
            for k, v in _values(stat, np.ones((1, n))).items():
                per.setdefault(k, []).append(float(v[0]))
    return {k: np.asarray(v) for k, v in per.items()}


def _seed_counts(rng: np.random.Generator, m: int, s: int) -> Float:
    """How often each of ``s`` seeds is drawn in each of ``m`` draws of s seeds: (m, s)."""
    return _weighted.resample_counts(rng.integers(0, s, size=(m, s)), s)


def _resample(
    settings: Sequence[Scored], n_resamples: int, seed: int, paired_seeds: bool
) -> list[dict[str, Float]]:
    """Each setting's resampled values (R,) per metric, on shared splits and rows."""
    rng = np.random.default_rng(seed)
    first = settings[0]
    n_splits = len(first.rows)
    picks = rng.integers(0, n_splits, size=(n_resamples, n_splits))
    where = [np.flatnonzero(picks.ravel() == p) for p in range(n_splits)]
    rows = []
    for p, n in enumerate(first.rows):
        idx = rng.integers(0, n, size=(where[p].size, n))
        rows.append(_weighted.resample_counts(idx, n))
    seed_draws: list[list[Float]] = []
    for i, setting in enumerate(settings):
        if paired_seeds and i > 0:
            seed_draws.append(seed_draws[0])
            continue
        seed_draws.append(
            [_seed_counts(rng, where[p].size, s) for p, s in enumerate(setting.shape)]
        )
    out = []
    for setting, draws in zip(settings, seed_draws, strict=True):
        sums: dict[str, Float] = {}
        for p, stats in enumerate(setting.stats):
            if where[p].size == 0:
                continue
            for s, stat in enumerate(stats):
                share = draws[p][:, s] / len(stats)
                for k, v in _values(stat, rows[p]).items():
                    acc = sums.setdefault(k, np.zeros(n_resamples * n_splits))
                    acc[where[p]] += np.where(share > 0, v * share, 0.0)
        out.append({k: v.reshape(n_resamples, n_splits).mean(axis=1) for k, v in sums.items()})
    return out


def _interval(draws: Float, level: float) -> tuple[float, float]:
    d = draws[~np.isnan(draws)]
    if not d.size:
        return float("nan"), float("nan")
    q = (100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0)
    low, high = np.percentile(d, q)
    return float(low), float(high)


def seed_interval(
    scored: Scored, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, SeedEstimate]:
    """Mean over (split, seed), hierarchical bootstrap interval and seed spread of each metric
    (see the module docstring). ``n_resamples=0`` gives NaN bounds."""
    _check(n_resamples, level)
    points = _points(scored)
    draws = _resample([scored], n_resamples, seed, False)[0] if n_resamples else {}
    out = {}
    for k, v in points.items():
        low, high = _interval(draws[k], level) if k in draws else (float("nan"), float("nan"))
        sd = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
        out[k] = SeedEstimate(
            float(np.mean(v)), low, high, sd, float(np.min(v)), float(np.max(v)), int(v.size)
        )
    return out


def paired_difference(
    a: Scored,
    b: Scored,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    paired_seeds: bool | None = None,
) -> dict[str, Estimate]:
    """Mean of ``a`` minus mean of ``b`` for every metric both have, with the interval of the
    resampled differences: the same splits and rows for both (they must score the same rows),
    and the same seed draws when ``paired_seeds`` (default: when both have the same seeds per
    split, i.e. the same anchor draws, such as two scorings or two methods of one seed)."""
    _check(n_resamples, level)
    if a.rows != b.rows:
        raise InputError(
            f"the settings score {a.rows} and {b.rows} rows per split: a paired difference "
            "needs both scored on the same rows"
        )
    pair = a.shape == b.shape if paired_seeds is None else paired_seeds
    if pair and a.shape != b.shape:
        raise InputError(
            f"seeds per split {a.shape} and {b.shape} differ: pair seeds only between settings "
            "drawn with the same seeds (paired_seeds=False otherwise)"
        )
    pa, pb = _points(a), _points(b)
    common = [k for k in pa if k in pb]
    draws = _resample([a, b], n_resamples, seed, pair) if n_resamples else [{}, {}]
    out = {}
    for k in common:
        value = float(np.mean(pa[k]) - np.mean(pb[k]))
        if k in draws[0] and k in draws[1]:
            out[k] = Estimate(value, *_interval(draws[0][k] - draws[1][k], level))
        else:
            out[k] = Estimate(value)
    return out


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test: ``b`` rows right under A only, ``c`` under B only; two-sided p."""

    b: int
    c: int
    p_value: float


def mcnemar(correct_a: Any, correct_b: Any) -> McNemar:
    """Exact (binomial) McNemar test of paired 0/1 correctness ``correct_a``, ``correct_b``
    (n,): under no difference the b + c discordant rows split as Binomial(b + c, 1/2);
    p = min(1, 2 P(X <= min(b, c))), 1 when no row is discordant."""
    from scipy.stats import binom

    ca = np.asarray(correct_a).astype(bool).ravel()
    cb = np.asarray(correct_b).astype(bool).ravel()
    if ca.shape != cb.shape:
        raise InputError(f"{ca.size} and {cb.size} outcomes: McNemar needs the same rows paired")
    b = int(np.count_nonzero(ca & ~cb))
    c = int(np.count_nonzero(~ca & cb))
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    return McNemar(b, c, p)


@dataclass(frozen=True)
class Permutation:
    """A permutation control: the observed statistic, the null draws (P,) (NaN where the
    statistic was undefined) and p = (1 + #{null >= observed}) / (1 + P defined draws)."""

    observed: float
    null: Float
    p_value: float

    def estimate(self, level: float = 0.95) -> Estimate:
        """The null's mean and its central ``level`` percentile range."""
        d = self.null[~np.isnan(self.null)]
        mean = float(d.mean()) if d.size else float("nan")
        return Estimate(mean, *_interval(self.null, level))


def permutation_test(
    statistic: Callable[[NDArray[np.int64]], float],
    k: int,
    observed: float,
    *,
    permutations: int = 100,
    seed: int = 0,
) -> Permutation:
    """Null distribution of ``statistic(perm)``, the statistic with the pairing of ``k`` anchor
    pairs permuted by ``perm`` (k,) (partner i becomes partner perm[i]), for ``permutations``
    seeded uniform permutations; one-sided p-value that the observed is no better than the null."""
    if permutations < 1:
        raise InputError(f"permutations={permutations}: pass a positive count")
    if k < 1:
        raise InputError(f"k={k}: a permutation control needs at least one anchor pair")
    rng = np.random.default_rng(seed)
    null = np.array([float(statistic(rng.permutation(k))) for _ in range(permutations)])
    defined = null[~np.isnan(null)]
    if np.isnan(observed) or not defined.size:
        return Permutation(float(observed), null, float("nan"))
    p = (1.0 + np.count_nonzero(defined >= observed)) / (1.0 + defined.size)
    return Permutation(float(observed), null, float(p))
