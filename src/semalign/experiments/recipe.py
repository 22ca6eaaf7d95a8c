"""Recipes: a TOML file describing an experiment, parsed and validated before any work starts.

A recipe has five kinds of tables (see ``recipes/demo.toml`` for a commented example)::

    [experiment]        name, title, bootstrap resamples, permutations (of the anchor pairing,
                        for the shuffled-anchors controls), seed, store folder, notes
    [compute]           how embeddings are computed: device, precision, batch_size,
                        num_workers, executor (local | ray) with address, workers,
                        num_gpus_per_worker, num_cpus_per_worker (CLI flags override them)
    [datasets.<alias>]  name (a registry dataset), root, options
    [encoders.<alias>]  model (a registry name, hub id or folder), options, batch_size
    [[stitch]]          stitching between encoder pairs on one labelled text or image dataset;
                        ``space_sizes`` (+ ``space_repeats``) adds the raw spaces' similarity
                        at several sample sizes
    [[zeroshot]]        image -> text zero-shot against class prompts (or a joint baseline);
                        ``scoring = ["cosine", "csls"]`` (+ ``csls_k``) and the ASIF baseline
                        (``asif = { top_k, power }``)
    [[retrieval]]       image -> report (or report -> report) retrieval through fitted maps

Retrieval keys beyond the paper: ``scoring = ["cosine", "csls"]`` ranks by each scoring
(default ``["cosine"]``; CSLS discounts hubs with ``csls_k = 10`` neighbours);
``unpaired = { pool = "train-rest", iterations = 10, max_pseudo = 500 }`` adds rows of T refined
by self-learning on unpaired pools (per anchor count and seed, the training rows not drawn as
anchors, split by a seeded shuffle into a source-only and a target-only half; never a test row;
``max_pseudo`` defaults to the smaller pool); ``asif = { top_k = 800, power = 8 }`` adds ASIF
rows on the same anchors. ``headline.scoring`` names the scoring the summary reports.

Dataset roots come, by priority, from the CLI (``--root alias=PATH``), the environment
(``SEMALIGN_ROOT_<ALIAS>``, upper case, ``-`` as ``_``), then the file. Every key and value is
checked here; an error names the key, the allowed values and, for a typo, the closest one.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semalign.errors import InputError

__all__ = [
    "AsifSpec",
    "Compute",
    "DatasetSpec",
    "EncoderSpec",
    "Headline",
    "Recipe",
    "RetrievalSpec",
    "StitchSpec",
    "UnpairedSpec",
    "ZeroShotSpec",
    "load_recipe",
    "parse_recipe",
]

SECTIONS = ("findings+impression", "findings", "impression", "report")
STITCH_MODES = ("end-to-end", "target", "naive", "aligned", "relative")
STRATEGIES = ("random", "stratified", "farthest", "kmeans++")
PAIRINGS = ("study", "label-matched")
SPLITS = ("loo", "none")
RULES = ("argmax", "pos-neg")
AGGREGATES = ("mean", "logit-mean", "max")
HEADS = ("logistic",)
RETRIEVAL_KINDS = ("image-report", "report-report")
RETRIEVAL_SPLITS = ("official", "random")
RETRIEVAL_STRATEGIES = ("random", "farthest", "kmeans++")
DEDUPS = ("text", "none")
COMPARATORS = ("nearest-centroid", "linear-probe")
POOLS = ("train-rest",)
_HEADLINE = ("method", "scaling", "anchors")
_ASIF = ("top_k", "power")
SPACE_K = 10  # neighbours of the k-NN space metrics at several sample sizes


@dataclass(frozen=True)
class AsifSpec:
    """ASIF baseline settings (:class:`semalign.tasks.asif.ASIF`): anchors kept per item and
    the power applied to their similarities; ``top_k`` is capped at the anchor count."""

    top_k: int = 800
    power: float = 8.0


@dataclass(frozen=True)
class Headline:
    """The setting a task's summary reports, fixed before any result is seen.

    ``declared``: False when the recipe gave no ``headline`` table and the default (the first
    method and scaling listed, at the largest anchor count) is used.
    """

    method: str
    scaling: str
    anchors: int
    declared: bool
    scoring: str = "cosine"


EXECUTORS = ("local", "ray")
DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Compute:
    """How the run computes embeddings (never what): defaults for every encoder, whose own
    ``options`` / ``batch_size`` win. ``executor = "ray"`` embeds through a pool of Ray actors
    (``address`` of a cluster, else a local Ray), ``workers`` of them, each with
    ``num_gpus_per_worker`` GPUs and ``num_cpus_per_worker`` CPUs."""

    device: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    num_workers: int | None = None
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    num_gpus_per_worker: float = 0.0
    num_cpus_per_worker: float = 1.0

    def encoder_options(self) -> dict[str, Any]:
        """The options every encoder gets unless its own ``options`` set them."""
        opts = {"device": self.device, "precision": self.precision, "num_workers": self.num_workers}
        return {k: v for k, v in opts.items() if v is not None}


@dataclass(frozen=True)
class DatasetSpec:
    alias: str
    name: str
    root: str | None
    options: dict[str, Any]


@dataclass(frozen=True)
class EncoderSpec:
    alias: str
    model: str
    options: dict[str, Any]
    batch_size: int | None  # None: [compute] batch_size, else 32


@dataclass(frozen=True)
class StitchSpec:
    """Stitching on one labelled dataset between ordered encoder pairs."""

    name: str
    dataset: str
    modality: str
    section: str
    classes: dict[str, list[str]]
    max_per_class: int | None
    pairs: list[tuple[str, str]]
    anchors: list[int]
    anchor_strategy: str
    seeds: list[int]
    methods: list[str]
    scalings: list[str]
    modes: list[str]
    test_fraction: float
    split_seed: int
    dedup: str = "text"
    headline: Headline | None = None
    space_sizes: list[int] = field(default_factory=list)
    space_repeats: int = 10


@dataclass(frozen=True)
class ZeroShotSpec:
    """Zero-shot classification of ``images`` against ``prompts`` in a text encoder's space."""

    name: str
    images: str
    labels: list[str]
    prompts: str
    rule: str
    aggregate: str
    temperature: float
    image_encoder: str
    text_encoder: str
    joint: bool
    anchor_dataset: str | None
    pairing: str
    reports: str | None
    match_labels: list[str]
    reports_per_image: int
    section: str
    split: str
    anchors: list[int]
    seeds: list[int]
    methods: list[str]
    scalings: list[str]
    center_text: bool
    max_images: int | None
    comparators: list[str] = field(default_factory=list)
    headline: Headline | None = None
    scoring: list[str] = field(default_factory=lambda: ["cosine"])
    csls_k: int = 10
    asif: AsifSpec | None = None


