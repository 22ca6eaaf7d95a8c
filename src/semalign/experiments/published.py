"""The splits a run draws, published by id: ``OUT/splits/<task>.json``, one file per task.

Each file names the rows the task's numbers were computed on, by item id:

- stitch: ``train`` and ``test`` ids (``split_seed``), and ``anchors[source][k][seed]`` the ids
  of the anchors every (anchor count, seed) cell draws from the train rows for that source
  encoder (the relative-representation cells use the first seed's).
- zeroshot: the evaluated ``images``, the anchor ``pairs`` some cell draws (``[image id,
  report id]``, in the order of the task's pair list) and ``anchors[k][seed]`` the indices into
  ``pairs`` each cell draws; under leave-one-patient-out ``anchors[k][seed][fold]`` per fold
  (the fold named by its held-out image ids).
- retrieval: ``train`` and ``test`` ids, ``anchors[source][k][seed]``, with unpaired pools
  ``pools[source][k][seed]`` = ``{"source": ids, "target": ids}``, and with an
  ``all-distinct`` gallery ``gallery`` = ``{"kind", "distractors": ids}`` (image-report also
  ``distractor_images``).

A task with several test splits (``split_seeds``) writes the keys its splits share once, then
``split_seeds`` (in the recipe's order, the headline split first) and ``splits[seed]``: that
split's ``train``, ``test``, ``anchors`` (and ``pools``) as above (:func:`with_splits`,
:func:`split_docs`).

Only counts the training rows can fill are listed (larger ones are n/a rows in the results).
:func:`first_difference` names where a re-drawn split departs from a published one
(``semalign run --reproduce``); :func:`take_stitch` rebuilds a stitch task's rows and test split
from a published file, found by id among the records whatever their order, and
:func:`take_anchors` its anchors (``--splits``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.artefacts import atomic_write_bytes
from semalign.data.records import Record
from semalign.errors import InputError
from semalign.experiments.inputs import AnchorSet, Gallery, RetrievalData, StitchData, stitch_data
from semalign.experiments.recipe import RetrievalSpec, StitchSpec, ZeroShotSpec
from semalign.store.items import Items
from semalign.tasks.retrieval_refined import unpaired_pools
from semalign.tasks.splits import split_rows
from semalign.tasks.stitching import draw_shared, label_problem
from semalign.tasks.zeroshot_folds import draw_pairs

SPLITS_DIR = "splits"
FORMAT = 1
Index = NDArray[np.int64]
Folds = tuple[Sequence[Index], Sequence[NDArray[np.bool_]]]


def _ids(items: Items, rows: Any) -> list[str]:
    return [items.ids[i] for i in np.asarray(rows, dtype=np.int64).tolist()]


def _sources(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(a for a, _ in pairs))


Taken = dict[str, list[int]]  # "k/seed" -> anchor rows of one source encoder


def stitch_splits(
    spec: StitchSpec,
    data: StitchData,
    x: Mapping[str, Any],
    taken: Mapping[str, Taken] | None = None,
) -> dict[str, Any]:
    """The published splits of stitch task ``spec``: ``x`` maps each source alias to its (n, d)
    embeddings of ``data.items`` (anchor strategies such as ``kmeans++`` read them); ``taken``
    (source alias -> :data:`Taken`): anchors taken from a published file instead of drawn."""
    train, test = split_rows(len(data.items), data.test)
    prob = label_problem(data.y)
    anchors: dict[str, Any] = {}
    for a in _sources(spec.pairs):
        xa = np.asarray(x[a])
        if taken is not None:
            anchors[a] = {}
            for cell, rows in taken[a].items():
                count, draw = cell.split("/")
                anchors[a].setdefault(count, {})[draw] = _ids(data.items, rows)
            continue
        anchors[a] = {}
        for k in (k for k in spec.anchors if k <= train.size):
            anchors[a][str(k)] = {}
            for seed in spec.seeds:
                drawn = draw_shared(
                    xa, xa, prob, train, anchors=k, seed=seed, strategy=spec.anchor_strategy
                )
                assert drawn is not None  # k <= train rows
                anchors[a][str(k)][str(seed)] = _ids(data.items, drawn[0])
    return {
        "format": FORMAT, "task": spec.name, "kind": "stitch", "split_seed": spec.split_seed,
        "anchor_strategy": spec.anchor_strategy, "train": _ids(data.items, train),
        "test": _ids(data.items, test), "anchors": anchors,
    }  # fmt: skip


SPLIT_KEYS = ("split_seed", "train", "test", "anchors", "pools")
"""The keys of a published file that differ from one test split to another."""


def with_splits(seeds: Sequence[int] | None, docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A task's published file from the file of each of its test splits ``docs``: the one
    file as it is for one split (``seeds`` None); for several, the keys they share once,
    ``split_seeds`` and ``splits`` = {seed: that split's ``train``, ``test``, ``anchors`` (and
    ``pools``)}."""
    if seeds is None:
        (doc,) = docs
        return dict(doc)
    out = {k: v for k, v in docs[0].items() if k not in SPLIT_KEYS}
    out["split_seeds"] = [int(s) for s in seeds]
    out["splits"] = {
        str(s): {k: d[k] for k in SPLIT_KEYS[1:] if k in d}
        for s, d in zip(seeds, docs, strict=True)
    }
    return out


