"""Run a validated recipe: embed through the store, fit, evaluate, write results and the report.

Output folder layout::

    OUT/results/stitch.csv  zeroshot.csv  space.csv      long-format result tables (CIs, n)
    OUT/results/retrieval.csv                            recall@k and MRR (task ``retrieve``)
    OUT/results/retrieval_pools.csv                      ids of each cell's test, anchor and
                                                         unpaired pool rows (``unpaired`` only)
    OUT/results/zeroshot_scores.csv  pca.csv             per-item scores (headline anchors,
                                                         every seed) and 2-D coordinates
    OUT/results/comparisons.csv                          seed means with intervals over seeds
                                                         and rows, paired differences, the
                                                         permutation controls (tasks.results)
    OUT/results/stitch_predictions.csv                   per-row predictions of every scored
                                                         stitching setting (id, y_true, y_pred,
                                                         score[class] = the head's logits)
    OUT/results/stitch_confusion.csv                     confusion matrices (true, predicted,
                                                         count) of the headline map's first
                                                         seed, the target and majority modes
    OUT/results.json                                     every row above + run metadata,
                                                         each step's wall time (``timings``),
                                                         the recipe's text and roots, the
                                                         models' identities, the environment
    OUT/splits/<task>.json                               ids of each task's train / test rows,
                                                         anchors and pools (``published``)
    OUT/report.md  OUT/report.html                       generated from the files above only

A task with ``split_seeds`` runs every unit once per test split; its rows (and extra rows) carry
``split``, the split's seed, and its ``seed-mean`` rows cover every (split, seed)
(:mod:`semalign.experiments.split_means`); the first split is the headline's.

Embeddings and the step cache (``STORE/steps/``, one JSON per unit of work) live in the store
(``--store``, ``experiment.store``, ``$SEMALIGN_STORE`` or ``~/.cache/semalign/store``), shared
between runs, ``--out`` folders and recipes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from semalign.artefacts import atomic_write_bytes
from semalign.errors import FormatError, InputError, SemalignError
from semalign.experiments import retrieval_units, units
from semalign.experiments.cache import StepCache, UnitOutput, digest
from semalign.experiments.embedding import Embedder, default_store
from semalign.experiments.grid import distinct_cells
from semalign.experiments.inputs import (
    AnchorSet,
    Gallery,
    RetrievalData,
    StitchData,
    anchor_set,
    anchor_subset,
    drawn_pairs,
    eval_images,
    gallery_items,
    normalise_text,
    patient_keys,
    read_records,
    retrieval_splits_data,
    stitch_data,
    stitch_splits_data,
)
from semalign.experiments.preflight import preflight
from semalign.experiments.provenance import environment, model_identity
from semalign.experiments.published import (
    SPLITS_DIR,
    check_published,
    read_splits,
    retrieval_splits,
    split_docs,
    stitch_splits,
    take_anchors,
    take_stitch,
    with_splits,
    write_splits,
    zeroshot_splits,
)
from semalign.experiments.recipe import (
    SPACE_K,
    Headline,
    Recipe,
    RetrievalSpec,
    StitchSpec,
    ZeroShotSpec,
)
from semalign.experiments.split_means import split_seed_means
from semalign.experiments.workers import UnitPool, resolve_jobs
from semalign.store.housekeeping import STEPS_DIR, record_recipe_run
from semalign.store.items import Items
from semalign.tasks.comparisons import (
    COMPARISONS,
    SEED_MEAN,
    score_differences,
    stitch_method_differences,
)
from semalign.tasks.results import ResultTable
from semalign.tasks.stitching import confusion_rows
from semalign.tasks.zeroshot_folds import DrawnRows, patient_folds
from semalign.threads import blas_policy

RESULT_FILES = ("stitch", "zeroshot", "space", "retrieval")
TABLE_OF_TASK = {"retrieve": "retrieval"}  # results file of each row's ``task``
EXTRA_FILES = (
    "zeroshot_scores", "pca", "retrieval_pools", units.PREDICTIONS, "stitch_confusion",
    COMPARISONS,
)  # fmt: skip


@dataclass
class RunSummary:
    """Where the outputs are and what the run computed versus reused."""

    out: Path
    report_md: Path
    report_html: Path
    seconds: float
    models_loaded: list[str]
    embeddings_computed: int
    embeddings_reused: int
    steps_computed: int
    steps_reused: int
    notices: list[str] = field(default_factory=list)

    def describe(self) -> str:
        models = ", ".join(self.models_loaded) or "none"
        text = (
            f"{self.seconds:.1f} s; embeddings {self.embeddings_computed} computed, "
            f"{self.embeddings_reused} reused (models loaded: {models}); steps "
            f"{self.steps_computed} computed, {self.steps_reused} reused"
        )
        return "".join([text, *(f"\nnote: {n}" for n in self.notices)])


@dataclass
class _TimedEmbedder(Embedder):
    """The run's :class:`Embedder`; also the run's record of each step's wall time (its own
    ``embed`` calls, the units, the tasks): ``results.json`` ``timings``."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    task: str = ""

    def embed(
        self, alias: str, items: Items, what: str, dtype: type = np.float64
    ) -> tuple[str, np.ndarray]:
        start, before = time.perf_counter(), self.computed
        try:
            return super().embed(alias, items, what, dtype)
        finally:
            self.step(f"embed {alias}", what, start, self.computed > before)

    def step(self, step: str, detail: str, start: float, computed: bool) -> None:
        self.record(self.task, step, detail, time.perf_counter() - start, computed)

    def record(
        self,
        task: str,
        step: str,
        detail: str,
        seconds: float,
        computed: bool,
        worker: bool = False,
    ) -> None:
        """One step's wall time; ``worker``: computed in a unit worker process (its own time
        there, in parallel with the run's other steps)."""
        row = {"task": task, "step": step, "detail": detail, "seconds": seconds,
               "computed": computed}  # fmt: skip
        if worker:
            row["worker"] = True
        self.steps.append(row)


def _named(table: ResultTable, name: str) -> ResultTable:
    """Rows with ``setting`` = the task name (notes such as 'skipped: ...' kept after ';')."""
    out = []
    for r in table:
        note = r.setting
        if note.startswith(name):
            out.append(r)
        else:
            out.append(replace(r, setting=f"{name}; {note}" if note else name))
    return ResultTable(out)


@dataclass
class _Job:
    """A unit for the workers: what computes it and its step-cache entry."""

    compute: Callable[[], UnitOutput]
    kind: str
    key: dict[str, Any]
    future: Future[Any] | None = None