@dataclass(frozen=True)
class UnpairedSpec:
    """Refinement of T on unpaired pools (:class:`semalign.align.refine.RefinedAligner`).

    ``pool`` "train-rest": per (anchor count, seed), the training rows not drawn as anchors,
    split by a seeded shuffle into two disjoint halves, the source half seen only by the source
    encoder and the target half only by the target encoder. ``iterations``: most refits;
    ``max_pseudo``: bound on pseudo-pairs per refit (None: the smaller pool's size).
    """

    pool: str = "train-rest"
    iterations: int = 10
    max_pseudo: int | None = None


@dataclass(frozen=True)
class RetrievalSpec:
    """Retrieval between paired rows through maps source -> target fitted on training anchors.

    ``kind`` image-report: a study's image (source) and its report (target). report-report: the
    same report seen by two text encoders. ``items_from`` names a text stitch task whose items and
    test split are reused (no new embedding); otherwise rows come from ``dataset``.
    """

    name: str
    dataset: str
    kind: str
    section: str
    items_from: str | None
    split: str
    test_fraction: float
    split_seed: int
    max_test: int | None
    max_train: int | None
    pairs: list[tuple[str, str]]
    anchors: list[int]
    anchor_strategy: str
    seeds: list[int]
    methods: list[str]
    scalings: list[str]
    ks: list[int]
    headline: Headline | None = None
    dedup: str = "text"
    scorings: list[str] = field(default_factory=lambda: ["cosine"])
    csls_k: int = 10
    unpaired: UnpairedSpec | None = None
    asif: AsifSpec | None = None


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``path`` is where it was read from (None for an in-memory dict)."""

    name: str
    title: str
    notes: str
    bootstrap: int
    seed: int
    store: str | None
    datasets: dict[str, DatasetSpec]
    encoders: dict[str, EncoderSpec]
    stitch: list[StitchSpec] = field(default_factory=list)
    zeroshot: list[ZeroShotSpec] = field(default_factory=list)
    retrieval: list[RetrievalSpec] = field(default_factory=list)
    path: Path | None = None
    compute: Compute = field(default_factory=Compute)
    permutations: int = 100


# --------------------------------------------------------------------------- checking helpers


def _suggest(word: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(
                f"recipe: unknown key {where}{key!r}{_suggest(key, allowed)}; allowed keys: "
                f"{', '.join(allowed)}"
            )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"recipe: {where} must be a table ([{where}] or {{...}})")
    return value


def _str(t: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = t.get(key, default)
    if not isinstance(v, str) or not v:
        raise InputError(f"recipe: {where}{key} must be a non-empty string")
    return v


def _choice(
    t: Mapping[str, Any], key: str, where: str, allowed: Sequence[str], default: str
) -> str:
    v = _str(t, key, where, default)
    if v not in allowed:
        raise InputError(
            f"recipe: {where}{key} = {v!r} is not allowed{_suggest(v, allowed)}; use one of "
            f"{', '.join(allowed)}"
        )
    return v


def _choices(
    t: Mapping[str, Any], key: str, where: str, allowed: Sequence[str], default: list[str]
) -> list[str]:
    v = t.get(key, default)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise InputError(f"recipe: {where}{key} must be a non-empty list of strings")
    for x in v:
        if x not in allowed:
            raise InputError(
                f"recipe: {where}{key} has {x!r}{_suggest(x, allowed)}; allowed values: "
                f"{', '.join(allowed)}"
            )
    return list(dict.fromkeys(v))


def _ints(
    t: Mapping[str, Any], key: str, where: str, default: list[int], minimum: int = 0
) -> list[int]:
    v = t.get(key, default)
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if (
        not isinstance(v, list)
        or not v
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in v)
    ):
        raise InputError(f"recipe: {where}{key} must be a non-empty list of integers >= {minimum}")
    return sorted(set(v))


def _int(t: Mapping[str, Any], key: str, where: str, default: int | None, minimum: int = 0) -> Any:
    v = t.get(key, default)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise InputError(f"recipe: {where}{key} must be an integer >= {minimum}")
    return v


def _float(
    t: Mapping[str, Any], key: str, where: str, default: float, lo: float, hi: float
) -> float:
    v = t.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo < float(v) < hi:
        raise InputError(f"recipe: {where}{key} must be a number strictly between {lo} and {hi}")
    return float(v)


def _bool(t: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    v = t.get(key, default)
    if not isinstance(v, bool):
        raise InputError(f"recipe: {where}{key} must be true or false")
    return v


def _strings(t: Mapping[str, Any], key: str, where: str, default: list[str] | None) -> list[str]:
    v = t.get(key, default)
    if v is None or not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise InputError(f"recipe: {where}{key} must be a list of strings")
    return list(v)


def _label(name: Any, where: str) -> str:
    from semalign.data.labels import VOCABULARY, canonical_label, is_known_label

    if not isinstance(name, str) or not is_known_label(name):
        raise InputError(
            f"recipe: {where} has unknown label {name!r}{_suggest(str(name), VOCABULARY)}; "
            f"labels: {', '.join(VOCABULARY)}"
        )
    return canonical_label(name)


def _ref(value: str, known: Mapping[str, Any], what: str, where: str) -> str:
    if value not in known:
        names = ", ".join(known) or "none defined"
        raise InputError(
            f"recipe: {where} names {what} {value!r}{_suggest(value, list(known))}, which is not "
            f"defined; defined {what}s: {names}"
        )
    return value


# --------------------------------------------------------------------------- sections

_TOP = ("experiment", "compute", "datasets", "encoders", "stitch", "zeroshot", "retrieval")
_COMPUTE = (
    "device", "precision", "batch_size", "num_workers", "executor", "address", "workers",
    "num_gpus_per_worker", "num_cpus_per_worker",
)  # fmt: skip
_EXPERIMENT = ("name", "title", "notes", "bootstrap", "permutations", "seed", "store")
_DATASET = ("name", "root", "root_from", "options")
_ENCODER = ("model", "options", "batch_size")
_STITCH = (
    "name",
    "dataset",
    "modality",
    "section",
    "classes",
    "max_per_class",
    "pairs",
    "anchors",
    "anchor_strategy",
    "seeds",
    "methods",
    "scalings",
    "modes",
    "test_fraction",
    "split_seed",
    "head",
    "dedup",
    "headline",
    "space_sizes",
    "space_repeats",
)
_ZEROSHOT = (
    "name",
    "images",
    "labels",
    "prompts",
    "rule",
    "aggregate",
    "temperature",
    "image_encoder",
    "text_encoder",
    "joint",
    "anchor_dataset",
    "pairing",
    "reports",
    "match_labels",
    "reports_per_image",
    "section",
    "split",
    "anchors",
    "seeds",
    "methods",
    "scalings",
    "center_text",
    "max_images",
    "comparators",
    "headline",
    "scoring",
    "csls_k",
    "asif",
)

_RETRIEVAL = (
    "name",
    "dataset",
    "kind",
    "section",
    "items_from",
    "split",
    "test_fraction",
    "split_seed",
    "max_test",
    "max_train",
    "pairs",
    "anchors",
    "anchor_strategy",
    "seeds",
    "methods",
    "scalings",
    "ks",
    "headline",
    "dedup",
    "scoring",
    "csls_k",
    "unpaired",
    "asif",
)
_UNPAIRED = ("pool", "iterations", "max_pseudo")


def _headline(
    t: Mapping[str, Any],
    where: str,
    methods: list[str],
    scalings: list[str],
    anchors: list[int],
    scorings: list[str] | None = None,
) -> Headline:
    """``headline = {method, scaling, anchors}`` (+ ``scoring`` where the task has
    ``scorings``): each must be one of the task's own values."""
    raw = t.get("headline")
    first = scorings[0] if scorings else "cosine"
    if raw is None:
        return Headline(methods[0], scalings[0], max(anchors), declared=False, scoring=first)
    h = _table(raw, f"{where}headline")
    w = f"{where}headline."
    _check_keys(h, _HEADLINE + (("scoring",) if scorings else ()), w)
    anchors_k = _int(h, "anchors", w, max(anchors), 1)
    if anchors_k not in anchors:
        raise InputError(
            f"recipe: {w}anchors = {anchors_k} is not one of {where}anchors ({anchors}): pick one"
        )
    return Headline(
        _choice(h, "method", w, methods, methods[0]),
        _choice(h, "scaling", w, scalings, scalings[0]),
        anchors_k,
        declared=True,
        scoring=_choice(h, "scoring", w, scorings, first) if scorings else first,
    )