def split_docs(doc: Mapping[str, Any]) -> list[tuple[int | None, dict[str, Any]]]:
    """Each test split of a published file: its seed (None for a file of one split) and the
    file of that split alone (the shared keys with its ``train``, ``test``, ``anchors``...)."""
    if "splits" not in doc:
        return [(None, dict(doc))]
    shared = {k: v for k, v in doc.items() if k not in ("split_seeds", "splits")}
    out: list[tuple[int | None, dict[str, Any]]] = []
    for seed in doc.get("split_seeds") or []:
        part = doc["splits"].get(str(seed)) if isinstance(doc["splits"], dict) else None
        if not isinstance(part, dict):
            raise InputError(
                f"published splits of {doc.get('task')!r} list split seed {seed} but hold no "
                "split under it: restore the file"
            )
        out.append((int(seed), {**shared, **part}))
    return out


def retrieval_splits(
    spec: RetrievalSpec,
    data: RetrievalData,
    x: Mapping[str, Any],
    gallery: Gallery | None = None,
) -> dict[str, Any]:
    """The published splits of retrieval task ``spec``; ``x``: source alias -> (n, d) rows;
    ``gallery``: the distractors of an ``all-distinct`` gallery, published by id (and, for
    image-report, the ids of the images that stand for them on the source side)."""
    items = data.texts
    train, test = split_rows(len(items), data.test)
    anchors: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    for a in _sources(spec.pairs):
        xa = np.asarray(x[a])
        anchors[a], pools[a] = {}, {}
        for k in (k for k in spec.anchors if k <= train.size):
            anchors[a][str(k)], pools[a][str(k)] = {}, {}
            for seed in spec.seeds:
                cell = unpaired_pools(xa, data.test, k, seed, spec.anchor_strategy)
                anchors[a][str(k)][str(seed)] = _ids(items, cell.anchors)
                pools[a][str(k)][str(seed)] = {
                    "source": _ids(items, cell.source), "target": _ids(items, cell.target)
                }  # fmt: skip
    out = {
        "format": FORMAT, "task": spec.name, "kind": "retrieval", "items_from": spec.items_from,
        "anchor_strategy": spec.anchor_strategy, "train": _ids(items, train),
        "test": _ids(items, test), "anchors": anchors,
    }  # fmt: skip
    if spec.unpaired is not None:
        out["pools"] = pools
    if gallery is not None:
        shown: dict[str, Any] = {"kind": spec.gallery, "distractors": list(gallery.texts.ids)}
        if gallery.images is not None:
            shown["distractor_images"] = list(gallery.images.ids)
        out["gallery"] = shown
    return out