@dataclass
class _Run:
    recipe: Recipe
    out: Path
    embedder: _TimedEmbedder
    cache: StepCache
    bar: Any
    records: dict[str, list[Any]] = field(default_factory=dict)
    tables: dict[str, ResultTable] = field(default_factory=dict)
    extras: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    published: Path | None = None  # a run's splits/ folder: each task's draws must equal its
    take: bool = False  # stitch tasks take their rows and test split from ``published``
    splits: dict[str, str] = field(default_factory=dict)  # task -> its splits file under out
    pool: UnitPool | None = None  # unit workers ([compute] jobs > 1); None: units run here
    # what is still to be kept, in the order asked for: (task kind, name, what to do)
    pending: list[tuple[str, str, Callable[[], None]]] = field(default_factory=list)
    context: tuple[str, str] = ("", "")  # the task running now: kind, name
    held: list[_Job] = field(default_factory=list)  # units asked for before the last embedding
    embedded: bool = False  # every embedding is done: units go to the workers at once
    waited: float = 0.0  # seconds spent waiting for unit workers after the last task

    def publish(self, doc: dict[str, Any]) -> None:
        """Write a task's splits (before any of its units runs); against ``published``, refuse
        draws that differ from the published ones."""
        path = write_splits(self.out, doc)
        self.splits[str(doc["task"])] = str(path.relative_to(self.out))
        if self.published is not None:
            check_published(read_splits(self.published, str(doc["task"])), doc)

    def dataset(self, alias: str) -> list[Any]:
        if alias not in self.records:
            self.records[alias] = read_records(self.recipe.datasets[alias])
        return self.records[alias]

    def unit(
        self,
        kind: str,
        key: dict[str, Any],
        compute: Callable[[], UnitOutput],
        split: int | None = None,
        drop: tuple[str, ...] = (),
    ) -> None:
        """Run (or reuse) a unit and keep its rows and extras; ``split``: the seed of the test
        split it scored, written on each of them (a task with ``split_seeds``); ``drop``:
        extras not kept (the PCA of a split other than the first). With unit workers, a unit
        not in the cache is computed in a worker and kept in the order asked (:meth:`settle`)."""
        full = {**key, "units": UNITS_VERSION}
        detail = str(key.get("method", ""))
        task = self.embedder.task
        start = time.perf_counter()
        out = self.cache.lookup(kind, full)
        if out is None and self.pool is not None:
            job = _Job(compute, kind, full)
            if self.embedded:
                self._submit(job)
            else:  # held until the last embedding, so as not to slow the encoders down
                self.held.append(job)
            self.pending.append(
                (*self.context, partial(self._keep_job, job, task, detail, split, drop))
            )
            return
        computed = out is None
        if out is None:
            out = compute()
            self.cache.put(kind, full, out)
        self.embedder.record(task, kind, detail, time.perf_counter() - start, computed)
        self.then(partial(self._keep, out, split, drop))

    def enter(self, kind: str, name: str) -> None:
        """The task that the steps recorded from now on belong to."""
        self.context = (kind, name)
        self.embedder.task = f"{kind} {name}"

    def then(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` now, or, while units asked for before are still in workers, after them."""
        if self.pending:
            self.pending.append((*self.context, fn))
        else:
            fn()

    def settle(self) -> None:
        """After the last embedding: compute the units held in the workers, wait for them and
        keep every output, in the order the units were asked for (so the results equal those
        of a run without workers)."""
        start = time.perf_counter()
        self.embedded = True
        for job in self.held:
            self._submit(job)
        self.held = []
        while self.pending:
            kind, name, fn = self.pending.pop(0)
            self.enter(kind, name)
            with _task_errors(kind, name):
                fn()
        self.waited += time.perf_counter() - start

    def _submit(self, job: _Job) -> None:
        assert self.pool is not None
        job.future = self.pool.submit(job.compute)
        job.future.add_done_callback(partial(self._store, job))

    def _store(self, job: _Job, future: Future[Any]) -> None:
        """Write a worker's output to the step cache as soon as it is done (a run stopped
        later keeps it)."""
        if future.cancelled() or future.exception() is not None:
            return
        with contextlib.suppress(OSError):  # kept all the same; recomputed by a later run
            self.cache.put(job.kind, job.key, future.result()[0])

    def _keep_job(
        self, job: _Job, task: str, detail: str, split: int | None, drop: tuple[str, ...]
    ) -> None:
        assert job.future is not None
        out, seconds = job.future.result()
        self.embedder.record(task, job.kind, detail, seconds, True, worker=True)
        self._keep(out, split, drop)

    def _keep(self, out: UnitOutput, split: int | None, drop: tuple[str, ...]) -> None:
        if split is not None:
            out = _in_split(out, split, drop)
        for r in out.table:
            name = TABLE_OF_TASK.get(r.task, r.task)
            self.tables.setdefault(name, ResultTable()).rows.append(r)
        for k, rows in out.extras.items():
            target = "zeroshot_scores" if k == "scores" else k
            self.extras.setdefault(target, []).extend(rows)
        if self.bar is not None:
            self.bar.update(1)

    def _grid_meta(
        self,
        task: str,
        methods: list[str],
        scalings: list[str],
        headline: Headline | None,
        anchors: list[int] | None = None,
        available: int | None = None,
    ) -> dict[str, Any]:
        """The headline setting and the maps left out because another one equals them (a
        headline on a map left out moves to the map it equals). A default headline (none
        declared) whose anchor count exceeds the ``available`` anchors moves to the largest count
        the data can fill: fixed by the data's size, before any result."""
        cells, notes = distinct_cells(methods, scalings)
        for note in notes:
            self.notices.append(f"{task}: {note}")
        if headline is not None and (headline.method, headline.scaling) not in cells:
            headline = replace(headline, method="affine")
        out: dict[str, Any] = {"coincide": notes}
        if headline is not None and not headline.declared and anchors and available is not None:
            fits = [k for k in anchors if k <= available]
            if headline.anchors > available and fits:
                out["headline_asked_anchors"] = headline.anchors
                headline = replace(headline, anchors=max(fits))
        out["headline"] = None if headline is None else asdict(headline)
        return out

    def _comparisons(self, task: str, name: str, method: str, scaling: str) -> dict[str, Any]:
        """The comparison settings of a (method, scaling) unit: the headline anchor count
        (paired differences there) and, for the headline map only, the recipe's permutations
        (the shuffled-anchors control); none without a headline."""
        h = self.meta.get(task, {}).get(name, {}).get("headline")
        if not h:
            return {"headline": None, "permutations": 0}
        ours = (h["method"], h["scaling"]) == (method, scaling)
        return {"headline": h["anchors"], "permutations": self.recipe.permutations if ours else 0}

    def _headline_comparisons(self, task: str, name: str) -> dict[str, Any] | None:
        """The headline map's method, scaling and comparison settings, None without one."""
        h = self.meta.get(task, {}).get(name, {}).get("headline")
        if not h:
            return None
        return {"method": h["method"], "scaling": h["scaling"],
                **self._comparisons(task, name, h["method"], h["scaling"])}  # fmt: skip

    # ----------------------------------------------------------------- stitching
    def _stitch_rows(self, spec: StitchSpec) -> list[StitchData]:
        """The task's rows and test split, one per split seed (the same items in each): drawn,
        or taken from the published splits."""
        if self.take and self.published is not None:
            parts = split_docs(read_splits(self.published, spec.name))
            seeds = [s for s, _ in parts if s is not None] or None
            if seeds != spec.split_seeds:
                raise InputError(
                    f"the published splits of {spec.name!r} have split seeds {seeds or 'none'}, "
                    f"the recipe {spec.split_seeds or 'none'}: take the splits of a run of this "
                    "recipe"
                )
            records = self.dataset(spec.dataset)
            out = [take_stitch(spec, records, doc) for _, doc in parts]
            if any(list(d.items.ids) != list(out[0].items.ids) for d in out):
                raise InputError(
                    f"the published splits of {spec.name!r} do not split the same items: "
                    "restore the file"
                )
            return out
        return stitch_splits_data(spec, stitch_data(spec, self.dataset(spec.dataset)))

    def stitch(self, spec: StitchSpec) -> None:
        splits = self._stitch_rows(spec)
        data = splits[0]  # the headline split; every split has the same items
        emb: dict[str, tuple[str, np.ndarray]] = {}
        for alias in dict.fromkeys(a for p in spec.pairs for a in p):
            emb[alias] = self.embedder.embed(alias, data.items, spec.name)
        takens: list[dict[str, Any] | None] = [None] * len(splits)
        if self.take and self.published is not None:
            parts = split_docs(read_splits(self.published, spec.name))
            takens = [take_anchors(spec, d, doc) for d, (_, doc) in zip(splits, parts, strict=True)]
        x = {a: e for a, (_, e) in emb.items()}
        docs = [
            stitch_splits(replace(spec, split_seed=seed), d, x, taken)
            for seed, d, taken in zip(spec.splits, splits, takens, strict=True)
        ]
        self.publish(with_splits(spec.split_seeds, docs))
        self.meta.setdefault("stitch", {})[spec.name] = {
            "dataset": self.recipe.datasets[spec.dataset].name,
            "section": spec.section,
            "classes": spec.classes,
            "class_counts": data.counts,
            "available_per_class": data.available,
            "max_per_class": spec.max_per_class,
            "n_items": len(data.items),
            "n_test": int(data.test.size),
            "dedup": spec.dedup,
            "dedup_counts": None if data.dedup is None else asdict(data.dedup),
            "distinct_texts": data.distinct_texts,
            "anchors": spec.anchors,
            "seeds": spec.seeds,
            "methods": spec.methods,
            "scalings": spec.scalings,
            "pairs": [list(p) for p in spec.pairs],
            "encoders": {a: self.recipe.encoders[a].model for a in emb},
            **self._grid_meta(
                spec.name,
                spec.methods,
                spec.scalings,
                spec.headline,
                spec.anchors,
                len(data.items) - int(data.test.size),
            ),
            "space_sizes": spec.space_sizes,
            "space_repeats": spec.space_repeats,
            "space_k": SPACE_K,
        }
        if spec.split_seeds:  # several test splits: n_test above is the first's
            self.meta["stitch"][spec.name].update(
                split_seeds=spec.split_seeds, n_test_per_split=[int(d.test.size) for d in splits]
            )
        if spec.space_sizes:
            self._space_at_sizes(spec, emb)
        for i, (part, taken) in enumerate(zip(splits, takens, strict=True)):
            split = spec.split_seeds[i] if spec.split_seeds else None
            self._stitch_split(spec, part, emb, taken, split, first=i == 0)
        self.then(partial(self._stitch_after, spec))

    def _stitch_after(self, spec: StitchSpec) -> None:
        """What a stitch task computes from its units' rows once they are kept: the means over
        splits, the confusion matrices, the headline map against the other maps."""
        if spec.split_seeds:
            self._split_seed_means(spec)
        self._confusions(spec)
        h = self.meta["stitch"][spec.name].get("headline")
        if h is not None:  # the headline map against the other maps and relative, from predictions
            preds = [p for p in self.extras.get(units.PREDICTIONS, []) if p["setting"] == spec.name]
            diffs = stitch_method_differences(
                preds, headline=h, n_resamples=self.recipe.bootstrap, setting=spec.name
            )
            self.extras.setdefault(COMPARISONS, []).extend(diffs.to_records())

    def _stitch_split(
        self,
        spec: StitchSpec,
        data: StitchData,
        emb: dict[str, tuple[str, np.ndarray]],
        taken: dict[str, Any] | None,
        split: int | None,
        first: bool,
    ) -> None:
        """Every unit of the task on one test split (``split``: its seed where the task has
        several; the shuffled-anchors control and the PCA on the ``first`` split only)."""
        base = {
            "y": digest(data.y.tolist()),
            "test": digest(data.test.tolist()),
            "bootstrap": self.recipe.bootstrap,
            "ids": digest(list(data.items.ids)),
        }
        tag: dict[str, Any] = {"split": split, "drop": () if first else ("pca",)}
        ids = list(data.items.ids)
        self.unit(
            "stitch-majority",
            base,
            partial(_stitch_unit, units.stitch_majority, spec.name, data.y, data.test,
                    bootstrap=self.recipe.bootstrap, ids=ids),
            **tag,
        )  # fmt: skip
        for a, b in spec.pairs:
            (ka, xa), (kb, xb) = emb[a], emb[b]
            names = (a, b)
            key = {**base, "a": ka, "b": kb, "names": names}
            args = (xa, xb, data.y, data.test)
            bs = self.recipe.bootstrap
            self.unit(
                "stitch-baseline",
                {**key, "modes": spec.modes},
                partial(
                    _stitch_unit,
                    units.stitch_baseline,
                    spec.name,
                    *args,
                    spec.modes,
                    names,
                    bs,
                    ids=ids,
                ),
                **tag,
            )
            common = {
                "anchors": spec.anchors,
                "seeds": spec.seeds,
                "strategy": spec.anchor_strategy,
                "names": names,
                "bootstrap": bs,
                **({} if taken is None else {"taken": taken[a]}),
            }
            if "aligned" in spec.modes:
                for method, scaling in distinct_cells(spec.methods, spec.scalings)[0]:
                    stats = self._comparisons("stitch", spec.name, method, scaling)
                    if not first:  # one shuffled-anchors control per task: the first split's
                        stats["permutations"] = 0
                    self.unit(
                        "stitch-method",
                        {**key, **common, "method": method, "scaling": scaling, **stats},
                        partial(
                            _stitch_unit,
                            units.stitch_method,
                            spec.name,
                            *args,
                            method=method,
                            scaling=scaling,
                            ids=ids,
                            **common,
                            **stats,
                        ),
                        **tag,
                    )
            if "relative" in spec.modes:
                relative = {**common, "anchors": _relative_counts(spec.anchors)}
                self.unit(
                    "stitch-relative",
                    {**key, **relative},
                    partial(
                        _stitch_unit, units.stitch_relative, spec.name, *args, ids=ids, **relative
                    ),
                    **tag,
                )

    def _split_seed_means(self, spec: StitchSpec) -> None:
        """Replace the task's per-split ``seed-mean`` rows by one per aligned setting over every
        (split, seed) (:func:`semalign.experiments.split_means.split_seed_means`)."""
        preds = [
            p for p in self.extras.get(units.PREDICTIONS, [])
            if p["setting"] == spec.name and p.get("mode") == "aligned"
        ]  # fmt: skip
        kept = self.extras.get(COMPARISONS, [])
        self.extras[COMPARISONS] = [
            r for r in kept
            if not (r["setting"] == spec.name and r["variant"] == SEED_MEAN
                    and r.get("split") is not None)
        ]  # fmt: skip
        bs = self.recipe.bootstrap
        splits = list(spec.split_seeds or [])
        self.unit(
            "stitch-split-means",
            {"predictions": digest(preds), "splits": splits, "bootstrap": bs},
            partial(_split_means_unit, preds, splits, bs, spec.name),
        )

    def _confusions(self, spec: StitchSpec) -> None:
        """Confusion matrices (``stitch_confusion``) from the task's prediction rows, classes in
        the recipe's order: the majority mode, and per pair the target mode and the headline
        map's first seed (on the first test split where the task has several)."""
        h = self.meta["stitch"][spec.name].get("headline")
        wanted: list[dict[str, Any]] = [{"mode": "majority"}]
        for a, b in spec.pairs:
            wanted.append({"source": a, "target": b, "mode": "target"})
            if h is not None:
                wanted.append(
                    {"source": a, "target": b, "mode": "aligned", "method": h["method"],
                     "scaling": h["scaling"], "anchors": h["anchors"], "seed": spec.seeds[0]}
                )  # fmt: skip
        first = spec.splits[0] if spec.split_seeds else None
        preds = [
            p for p in self.extras.get(units.PREDICTIONS, [])
            if p["setting"] == spec.name and p.get("split") == first
        ]  # fmt: skip
        out = self.extras.setdefault("stitch_confusion", [])
        for where in wanted:
            rows = [p for p in preds if all(p.get(k) == v for k, v in where.items())]
            out += confusion_rows(rows, list(spec.classes))

    def _space_at_sizes(self, spec: StitchSpec, emb: dict[str, tuple[str, np.ndarray]]) -> None:
        """Raw-space similarity at each of ``space_sizes`` on all the task's items, once per
        unordered encoder pair (every metric is symmetric)."""
        seen: set[frozenset[str]] = set()
        for a, b in spec.pairs:
            if frozenset((a, b)) in seen:
                continue
            seen.add(frozenset((a, b)))
            (ka, xa), (kb, xb) = emb[a], emb[b]
            kw: dict[str, Any] = {
                "sizes": spec.space_sizes, "repeats": spec.space_repeats, "k": SPACE_K,
                "names": (a, b),
            }  # fmt: skip
            self.unit(
                "space-sizes",
                {"a": ka, "b": kb, **kw},
                partial(_stitch_unit, units.space_at_sizes, spec.name, xa, xb, **kw),
            )

    # ----------------------------------------------------------------- zero-shot
    def _prompts(self, spec: ZeroShotSpec, alias: str) -> tuple[str, Any]:
        from semalign.tasks.prompts import load_prompt_set
        from semalign.tasks.zeroshot import PromptEmbeddings

        ps = load_prompt_set(spec.prompts, classes=spec.labels, seed=self.recipe.seed)
        ids: list[str] = []
        texts: list[str] = []
        spans: list[tuple[int, int, int]] = []
        for c in ps.classes:
            pos, neg = ps.positive[c], ps.negative.get(c, [])
            spans.append((len(texts), len(pos), len(neg)))
            ids += [f"{c}|+|{i}" for i in range(len(pos))] + [f"{c}|-|{i}" for i in range(len(neg))]
            texts += pos + neg
        key, e = self.embedder.embed(alias, Items(ids, texts, "text"), f"prompts:{ps.name}")
        pe = PromptEmbeddings(
            ps.classes,
            [e[s : s + p] for s, p, _ in spans],
            [e[s + p : s + p + q] for s, p, q in spans],
            ps.name,
        )
        return key, pe

    def _anchor_embeddings(
        self, spec: ZeroShotSpec, anchors: AnchorSet
    ) -> tuple[str, str, np.ndarray | DrawnRows, np.ndarray | DrawnRows, int]:
        """Store keys, the image / report rows of the anchor pairs, and how many pairs were
        embedded: only those some (anchor count, seed) cell draws, held as
        :class:`~semalign.tasks.zeroshot_folds.DrawnRows` (which the units index by pair, and
        which travel to a unit worker at the size of the drawn rows); every pair under
        leave-one-out, as (n_pairs, d) arrays. The rows stay float32, as stored (227,000 x 768
        x 2 float32 is 1.4 GB, float64 2.8 GB); the units convert the rows they draw to
        float64."""
        n_pairs = len(anchors.owner)
        drawn = drawn_pairs(spec, n_pairs)
        f32 = np.float32
        if drawn is None:
            k_ai, ai = self.embedder.embed(
                spec.image_encoder, anchors.images, f"{spec.name}-anchors", f32
            )
            k_at, at = self.embedder.embed(
                spec.text_encoder, anchors.reports, f"{spec.name}-reports", f32
            )
            return k_ai, k_at, ai[anchors.image_row], at[anchors.report_row], n_pairs
        images, reports, img_rows, rep_rows = anchor_subset(anchors, drawn)
        k_ai, ai = self.embedder.embed(spec.image_encoder, images, f"{spec.name}-anchors", f32)
        k_at, at = self.embedder.embed(spec.text_encoder, reports, f"{spec.name}-reports", f32)
        a_img = DrawnRows.of(
            ai[np.searchsorted(img_rows, anchors.image_row[drawn])], drawn, n_pairs
        )
        a_txt = DrawnRows.of(
            at[np.searchsorted(rep_rows, anchors.report_row[drawn])], drawn, n_pairs
        )
        return k_ai, k_at, a_img, a_txt, int(drawn.size)

    def zeroshot(self, spec: ZeroShotSpec) -> None:
        ev = eval_images(spec, self.dataset(spec.images))
        k_img, x = self.embedder.embed(spec.image_encoder, ev.items, spec.name)
        k_pr, prompts = self._prompts(spec, spec.text_encoder)
        key = {
            "task": "zeroshot",
            "source": spec.image_encoder,
            "target": spec.text_encoder,
            "setting": spec.name,
        }
        ids = ev.items.ids
        bs = self.recipe.bootstrap
        zs: dict[str, Any] = {
            "rule": spec.rule,
            "aggregate": spec.aggregate,
            "temperature": spec.temperature,
        }
        scored: dict[str, Any] = {"scorings": spec.scoring, "csls_k": spec.csls_k}
        base = {
            "x": k_img,
            "prompts": k_pr,
            "y": digest(np.asarray(ev.y).tolist()),
            "ids": digest(ids),
            "bootstrap": bs,
            "key": key,
            **zs,
        }
        meta: dict[str, Any] = {
            "images": self.recipe.datasets[spec.images].name,
            "n_images": len(ids),
            "label_counts": ev.counts,
            "labels": spec.labels,
            "prompts": prompts.name,
            "prompt_counts": {
                c: [len(p), len(n)]
                for c, p, n in zip(prompts.classes, prompts.positive, prompts.negative, strict=True)
            },
            "image_encoder": self.recipe.encoders[spec.image_encoder].model,
            "text_encoder": self.recipe.encoders[spec.text_encoder].model,
            "joint": spec.joint,
            "split": spec.split,
            "rule": spec.rule,
            "scoring": spec.scoring,
            "csls_k": spec.csls_k,
        }
        self.meta.setdefault("zeroshot", {})[spec.name] = meta
        if spec.joint:
            self.publish(zeroshot_splits(spec, ev.items, None, None))
            self.unit(
                "zeroshot-joint",
                {**base, **scored},
                partial(
                    units.zeroshot_joint,
                    x,
                    ev.y,
                    ev.mask,
                    ids,
                    prompts,
                    key=key,
                    bootstrap=bs,
                    **zs,
                    **scored,
                ),
            )
            return
        assert spec.anchor_dataset is not None
        reports = self.dataset(spec.reports) if spec.reports else None
        anchors = anchor_set(spec, self.dataset(spec.anchor_dataset), reports)
        k_ai, k_at, a_img, a_txt, drawn = self._anchor_embeddings(spec, anchors)
        loo = spec.split == "loo"
        everyone = patient_keys(self.dataset(spec.images), self.dataset(spec.anchor_dataset))
        patients = {i: everyone[i] for i in dict.fromkeys([*ids, *anchors.owner]) if i in everyone}
        if loo:
            folds, allowed = patient_folds(ids, anchors.owner, patients)
            meta["folds"] = {"unit": "patient", "n_folds": len(folds), "n_images": len(ids)}
        else:
            folds, allowed = [np.arange(len(ids))], [np.ones(len(anchors.owner), bool)]
        self.publish(zeroshot_splits(spec, ev.items, anchors, (folds, allowed)))
        meta.update(
            n_anchor_pairs=len(anchors.owner),
            anchor_images=len(anchors.images),
            anchor_reports=len(anchors.reports),
            drawn_pairs=drawn,
            pairing=spec.pairing,
            protocol=protocol(spec),
            same_images=spec.anchor_dataset == spec.images,
            reports_per_image=spec.reports_per_image,
            anchors=spec.anchors,
            seeds=spec.seeds,
            methods=spec.methods,
            comparators=spec.comparators,
            **self._grid_meta(
                spec.name,
                spec.methods,
                spec.scalings,
                spec.headline,
                spec.anchors,
                None if spec.split == "loo" else len(anchors.owner),
            ),
        )
        if spec.asif is not None:
            top_k = spec.asif.top_k  # a tuple when the settings are chosen on held-out anchors
            meta["asif"] = {
                **asdict(spec.asif),
                "top_k_used": {str(k): min(top_k, k) for k in spec.anchors}
                if isinstance(top_k, int)
                else None,
            }
        if spec.comparators:
            self.unit(
                "zeroshot-comparators",
                {**base, "comparators": spec.comparators, "patients": digest(patients)},
                partial(
                    units.zeroshot_comparators, x, ev.y, ev.mask, ids, prompts.classes,
                    comparators=spec.comparators, rule=spec.rule, key=key, bootstrap=bs,
                    patients=patients,
                ),
            )  # fmt: skip
        centroid = spec.pairing == "label-matched"
        akey = {
            **base,
            "ai": k_ai,
            "at": k_at,
            "rows": digest(
                [anchors.image_row.tolist(), anchors.report_row.tolist(), anchors.owner]
            ),
            "loo": loo,
            "patients": digest(patients),
            "labels": digest(np.nan_to_num(anchors.labels, nan=-1).tolist()) if centroid else None,
            "anchors": spec.anchors,
            "seeds": spec.seeds,
            **scored,
        }
        at_k = meta["headline"]["anchors"] if meta.get("headline") else None
        center = spec.center_text
        if spec.asif is not None:
            asif: dict[str, Any] = {"top_k": spec.asif.top_k, "power": spec.asif.power}
            if spec.asif.select is not None or spec.asif.center:
                asif.update(center=spec.asif.center, select=spec.asif.select)
            self.unit(
                "zeroshot-asif",
                {**akey, "asif": asif, "score_at": at_k},
                partial(
                    units.zeroshot_asif, x, ev.y, ev.mask, ids, prompts, a_img, a_txt,
                    anchors.owner,
                    loo=loo, anchors=spec.anchors, seeds=spec.seeds, key=key, bootstrap=bs,
                    score_at=at_k, patients=patients, **asif, **zs, **scored,
                ),
            )  # fmt: skip
        for method, scaling in distinct_cells(spec.methods, spec.scalings)[0]:
            perms = self._comparisons("zeroshot", spec.name, method, scaling)["permutations"]
            mkey = {"method": method, "scaling": scaling, "score_at": at_k, "center": center}
            self.unit(
                "zeroshot-method",
                {**akey, **mkey, "permutations": perms},
                partial(
                    units.zeroshot_method,
                    x,
                    ev.y,
                    ev.mask,
                    ids,
                    prompts,
                    a_img,
                    a_txt,
                    anchors.owner,
                    loo=loo,
                    patients=patients,
                    method=method,
                    scaling=scaling,
                    anchors=spec.anchors,
                    seeds=spec.seeds,
                    center_text=spec.center_text,
                    key=key,
                    bootstrap=bs,
                    score_at=at_k,
                    anchor_labels=anchors.labels if centroid else None,
                    permutations=perms,
                    **zs,
                    **scored,
                ),
            )
        if meta.get("headline"):
            self.then(partial(self._zeroshot_after, spec, meta["headline"], key))

    def _zeroshot_after(self, spec: ZeroShotSpec, headline: dict[str, Any], key: Any) -> None:
        """T against ASIF and the comparators, from the units' per-item scores once kept."""
        mine = [r for r in self.extras.get("zeroshot_scores", []) if r["setting"] == spec.name]
        diffs = score_differences(
            mine, rule=spec.rule, headline=headline, n_resamples=self.recipe.bootstrap, key=key
        )
        self.extras.setdefault(COMPARISONS, []).extend(diffs.to_records())

    # ----------------------------------------------------------------- retrieval
    def _retrieval_rows(self, spec: RetrievalSpec) -> list[RetrievalData]:
        """The task's rows, one per test split; with ``items_from``, the stitch task's items
        and its first (headline) test split."""
        if spec.items_from is not None:
            src = next(s for s in self.recipe.stitch if s.name == spec.items_from)
            data = self._stitch_rows(src)[0]
            return [RetrievalData(data.items, None, data.test, data.dedup)]
        return retrieval_splits_data(spec, self.dataset(spec.dataset))

    def retrieval(self, spec: RetrievalSpec) -> None:
        # the same items (and so the same store entries) as the stitch task when items_from is set
        what = spec.items_from or spec.name
        splits = [
            _RetrievalSplit(d, self.embedder, what, self._gallery(spec, d))
            for d in self._retrieval_rows(spec)
        ]
        data, gallery = splits[0].data, splits[0].gallery  # the headline split
        gallery_meta: dict[str, Any] = {"kind": spec.gallery, "size": int(data.test.size)}
        if gallery is not None:
            gallery_meta.update(
                size=int(data.test.size) + len(gallery.texts), distractors=len(gallery.texts)
            )
        n, n_test = len(data.texts), int(data.test.size)
        self.meta.setdefault("retrieval", {})[spec.name] = {
            "dataset": self.recipe.datasets[spec.dataset].name,
            "kind": spec.kind,
            "section": spec.section,
            "items_from": spec.items_from,
            "split": "as stitch task" if spec.items_from else spec.split,
            "n_items": n,
            "n_test": n_test,
            "n_train": n - n_test,
            "dedup_counts": None if data.dedup is None else asdict(data.dedup),
            "dropped_shared_train": data.dropped_shared,
            "gallery": gallery_meta,
            "distinct_test_texts": len(
                {normalise_text(str(data.texts.payloads[i])) for i in data.test.tolist()}
            ),
            "pairs": [list(p) for p in spec.pairs],
            "directions": {
                f"{a}|{b}": list(retrieval_units.direction_names(spec.kind, (a, b)).values())
                for a, b in spec.pairs
            },
            "anchors": spec.anchors,
            "seeds": spec.seeds,
            "methods": spec.methods,
            "scalings": spec.scalings,
            "ks": spec.ks,
            "scorings": spec.scorings,
            "csls_k": spec.csls_k,
            "unpaired": _unpaired_meta(spec, n - n_test),
            "asif": None if spec.asif is None else asdict(spec.asif),
            **self._grid_meta(
                spec.name, spec.methods, spec.scalings, spec.headline, spec.anchors, n - n_test
            ),
            "encoders": {
                a: self.recipe.encoders[a].model
                for a in dict.fromkeys(x for p in spec.pairs for x in p)
            },
        }
        self._split_meta(spec)
        docs = []
        for seed, r in zip(spec.splits, splits, strict=True):
            sources = {a: r.rows(a, r.data.source_items())[1] for a, _ in spec.pairs}
            docs.append(
                retrieval_splits(replace(spec, split_seed=seed), r.data, sources, r.gallery)
            )
        self.publish(with_splits(spec.split_seeds, docs))
        for i, r in enumerate(splits):
            split = spec.split_seeds[i] if spec.split_seeds else None
            self._retrieval_split(spec, r, split, first=i == 0)

    def _gallery(self, spec: RetrievalSpec, data: RetrievalData) -> Gallery | None:
        """The distractors of an ``all-distinct`` gallery for the task's rows ``data``."""
        if spec.gallery != "all-distinct":
            return None
        return gallery_items(self.dataset(spec.dataset), spec.section, spec.kind, data.texts)

    def _split_meta(self, spec: RetrievalSpec) -> None:
        """What a retrieval task's meta says of its test splits beyond the first (the meta's
        counts are the first split's), and, with ``items_from`` a stitch task of several
        splits, that it reuses the first (a notice too)."""
        meta = self.meta["retrieval"][spec.name]
        if spec.split_seeds:
            meta["split_seeds"] = spec.split_seeds
        src = next((s for s in self.recipe.stitch if s.name == spec.items_from), None)
        if src is not None and src.split_seeds:
            meta["split"] = f"as stitch task: its first split (split seed {src.split_seeds[0]})"
            self.notices.append(
                f"retrieval {spec.name!r} reuses the first test split (split seed "
                f"{src.split_seeds[0]}) of stitch task {src.name!r}, of split seeds "
                f"{src.split_seeds}; give the retrieval task its own split_seeds (split = "
                '"random", no items_from) to score several'
            )

    def _retrieval_split(
        self, spec: RetrievalSpec, r: _RetrievalSplit, split: int | None, first: bool
    ) -> None:
        """Every unit of a retrieval task on one test split (``split``: its seed where the task
        has several; the shuffled-anchors control on the ``first`` split only)."""
        data, gallery, bs = r.data, r.gallery, self.recipe.bootstrap
        tag: dict[str, Any] = {"split": split}
        for a, b in spec.pairs:
            (ka, xa), (kb, xb) = r.rows(a, data.source_items()), r.rows(b, data.texts)
            common: dict[str, Any] = {"kind": spec.kind, "names": (a, b), "ks": spec.ks}
            key = {
                "a": ka, "b": kb, "test": digest(data.test.tolist()), "bootstrap": bs, **common
            }  # fmt: skip
            if gallery is not None:  # every unit ranks among the test rows and the distractors
                kga, xga = r.in_gallery(a, gallery.source_items())
                kgb, xgb = r.in_gallery(b, gallery.texts)
                key["gallery"] = [kga, kgb]
                common = {**common, "distractors": (xga, xgb)}
            self.unit(
                "retrieval-control",
                key,
                partial(
                    _stitch_unit, retrieval_units.retrieval_control, spec.name, xa, xb, data.test,
                    bootstrap=bs, **common,
                ),
                **tag,
            )  # fmt: skip
            fit = {"anchors": spec.anchors, "seeds": spec.seeds, "strategy": spec.anchor_strategy}
            cells = distinct_cells(spec.methods, spec.scalings)[0]
            for method, scaling in cells:
                for scoring in spec.scorings:
                    # cosine keys as before the scorings existed, so their cached steps stay valid
                    csls = {"scoring": scoring, "csls_k": spec.csls_k} if scoring == "csls" else {}
                    self.unit(
                        "retrieval-method",
                        {**key, **fit, "method": method, "scaling": scaling, **csls},
                        partial(
                            _stitch_unit, retrieval_units.retrieval_method, spec.name, xa, xb,
                            data.test, method=method, scaling=scaling, bootstrap=bs, **csls,
                            **fit, **common,
                        ),
                        **tag,
                    )  # fmt: skip
            if spec.unpaired is not None:
                u = spec.unpaired
                self.unit(
                    "retrieval-pools",
                    {**key, **fit, "pool": u.pool, "ids": digest(data.texts.ids)},
                    partial(
                        _stitch_unit, retrieval_units.retrieval_pools, spec.name, xa,
                        data.texts.ids, data.test, names=(a, b), **fit,
                    ),
                    **tag,
                )  # fmt: skip
                refine = {
                    "scorings": spec.scorings, "csls_k": spec.csls_k,
                    "iterations": u.iterations, "max_pseudo": u.max_pseudo,
                }  # fmt: skip
                h = self._headline_comparisons("retrieval", spec.name)
                for method, scaling in cells:
                    # the headline map's unit also pairs T with its refinement at that count
                    ours = h is not None and (h["method"], h["scaling"]) == (method, scaling)
                    at = {"headline": h["headline"] if h is not None and ours else None}
                    self.unit(
                        "retrieval-refined",
                        {**key, **fit, **refine, "pool": u.pool, "method": method,
                         "scaling": scaling, **at},
                        partial(
                            _stitch_unit, retrieval_units.retrieval_refined, spec.name, xa, xb,
                            data.test, method=method, scaling=scaling, bootstrap=bs, **refine,
                            **fit, **common, **at,
                        ),
                        **tag,
                    )  # fmt: skip
            stats = self._headline_comparisons("retrieval", spec.name)
            if stats is not None:
                if not first:  # one shuffled-anchors control per task: the first split's
                    stats["permutations"] = 0
                asif_kw = None if spec.asif is None else asdict(spec.asif)
                others = [list(c) for c in cells if c != (stats["method"], stats["scaling"])]
                extra = {"scorings": spec.scorings, "csls_k": spec.csls_k, "asif": asif_kw,
                         "others": others, **stats}  # fmt: skip
                self.unit(
                    "retrieval-comparisons",
                    {**key, **fit, **extra},
                    partial(
                        _stitch_unit, retrieval_units.retrieval_comparisons, spec.name, xa, xb,
                        data.test, bootstrap=bs, **extra, **fit, **common,
                    ),
                    **tag,
                )  # fmt: skip
            if spec.asif is not None:
                asif = asdict(spec.asif)
                self.unit(
                    "retrieval-asif",
                    {**key, **fit, "asif": asif},
                    partial(
                        _stitch_unit, retrieval_units.retrieval_asif, spec.name, xa, xb,
                        data.test, bootstrap=bs, **asif, **fit, **common,
                    ),
                    **tag,
                )  # fmt: skip


@dataclass
class _RetrievalSplit:
    """One test split of a retrieval task: its rows, the distractors of its gallery (None
    unless ``all-distinct``) and their embeddings, each read once (an encoder may serve
    several pairs, both ways for report-report)."""

    data: RetrievalData
    embedder: Embedder
    what: str
    gallery: Gallery | None = None
    emb: dict[tuple[str, str], tuple[str, np.ndarray]] = field(default_factory=dict)
    gallery_emb: dict[tuple[str, str], tuple[str, np.ndarray]] = field(default_factory=dict)

    def rows(self, alias: str, items: Items) -> tuple[str, np.ndarray]:
        if (alias, items.modality) not in self.emb:
            self.emb[alias, items.modality] = self.embedder.embed(alias, items, self.what)
        return self.emb[alias, items.modality]

    def in_gallery(self, alias: str, items: Items) -> tuple[str, np.ndarray]:
        if (alias, items.modality) not in self.gallery_emb:
            self.gallery_emb[alias, items.modality] = self.embedder.embed(
                alias, items, f"{self.what}-gallery"
            )
        return self.gallery_emb[alias, items.modality]


def _unpaired_meta(spec: RetrievalSpec, n_train: int) -> dict[str, Any] | None:
    """The refinement settings and, per anchor count, the pool sizes (source U, target V): the
    training rows left after the anchors, halved (U gets the smaller half)."""
    if spec.unpaired is None:
        return None
    sizes = {str(k): [(n_train - k) // 2, n_train - k - (n_train - k) // 2]
             for k in spec.anchors if k <= n_train}  # fmt: skip
    return {**asdict(spec.unpaired), "csls_k": spec.csls_k, "pool_sizes": sizes}


def protocol(spec: ZeroShotSpec) -> str:
    """What a zero-shot task's map has seen: ``zero-shot`` only when no label built the anchors
    and the anchor images are not the evaluated images' collection."""
    if spec.joint:
        return "multimodal"
    if spec.pairing == "label-matched":
        return "label-matched"
    return "zero-shot" if spec.anchor_dataset != spec.images else "same-collection"


RELATIVE_MAX = 256
UNITS_VERSION = 7  # bump when a unit's rows (numbers or columns) change for the same inputs


def _relative_counts(anchors: list[int]) -> list[int]:
    """Anchor counts for relative representations: a head on k features costs O(k) per item,
    so counts above RELATIVE_MAX are left out (the smallest count is always kept)."""
    return [k for k in anchors if k <= RELATIVE_MAX] or anchors[:1]


def _stitch_unit(fn: Callable[..., UnitOutput], name: str, *args: Any, **kw: Any) -> UnitOutput:
    return _rename(fn(*args, **kw), name)


def _split_means_unit(
    preds: list[dict[str, Any]], splits: list[int], n_resamples: int, name: str
) -> UnitOutput:
    means = split_seed_means(preds, splits, n_resamples=n_resamples, setting=name)
    return UnitOutput(extras={COMPARISONS: means.to_records()})


def _in_split(out: UnitOutput, split: int, drop: tuple[str, ...] = ()) -> UnitOutput:
    """``out`` with ``split`` (the seed of the test split it scored) on every row and extra
    row, less the extras named in ``drop``."""
    table = ResultTable(replace(r, split=split) for r in out.table)
    extras = {k: [{**r, "split": split} for r in rows] for k, rows in out.extras.items()
              if k not in drop}  # fmt: skip
    return UnitOutput(table, extras)


def _rename(out: UnitOutput, name: str) -> UnitOutput:
    for rows in out.extras.values():
        for r in rows:
            r["setting"] = name
    return UnitOutput(_named(out.table, name), out.extras)


def n_units(recipe: Recipe) -> int:
    n = 0
    for s in recipe.stitch:
        per = 1 + ("relative" in s.modes)
        per += len(distinct_cells(s.methods, s.scalings)[0]) if "aligned" in s.modes else 0
        n += (per * len(s.pairs) + 1) * len(s.splits)  # + the majority floor; per test split
        n += 1 if s.split_seeds else 0  # the seed means over every split
        n += len({frozenset(p) for p in s.pairs}) if s.space_sizes else 0
    for z in recipe.zeroshot:
        cells = len(distinct_cells(z.methods, z.scalings)[0])
        n += 1 if z.joint else bool(z.comparators) + cells + (z.asif is not None)
    for r in recipe.retrieval:
        cells = len(distinct_cells(r.methods, r.scalings)[0])
        per = 2 + cells * len(r.scorings) + (r.asif is not None)  # + the comparisons
        per += 0 if r.unpaired is None else 1 + cells
        n += per * len(r.pairs) * len(r.splits)
    return n


def recipe_text(recipe: Recipe) -> str | None:
    """The text of the recipe file the run read (None for a recipe built in memory)."""
    if recipe.path is None or not recipe.path.is_file():
        return None
    return recipe.path.read_text(encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


@contextlib.contextmanager
def _task_named(kind: str, name: str, run: _Run | None = None) -> Iterator[None]:
    """A user error raised inside a task says which task (``[[kind]]`` ``name``) it came from;
    the task's wall time goes to ``run``'s timings."""
    start = time.perf_counter()
    if run is not None:
        run.enter(kind, name)
    with _task_errors(kind, name):
        yield
        if run is not None:
            seconds = time.perf_counter() - start
            run.embedder.tasks.append({"task": run.embedder.task, "seconds": seconds})


@contextlib.contextmanager
def _task_errors(kind: str, name: str) -> Iterator[None]:
    """A user error raised inside says which task (``[[kind]]`` ``name``) it came from."""
    try:
        yield
    except SemalignError as exc:
        if str(exc).startswith(f"[[{kind}]] task {name!r}: "):
            raise
        cls = FormatError if isinstance(exc, FormatError) else InputError
        raise cls(f"[[{kind}]] task {name!r}: {exc}") from exc


def _under_blas_policy(fn: Callable[..., RunSummary]) -> Callable[..., RunSummary]:
    """Run ``fn`` with numpy/scipy BLAS under the thread policy of :mod:`semalign.threads`."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> RunSummary:
        with blas_policy():
            return fn(*args, **kwargs)

    return wrapped


@_under_blas_policy
def run_recipe(
    recipe: Recipe,
    out: str | Path,
    *,
    store: str | Path | None = None,
    progress: bool = True,
    report: bool = True,
    published: str | Path | None = None,
    take: bool = False,
) -> RunSummary:
    """Run every task of ``recipe`` into folder ``out``; see the module docstring for files.

    The pre-flight (:func:`semalign.experiments.preflight.preflight`) runs first: any problem of
    the recipe, its roots or its models stops the run, all of them listed, before a model loads.
    ``published``: a run's ``splits/`` folder; every task's draws (rows, anchors, pools) must
    equal the ones published there, else the run stops at the first task that differs, before
    its units run. ``take``: stitch tasks take their rows and test split from there instead of
    drawing them, whatever the order of the records.
    """
    start = time.perf_counter()
    text = recipe_text(recipe)  # as read now, should the file change during the run
    checked = preflight(recipe)
    checked.raise_if_failed()
    out = Path(out).expanduser().resolve()
    (out / "results").mkdir(parents=True, exist_ok=True)
    root = Path(store or recipe.store or default_store()).expanduser()
    bar_factory = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        def bar_factory(desc: str, total: int) -> Any:
            return tqdm(total=total, desc=desc, unit="item", leave=False, disable=None)

        bar = tqdm(total=n_units(recipe), desc="evaluate", unit="step", leave=False, disable=None)
    run = _Run(
        recipe,
        out,
        _TimedEmbedder(root, recipe.encoders, bar_factory, recipe.compute),
        StepCache(root / STEPS_DIR),
        bar,
    )
    run.records.update(checked.records)
    run.notices.extend(checked.notices)
    jobs = resolve_jobs(recipe.compute.jobs)
    run.pool = UnitPool(jobs) if jobs > 1 else None
    run.published = None if published is None else Path(published).expanduser().resolve()
    run.take = take
    if run.published == out / SPLITS_DIR:
        raise InputError(
            f"the published splits {run.published} are this run's own output folder: copy them "
            "elsewhere or pass another --out"
        )
    shutil.rmtree(out / SPLITS_DIR, ignore_errors=True)  # a task renamed leaves no stale file
    done = False
    try:
        for s in recipe.stitch:
            with _task_named("stitch", s.name, run):
                run.stitch(s)
        for z in recipe.zeroshot:
            with _task_named("zeroshot", z.name, run):
                run.zeroshot(z)
        for t in recipe.retrieval:
            with _task_named("retrieval", t.name, run):
                run.retrieval(t)
        run.settle()
        done = True
    finally:
        run.embedder.close()
        if run.pool is not None:
            run.pool.close(cancel=not done)
    if bar is not None:
        bar.close()
    record_recipe_run(root, recipe.name, run.embedder.entries.values(), run.cache.used)
    for name in RESULT_FILES:
        table = run.tables.get(name, ResultTable())
        if len(table):
            table.to_csv(out / "results" / f"{name}.csv")
    for name in EXTRA_FILES:
        if run.extras.get(name):
            _write_csv(out / "results" / f"{name}.csv", run.extras[name])
    seconds = time.perf_counter() - start
    payload = {
        "format": 1,
        "recipe": {
            "name": recipe.name,
            "title": recipe.title,
            "notes": recipe.notes,
            "path": str(recipe.path) if recipe.path else None,
            "bootstrap": recipe.bootstrap,
            "text": text,
            "roots": {a: d.root for a, d in recipe.datasets.items()},
            "compute": asdict(recipe.compute),
        },
        "tasks": run.meta,
        "splits": run.splits,
        "models": {
            a: model_identity(recipe.encoders[a], recipe.compute, run.embedder.resolved.get(a))
            for a in sorted(run.embedder.resolved)
        },
        "environment": environment(),
        "run": {"store": str(root), "entries": run.embedder.entries},
        "files": sorted(p.name for p in (out / "results").glob("*.csv")),
        "timings": {
            "seconds": seconds,
            "jobs": jobs,
            "waiting": run.waited,
            "tasks": run.embedder.tasks,
            "steps": run.embedder.steps,
        },
        "rows": [
            r for name in RESULT_FILES for r in run.tables.get(name, ResultTable()).to_records()
        ],
    }
    atomic_write_bytes(out / "results.json", (json.dumps(payload, indent=1) + "\n").encode())
    md = out / "report.md"
    html = out / "report.html"
    if report:
        from semalign.experiments.report import write_report

        began = time.perf_counter()
        md, html = write_report(out)
        payload["timings"]["report_seconds"] = time.perf_counter() - began  # type: ignore[index]
        atomic_write_bytes(out / "results.json", (json.dumps(payload, indent=1) + "\n").encode())
    return RunSummary(
        out,
        md,
        html,
        time.perf_counter() - start if report else seconds,
        sorted(run.embedder.loaded),
        run.embedder.computed,
        run.embedder.reused,
        run.cache.computed,
        run.cache.reused,
        list(dict.fromkeys(run.notices)),
    )