def _scorings(t: Mapping[str, Any], where: str) -> tuple[list[str], int]:
    """``scoring`` (a list of :data:`semalign.metrics.csls.SCORINGS`, default ``["cosine"]``)
    and ``csls_k`` (neighbours of the CSLS terms, default 10)."""
    from semalign.metrics.csls import SCORINGS

    return _choices(t, "scoring", where, SCORINGS, ["cosine"]), _int(t, "csls_k", where, 10, 1)


def _unpaired(t: Mapping[str, Any], where: str) -> UnpairedSpec | None:
    """``unpaired = { pool = "train-rest", iterations = 10, max_pseudo = N }`` or None."""
    if "unpaired" not in t:
        return None
    u = _table(t["unpaired"], f"{where}unpaired")
    w = f"{where}unpaired."
    _check_keys(u, _UNPAIRED, w)
    return UnpairedSpec(
        pool=_choice(u, "pool", w, POOLS, "train-rest"),
        iterations=_int(u, "iterations", w, 10, 1),
        max_pseudo=_int(u, "max_pseudo", w, None, 1),
    )


def _asif(t: Mapping[str, Any], where: str) -> AsifSpec | None:
    """``asif = { top_k = 800, power = 8 }`` (either key may be left out), or None."""
    raw = t.get("asif")
    if raw is None:
        return None
    a = _table(raw, f"{where}asif")
    w = f"{where}asif."
    _check_keys(a, _ASIF, w)
    power = a.get("power", 8.0)
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 < power < 1e6:
        raise InputError(f"recipe: {w}power = {power!r} must be a positive number below 1e6")
    return AsifSpec(_int(a, "top_k", w, 800, 1), float(power))