def zeroshot_splits(
    spec: ZeroShotSpec, images: Items, anchors: AnchorSet | None, folds: Folds | None
) -> dict[str, Any]:
    """The published splits of zero-shot task ``spec``: the evaluated ``images`` and, through a
    map, the anchor pairs each (anchor count, seed) cell draws in each of ``folds`` (the
    evaluated rows of each fold and the anchor pairs it may draw)."""
    out: dict[str, Any] = {
        "format": FORMAT, "task": spec.name, "kind": "zeroshot", "split": spec.split,
        "images": list(images.ids),
    }  # fmt: skip
    if anchors is None or folds is None:  # a dual encoder: no map, no anchors
        return out
    n_pairs = len(anchors.owner)
    rows, allowed = folds
    draws: dict[tuple[str, str, str], NDArray[np.int64]] = {}
    for k in spec.anchors:
        if any(k > int(ok.sum()) for ok in allowed):
            continue
        for seed in spec.seeds:
            for f, ok in zip(rows, allowed, strict=True):
                draws[str(k), str(seed), " ".join(_ids(images, f))] = draw_pairs(
                    n_pairs, k, seed, ok
                )
    used = np.unique(np.concatenate([*draws.values(), np.zeros(0, np.int64)]))
    out["pairs"] = [
        [anchors.owner[i], anchors.reports.ids[int(anchors.report_row[i])]] for i in used.tolist()
    ]
    cells: dict[str, Any] = {}
    for (count, draw, fold), idx in draws.items():
        at = np.searchsorted(used, idx).tolist()
        by_seed = cells.setdefault(count, {})
        if spec.split == "loo":
            by_seed.setdefault(draw, {})[fold] = at
        else:
            by_seed[draw] = at
    out["anchors"] = cells
    return out


# --------------------------------------------------------------------------- files


def _dump(value: Any, indent: int = 0) -> str:
    """JSON with sorted keys, one key per line, and every list of scalars on one line."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        inner = ",\n".join(
            f"{pad} {json.dumps(str(k))}: {_dump(value[k], indent + 1).lstrip()}"
            for k in sorted(value, key=str)
        )
        return f"{pad}{{\n{inner}\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        inner = ",\n".join(_dump(v, indent + 1) for v in value)
        return f"{pad}[\n{inner}\n{pad}]"
    return pad + json.dumps(value)


def split_file(out: Path, task: str) -> Path:
    """Where task ``task``'s splits are published under run folder ``out``."""
    return out / SPLITS_DIR / f"{task}.json"


