"""The validated recipe: one frozen dataclass per table, as the parsers of this package build them.

Defaults that a recipe can leave out live here; the TOML keys and their checks live with each
section's parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SPACE_K",
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
]

SPACE_K = 10  # neighbours of the k-NN space metrics at several sample sizes


@dataclass(frozen=True)
class AsifSpec:
    """ASIF baseline settings (:class:`semalign.tasks.asif.ASIF`): anchors kept per item, the
    power applied to their similarities and whether each side's anchor mean is subtracted
    first; ``top_k`` is capped at the anchor count. With ``select = "held-out-anchors"`` each
    is a tuple of values and every draw of anchors chooses among them on its own held-out
    anchors, never on test rows (:class:`semalign.tasks.asif.AsifSweep`)."""

    top_k: int | tuple[int, ...] = 800
    power: float | tuple[float, ...] = 8.0
    center: bool | tuple[bool, ...] = False
    select: str | None = None


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
    metric: str | None = None  # the metric the summary leads with; None: the task's default


@dataclass(frozen=True)
class Compute:
    """How the run computes (never what): defaults for every encoder, whose own ``options`` /
    ``batch_size`` win. ``executor = "ray"`` embeds through a pool of Ray actors (``address`` of
    a cluster, else a local Ray), ``workers`` of them, each with ``num_gpus_per_worker`` GPUs
    and ``num_cpus_per_worker`` CPUs. ``jobs``: the processes that compute the units after
    embedding (:mod:`semalign.experiments.workers`)."""

    device: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    num_workers: int | None = None
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    num_gpus_per_worker: float = 0.0
    num_cpus_per_worker: float = 1.0
    jobs: int | None = None  # evaluation worker processes (None: the CPUs at hand, at most 4)

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
    # several test splits, one per seed in this order (the first is ``split_seed``); None: one
    # split (``split_seed``), and no ``split`` column in the rows
    split_seeds: list[int] | None = None

    @property
    def splits(self) -> list[int]:
        """The seed of every test split the task scores, the headline split's first."""
        return list(self.split_seeds) if self.split_seeds else [self.split_seed]


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
    test split are reused (no new embedding); otherwise rows come from ``dataset``. ``gallery``:
    ``test`` (queries ranked among the test rows) or ``all-distinct`` (and every distinct text of
    the dataset outside the task).
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
    gallery: str = "test"
    split_seeds: list[int] | None = None  # as StitchSpec's (``split = "random"`` only)

    @property
    def splits(self) -> list[int]:
        """The seed of every test split the task scores, the headline split's first."""
        return list(self.split_seeds) if self.split_seeds else [self.split_seed]


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