def _space_sizes(t: Mapping[str, Any], where: str) -> list[int]:
    """``space_sizes``: sample sizes (each > :data:`SPACE_K`) of the raw-space similarity rows;
    empty (the default) for none. Sizes above the task's item count are refused at run time."""
    v = t.get("space_sizes", [])
    if v == []:
        return []
    try:
        return _ints(t, "space_sizes", where, [], SPACE_K + 1)
    except InputError:
        raise InputError(
            f"recipe: {where}space_sizes = {v!r} must list integer sample sizes > {SPACE_K} (the "
            f"k-NN metrics use {SPACE_K} neighbours), at most the task's items"
        ) from None


def _env_root(alias: str) -> str | None:
    return os.environ.get("SEMALIGN_ROOT_" + alias.upper().replace("-", "_")) or None


def _root_from(
    raw: Any, roots: Mapping[str, str], base: Path | None, alias: str, source: Any
) -> Any:
    """The root of dataset ``source`` (``datasets.ALIAS.root_from``): one download serving two
    datasets, e.g. CheXpert and the 5x200 set drawn from it."""
    others = [a for a in raw if a != alias]
    if not isinstance(source, str) or source not in others:
        raise InputError(
            f"recipe: datasets.{alias}.root_from = {source!r} must name another dataset of the "
            f"recipe{_suggest(str(source), others)}: one of {', '.join(others) or 'none'}"
        )
    t = raw[source] if isinstance(raw[source], dict) else {}
    root = roots.get(source) or _env_root(source) or t.get("root") or None
    if isinstance(root, str) and root == t.get("root") and base is not None:
        root = str((base / Path(root).expanduser()).resolve())
    return root