def write_splits(out: Path, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` (atomically) to ``OUT/splits/<task>.json``; returns the path."""
    path = split_file(out, str(doc["task"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (_dump(dict(doc)) + "\n").encode("utf-8"))
    return path


def read_splits(folder: Path, task: str) -> dict[str, Any]:
    """The published splits of ``task`` in ``folder`` (a run's ``splits/``)."""
    path = folder / f"{task}.json"
    if not path.is_file():
        raise InputError(f"no published splits for task {task!r}: {path} is missing")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"published splits {path} cannot be read ({exc}): restore it") from exc
    if not isinstance(doc, dict) or doc.get("task") != task:
        raise InputError(f"published splits {path} are not those of task {task!r}: restore it")
    return doc


#: Names of the nested keys under each list of draws, for the message of a difference.
LEVELS = {
    ("stitch", "anchors"): ("source", "k", "seed"),
    ("retrieval", "anchors"): ("source", "k", "seed"),
    ("retrieval", "pools"): ("source", "k", "seed", "pool"),
    ("zeroshot", "anchors"): ("k", "seed", "fold"),
}


def _where(kind: str, keys: Sequence[str]) -> str:
    if len(keys) >= 2 and keys[0] == "splits":  # one of several test splits: split=<seed> ...
        inner = _where(kind, keys[2:])
        return f"split={keys[1]}" + (f" {inner}" if inner else "")
    names = LEVELS.get((kind, keys[0]), ()) if keys else ()
    rest = [f"{names[i]}={k}" if i < len(names) else k for i, k in enumerate(keys[1:])]
    return " ".join([*keys[:1], *rest])


#: Top-level keys compared first: the rows before the anchors drawn from them.
FIRST = (
    "task", "kind", "split_seeds", "images", "pairs", "splits", "train", "test", "anchors",
    "pools",
)  # fmt: skip


def _rank(key: Any, keys: tuple[str, ...]) -> int:
    top = not keys or (len(keys) == 2 and keys[0] == "splits")  # a file, or one of its splits
    return FIRST.index(key) if top and key in FIRST else len(FIRST)


def first_difference(
    published: Any, drawn: Any, kind: str = "", keys: tuple[str, ...] = ()
) -> str | None:
    """Where ``drawn`` first departs from ``published`` (rows, then anchors and pools, then
    the other keys, each level in sorted order), e.g.
    ``anchors source=minilm k=16 seed=0: item 3 is 'a', published 'b'``; None if equal.
    ``kind``: the task kind (stitch, zeroshot, retrieval), read from ``published`` if absent."""
    if not keys and isinstance(published, dict):
        kind = kind or str(published.get("kind", ""))
    if isinstance(published, dict) and isinstance(drawn, dict):
        for key in sorted(set(published) | set(drawn), key=lambda k: (_rank(k, keys), str(k))):
            here = (*keys, str(key))
            if key not in published or key not in drawn:
                what = "not published" if key not in published else "not drawn"
                return f"{_where(kind, here)} ({what})"
            found = first_difference(published[key], drawn[key], kind, here)
            if found is not None:
                return found
        return None
    if published == drawn:
        return None
    where = _where(kind, keys)
    if isinstance(published, list) and isinstance(drawn, list):
        for i, (p, d) in enumerate(zip(published, drawn, strict=False)):
            if p != d:
                return f"{where}: item {i} is {d!r}, published {p!r}"
        return f"{where}: {len(drawn)} ids, published {len(published)}"
    return f"{where}: {drawn!r}, published {published!r}"


def check_published(published: Mapping[str, Any], drawn: Mapping[str, Any]) -> None:
    """Refuse, in one line, a re-drawn split that differs from the published one."""
    where = first_difference(dict(published), dict(drawn))
    if where is not None:
        raise InputError(
            f"reproduce: the splits drawn differ from the published ones at {where}: the data "
            "or the published splits changed; restore them, or pass --splits to take the "
            "published ones"
        )


def take_anchors(spec: StitchSpec, data: StitchData, doc: Mapping[str, Any]) -> dict[str, Taken]:
    """Per source alias of ``spec``, the rows of ``data`` of the anchors ``doc`` publishes for
    each (anchor count, seed) cell; refused if one is not a training row of ``data``."""
    train = set(split_rows(len(data.items), data.test)[0].tolist())
    at = {i: r for r, i in enumerate(data.items.ids)}
    out: dict[str, Taken] = {}
    for a in _sources(spec.pairs):
        cells = (doc.get("anchors") or {}).get(a)
        if cells is None:
            raise InputError(
                f"published splits of {spec.name!r} have no anchors for source encoder {a!r}: "
                "publish them from a run with the same pairs"
            )
        out[a] = {}
        for k, by_seed in cells.items():
            for seed, ids in by_seed.items():
                rows = [at.get(i, -1) for i in ids]
                if any(r not in train for r in rows):
                    raise InputError(
                        f"published anchors of {spec.name!r} ({a}, k={k}, seed={seed}) name an "
                        "item that is not a training row: restore the splits file"
                    )
                out[a][f"{k}/{seed}"] = rows
    return out


def take_stitch(spec: StitchSpec, records: list[Record], doc: Mapping[str, Any]) -> StitchData:
    """Stitch task ``spec``'s rows and test split as published in ``doc``, found by id among
    every record the task could keep (no cap per class), whatever their order."""
    full = stitch_data(replace(spec, max_per_class=None), records)
    at = {i: r for r, i in enumerate(full.items.ids)}
    wanted = [*doc.get("train", []), *doc.get("test", [])]
    missing = [i for i in wanted if i not in at]
    if missing:
        raise InputError(
            f"published splits of {spec.name!r} name {len(missing)} items this data lacks "
            f"(e.g. {missing[0]!r}): use the dataset the run was published on"
        )
    if set(doc["train"]) & set(doc["test"]):
        raise InputError(f"published splits of {spec.name!r} put one id in train and test")
    rows = np.sort(np.array([at[i] for i in wanted], dtype=np.int64))
    items = Items(_ids(full.items, rows), [full.items.payloads[i] for i in rows.tolist()],
                  full.items.modality)  # fmt: skip
    pos = {i: r for r, i in enumerate(items.ids)}
    test = np.sort(np.array([pos[i] for i in doc["test"]], dtype=np.int64))
    y = full.y[rows]
    counts = {c: int((y == c).sum()) for c in dict.fromkeys(y.tolist())}
    return replace(full, items=items, y=y, test=test, counts=counts)