def _datasets(raw: Any, roots: Mapping[str, str], base: Path | None) -> dict[str, DatasetSpec]:
    from semalign.data.registry import DATASETS as known

    out: dict[str, DatasetSpec] = {}
    for alias, t in _table(raw, "datasets").items():
        where = f"datasets.{alias}."
        t = _table(t, f"datasets.{alias}")
        _check_keys(t, _DATASET, where)
        name = _choice(t, "name", where, list(known), alias if alias in known else "")
        root = roots.get(alias) or _env_root(alias) or t.get("root") or None
        if root is not None and not isinstance(root, str):
            raise InputError(f"recipe: {where}root must be a path string")
        if root and root == t.get("root") and base is not None:
            root = str((base / Path(root).expanduser()).resolve())
        source = t.get("root_from")
        if root is None and source is not None:
            root = _root_from(raw, roots, base, alias, source)
        if known[name].needs_root and not root and source is not None:
            raise InputError(
                f"recipe: dataset {alias!r} ({name}) takes the folder of dataset {source!r} "
                f"(root_from), which has none: pass --root {source}=PATH or set "
                f"SEMALIGN_ROOT_{str(source).upper().replace('-', '_')}"
            )
        if known[name].needs_root and not root:
            raise InputError(
                f"recipe: dataset {alias!r} ({name}) needs its folder: set {where}root, the "
                f"environment variable SEMALIGN_ROOT_{alias.upper().replace('-', '_')}, or pass "
                f"--root {alias}=PATH"
            )
        options = _table(t.get("options", {}), f"{where}options")
        allowed = known[name].options()
        _check_keys(options, allowed, f"{where}options.")
        try:
            known[name].check_options(dict(options), f"{where}options.")
        except InputError as exc:
            raise InputError(f"recipe: {exc}") from None
        out[alias] = DatasetSpec(alias, name, root, dict(options))
    unknown_roots = [a for a in roots if a not in out]
    if unknown_roots:
        a = unknown_roots[0]
        raise InputError(
            f"--root {a}=...: the recipe defines no dataset {a!r}{_suggest(a, list(out))}; its "
            f"datasets: {', '.join(out) or 'none'}"
        )
    return out


_ENCODER_OPTION_TYPES: dict[str, tuple[type, int | None]] = {
    "max_length": (int, 1),
    "num_workers": (int, 0),
    "normalize": (bool, None),
    "trust_remote_code": (bool, None),
    "pooling": (str, None),
    "revision": (str, None),
    "device": (str, None),
    "precision": (str, None),
}


def _encoder_options(options: Mapping[str, Any], where: str) -> None:
    for key, (kind, minimum) in _ENCODER_OPTION_TYPES.items():
        if key not in options:
            continue
        v = options[key]
        ok = isinstance(v, kind) and (kind is bool or not isinstance(v, bool))
        if not ok or (minimum is not None and v < minimum):
            what = {int: "an integer", bool: "true or false", str: "a string"}[kind]
            bound = f" >= {minimum}" if minimum is not None else ""
            raise InputError(f"recipe: {where}options.{key} = {v!r} must be {what}{bound}")


def _encoders(raw: Any) -> dict[str, EncoderSpec]:
    from semalign.encoders.names import check_model_name

    out: dict[str, EncoderSpec] = {}
    for alias, t in _table(raw, "encoders").items():
        where = f"encoders.{alias}."
        t = _table(t, f"encoders.{alias}")
        _check_keys(t, _ENCODER, where)
        model = _str(t, "model", where, alias)
        try:
            check_model_name(model)
        except InputError as exc:
            raise InputError(f"recipe: {where}model: {exc}") from None
        options = _table(t.get("options", {}), f"{where}options")
        _encoder_options(options, where)
        batch = _int(t, "batch_size", where, None, 1) if "batch_size" in t else None
        out[alias] = EncoderSpec(alias, model, dict(options), batch)
    return out


def _classes(raw: Any, where: str) -> dict[str, list[str]]:
    t = _table(raw, f"{where}classes")
    if len(t) < 2:
        raise InputError(f"recipe: {where}classes needs at least two classes")
    out: dict[str, list[str]] = {}
    for cls, labels in t.items():
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not labels:
            raise InputError(f"recipe: {where}classes.{cls} must be a list of label names")
        out[cls] = [_label(x, f"{where}classes.{cls}") for x in labels]
    return out


def _pairs(t: Mapping[str, Any], where: str, encoders: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs_raw = t.get("pairs")
    if not isinstance(pairs_raw, list) or not pairs_raw:
        raise InputError(f"recipe: {where}pairs must list [source, target] encoder aliases")
    pairs = []
    for p in pairs_raw:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)):
            raise InputError(f"recipe: {where}pairs entries must be [source, target] aliases")
        a, b = (_ref(x, encoders, "encoder", f"{where}pairs") for x in p)
        pairs.append((a, b))
    return pairs


def _role(encoders: Mapping[str, EncoderSpec], alias: str, needed: str, where: str) -> None:
    """Refuse an encoder whose known modality cannot play a role that needs ``needed``."""
    from semalign.encoders.names import model_modality

    have = model_modality(encoders[alias].model)
    if have is None or needed in have.split("+"):
        return
    raise InputError(
        f"recipe: {where} uses encoder {alias!r} ({encoders[alias].model}, a {have} encoder) "
        f"where a {needed} encoder is needed: pick a {needed} encoder"
    )


def _stitch(t: dict[str, Any], i: int, recipe: dict[str, Any]) -> StitchSpec:
    from semalign.align import METHODS, SCALINGS

    where = f"stitch[{i}]."
    _check_keys(t, _STITCH, where)
    pairs = _pairs(t, where, recipe["encoders"])
    _choice(t, "head", where, HEADS, "logistic")
    modality = _choice(t, "modality", where, ("text", "image"), "text")
    dedup = _choice(t, "dedup", where, DEDUPS, "text" if modality == "text" else "none")
    if dedup == "text" and modality != "text":
        raise InputError(f'recipe: {where}dedup = "text" needs modality = "text": drop dedup')
    anchors = _ints(t, "anchors", where, [100], 1)
    methods = _choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = _choices(t, "scalings", where, SCALINGS, ["standard"])
    for pair in pairs:
        for alias in pair:
            _role(recipe["encoders"], alias, modality, f"{where}pairs (modality = {modality!r})")
    return StitchSpec(
        name=_str(t, "name", where, f"stitch-{i}"),
        dataset=_ref(_str(t, "dataset", where), recipe["datasets"], "dataset", f"{where}dataset"),
        modality=modality,
        section=_choice(t, "section", where, SECTIONS, "findings+impression"),
        classes=_classes(t.get("classes"), where),
        max_per_class=_int(t, "max_per_class", where, None, 1),
        pairs=pairs,
        anchors=anchors,
        anchor_strategy=_choice(t, "anchor_strategy", where, STRATEGIES, "random"),
        seeds=_ints(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        modes=_choices(t, "modes", where, STITCH_MODES, list(STITCH_MODES)),
        test_fraction=_float(t, "test_fraction", where, 0.2, 0.0, 1.0),
        split_seed=_int(t, "split_seed", where, 0),
        dedup=dedup,
        headline=_headline(t, where, methods, scalings, anchors),
        space_sizes=_space_sizes(t, where),
        space_repeats=_int(t, "space_repeats", where, 10, 2),
    )


def _zeroshot(t: dict[str, Any], i: int, recipe: dict[str, Any]) -> ZeroShotSpec:
    from semalign.align import METHODS, SCALINGS
    from semalign.tasks.prompts import list_prompt_sets

    where = f"zeroshot[{i}]."
    _check_keys(t, _ZEROSHOT, where)
    ds, enc = recipe["datasets"], recipe["encoders"]
    prompts = _str(t, "prompts", where)
    if not prompts.endswith(".toml") and prompts not in list_prompt_sets():
        sets = list(list_prompt_sets())
        raise InputError(
            f"recipe: {where}prompts = {prompts!r} is not a built-in prompt set"
            f"{_suggest(prompts, sets)}; use one of {', '.join(sets)} or a path to a .toml file"
        )
    if prompts.endswith(".toml") and recipe.get("_base") is not None:
        prompts = str((recipe["_base"] / prompts).resolve())
    joint = _bool(t, "joint", where, False)
    anchor_dataset = t.get("anchor_dataset")
    if anchor_dataset is not None:
        anchor_dataset = _ref(str(anchor_dataset), ds, "dataset", f"{where}anchor_dataset")
    pairing = _choice(t, "pairing", where, PAIRINGS, "study")
    reports = t.get("reports")
    if reports is not None:
        reports = _ref(str(reports), ds, "dataset", f"{where}reports")
    if not joint and anchor_dataset is None:
        raise InputError(
            f"recipe: {where}anchor_dataset is missing: unimodal zero-shot fits its map on anchor "
            "pairs (or set joint = true for a dual encoder)"
        )
    if not joint and pairing == "label-matched" and reports is None:
        raise InputError(f"recipe: {where}reports must name the report dataset to match labels in")
    labels = [_label(x, f"{where}labels") for x in _strings(t, "labels", where, None)]
    match = t.get("match_labels", labels)
    split = _choice(t, "split", where, SPLITS, "none")
    comparators = t.get("comparators", list(COMPARATORS) if split == "loo" else [])
    if comparators:
        comparators = _choices({"c": comparators}, "c", f"{where}comparators", COMPARATORS, [])
        if split != "loo" or joint:
            raise InputError(
                f"recipe: {where}comparators are supervised on the evaluated images' own labels "
                'and need split = "loo" (and no joint = true): drop comparators'
            )
    anchors = _ints(t, "anchors", where, [500], 1)
    methods = _choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = _choices(t, "scalings", where, SCALINGS, ["standard"])
    scoring, csls_k = _scorings(t, where)
    asif = _asif(t, where)
    if asif is not None and joint:
        raise InputError(
            f"recipe: {where}asif compares images and prompts through anchor pairs, which a "
            "joint = true task has none of: drop asif"
        )
    for key, needed in (("image_encoder", "image"), ("text_encoder", "text")):
        alias = _ref(_str(t, key, where), enc, "encoder", where + key)
        _role(enc, alias, needed, f"{where}{key}")
    return ZeroShotSpec(
        name=_str(t, "name", where, f"zeroshot-{i}"),
        images=_ref(_str(t, "images", where), ds, "dataset", f"{where}images"),
        labels=labels,
        prompts=prompts,
        rule=_choice(t, "rule", where, RULES, "argmax"),
        aggregate=_choice(t, "aggregate", where, AGGREGATES, "mean"),
        temperature=_float(t, "temperature", where, 0.01, 0.0, float("inf")),
        image_encoder=_ref(
            _str(t, "image_encoder", where), enc, "encoder", where + "image_encoder"
        ),
        text_encoder=_ref(_str(t, "text_encoder", where), enc, "encoder", where + "text_encoder"),
        joint=joint,
        anchor_dataset=anchor_dataset,
        pairing=pairing,
        reports=reports,
        match_labels=[
            _label(x, f"{where}match_labels")
            for x in _strings({"m": match}, "m", f"{where}match_labels", None)
        ],
        reports_per_image=_int(t, "reports_per_image", where, 1, 1),
        section=_choice(t, "section", where, SECTIONS, "findings+impression"),
        split=split,
        anchors=anchors,
        seeds=_ints(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        center_text=_bool(t, "center_text", where, True),
        max_images=_int(t, "max_images", where, None, 1),
        comparators=list(comparators),
        headline=None if joint else _headline(t, where, methods, scalings, anchors),
        scoring=scoring,
        csls_k=csls_k,
        asif=asif,
    )


def _retrieval(
    t: dict[str, Any], i: int, recipe: dict[str, Any], stitch: list[StitchSpec]
) -> RetrievalSpec:
    from semalign.align import METHODS, SCALINGS

    where = f"retrieval[{i}]."
    _check_keys(t, _RETRIEVAL, where)
    kind = _choice(t, "kind", where, RETRIEVAL_KINDS, "image-report")
    items_from = t.get("items_from")
    section = _choice(t, "section", where, SECTIONS, "findings+impression")
    if items_from is not None:
        tasks = {s.name: s for s in stitch}
        items_from = _ref(str(items_from), tasks, "stitch task", f"{where}items_from")
        src = tasks[items_from]
        if src.modality != "text" or kind != "report-report":
            raise InputError(
                f"recipe: {where}items_from reuses the reports of a text stitch task: set kind = "
                f'"report-report" and name a stitch task with modality = "text"'
            )
        for key, value in (("dataset", src.dataset), ("section", src.section)):
            if key in t and t[key] != value:
                raise InputError(
                    f"recipe: {where}{key} = {t[key]!r} differs from stitch task {items_from!r} "
                    f"({value!r}), whose items it reuses: drop {key} or make them equal"
                )
        dataset, section = src.dataset, src.section
    else:
        dataset = _ref(_str(t, "dataset", where), recipe["datasets"], "dataset", f"{where}dataset")
    ks = _ints(t, "ks", where, [1, 5, 10], 1)
    anchors = _ints(t, "anchors", where, [500], 1)
    methods = _choices(t, "methods", where, METHODS, ["orthogonal"])
    scalings = _choices(t, "scalings", where, SCALINGS, ["standard"])
    pairs = _pairs(t, where, recipe["encoders"])
    scorings, csls_k = _scorings(t, where)
    roles = ("image", "text") if kind == "image-report" else ("text", "text")
    for pair in pairs:
        for alias, needed in zip(pair, roles, strict=True):
            _role(recipe["encoders"], alias, needed, f"{where}pairs (kind = {kind!r})")
    return RetrievalSpec(
        name=_str(t, "name", where, f"retrieval-{i}"),
        dataset=dataset,
        kind=kind,
        section=section,
        items_from=items_from,
        split=_choice(t, "split", where, RETRIEVAL_SPLITS, "official"),
        test_fraction=_float(t, "test_fraction", where, 0.2, 0.0, 1.0),
        split_seed=_int(t, "split_seed", where, 0),
        max_test=_int(t, "max_test", where, None, 2),
        max_train=_int(t, "max_train", where, None, 1),
        pairs=pairs,
        anchors=anchors,
        anchor_strategy=_choice(t, "anchor_strategy", where, RETRIEVAL_STRATEGIES, "random"),
        seeds=_ints(t, "seeds", where, [0]),
        methods=methods,
        scalings=scalings,
        ks=ks,
        headline=_headline(t, where, methods, scalings, anchors, scorings),
        dedup=_choice(t, "dedup", where, DEDUPS, "text" if kind == "report-report" else "none"),
        scorings=scorings,
        csls_k=csls_k,
        unpaired=_unpaired(t, where),
        asif=_asif(t, where),
    )


def parse_recipe(
    data: Mapping[str, Any],
    *,
    roots: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Recipe:
    """Validate parsed TOML ``data``; ``roots`` (alias -> folder) override the file's roots."""
    data = dict(data)
    _check_keys(data, _TOP, "")
    exp = _table(data.get("experiment", {}), "experiment")
    _check_keys(exp, _EXPERIMENT, "experiment.")
    base = path.parent if path is not None else None
    datasets = _datasets(data.get("datasets", {}), dict(roots or {}), base)
    encoders = _encoders(data.get("encoders", {}))
    ctx = {"datasets": datasets, "encoders": encoders, "_base": base}
    stitch_raw = data.get("stitch", [])
    zs_raw = data.get("zeroshot", [])
    ret_raw = data.get("retrieval", [])
    for key, raw in (("stitch", stitch_raw), ("zeroshot", zs_raw), ("retrieval", ret_raw)):
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise InputError(f"recipe: {key} must be an array of tables ([[{key}]])")
    stitch = [_stitch(t, i, ctx) for i, t in enumerate(stitch_raw)]
    zeroshot = [_zeroshot(t, i, ctx) for i, t in enumerate(zs_raw)]
    retrieval = [_retrieval(t, i, ctx, stitch) for i, t in enumerate(ret_raw)]
    if not stitch and not zeroshot and not retrieval:
        raise InputError(
            "recipe: define at least one [[stitch]], [[zeroshot]] or [[retrieval]] task"
        )
    names = [s.name for s in stitch] + [z.name for z in zeroshot] + [r.name for r in retrieval]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError(f"recipe: task name {sorted(dup)[0]!r} is used twice: names must differ")
    store = exp.get("store")
    if store is not None and not isinstance(store, str):
        raise InputError("recipe: experiment.store must be a folder path string")
    if store and base is not None:
        store = str((base / Path(store).expanduser()).resolve())
    return Recipe(
        name=_str(exp, "name", "experiment.", path.stem if path else "experiment"),
        title=str(exp.get("title", "")),
        notes=str(exp.get("notes", "")),
        bootstrap=_int(exp, "bootstrap", "experiment.", 1000),
        seed=_int(exp, "seed", "experiment.", 0),
        store=store or None,
        datasets=datasets,
        encoders=encoders,
        stitch=stitch,
        zeroshot=zeroshot,
        retrieval=retrieval,
        path=path,
        compute=parse_compute(data.get("compute", {}), "compute."),
        permutations=_int(exp, "permutations", "experiment.", 100, minimum=1),
    )


def _share(t: Mapping[str, Any], key: str, where: str, default: float, zero_ok: bool) -> float:
    """A Ray resource share per worker (fractions allowed, e.g. 0.5 GPU)."""
    v = t.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (v == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise InputError(f"recipe: {where}{key} = {v!r} must be a number {bound} (e.g. 0.5)")
    return float(v)


def parse_compute(raw: Any, where: str = "compute.") -> Compute:
    """The ``[compute]`` table (or the CLI's flags as a dict, ``where`` naming them)."""
    t = _table(raw, where.rstrip("."))
    _check_keys(t, _COMPUTE, where)
    device = t.get("device")
    if device is not None and (
        not isinstance(device, str)
        or device.split(":")[0] not in ("auto", "cpu", "cuda", "mps")
        or (":" in device and not device.split(":", 1)[1].isdigit())
    ):
        raise InputError(f"recipe: {where}device = {device!r} must be one of {DEVICES_HELP}")
    precision = _choice(t, "precision", where, list(PRECISIONS), "") if "precision" in t else None
    address = t.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise InputError(
            f'recipe: {where}address = {address!r} must be a Ray address such as "auto" or '
            '"ray://head:10001"'
        )
    out = Compute(
        device=device,
        precision=precision,
        batch_size=_int(t, "batch_size", where, None, 1) if "batch_size" in t else None,
        num_workers=_int(t, "num_workers", where, None, 0) if "num_workers" in t else None,
        executor=_choice(t, "executor", where, list(EXECUTORS), "local"),
        address=address,
        workers=_int(t, "workers", where, None, 1) if "workers" in t else None,
        num_gpus_per_worker=_share(t, "num_gpus_per_worker", where, 0.0, zero_ok=True),
        num_cpus_per_worker=_share(t, "num_cpus_per_worker", where, 1.0, zero_ok=False),
    )
    if out.executor == "local" and (out.address or out.workers or out.num_gpus_per_worker):
        raise InputError(
            f"recipe: {where}address, workers and num_gpus_per_worker apply to executor = "
            '"ray": set it, or drop them'
        )
    return out


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, with syntax errors reported as one line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise InputError(f"recipe {path} does not exist: check the path (or run `semalign demo`)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"recipe {path} is not valid TOML ({exc}): fix its syntax") from exc


def load_recipe(path: str | Path, roots: Mapping[str, str] | None = None) -> Recipe:
    """Read and validate the recipe at ``path`` (see the module docstring)."""
    p = Path(path).expanduser().resolve()
    return parse_recipe(load_toml(p), roots=roots, path=p)
