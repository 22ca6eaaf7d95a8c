"""The values a recipe's keys may take, each imported from the module that implements it.

Nothing is declared here: a method, scaling, mode or rule exists in a recipe because the library
implements it, in the library's order (error messages list them in that order)::

    recipe key                  name here                   owner (module that implements it)
    methods, scalings           METHODS, SCALINGS           semalign.align
    stitch anchor_strategy      ANCHOR_STRATEGIES           semalign.align.anchors
    retrieval anchor_strategy   RETRIEVAL_STRATEGIES        semalign.tasks.retrieval
    retrieval gallery           GALLERIES                   semalign.tasks.retrieval
    modes, head                 STITCH_MODES, HEADS         semalign.tasks.stitching
    stitch headline.metric      STITCH_HEADLINE_METRICS     semalign.tasks.stitching
    modality                    MODALITIES                  semalign.encoders.base
    section                     SECTIONS                    semalign.data.records
    pairing                     PAIRINGS                    semalign.data.pairing
    rule, aggregate             RULES, AGGREGATES           semalign.tasks.zeroshot
    zeroshot split              ZEROSHOT_SPLITS             semalign.tasks.zeroshot_folds
    comparators                 COMPARATORS                 semalign.tasks.comparators
    scoring                     SCORINGS                    semalign.metrics.csls
    retrieval kind              RETRIEVAL_KINDS             semalign.tasks.retrieval
    retrieval split, dedup      RETRIEVAL_SPLITS, DEDUPS    semalign.tasks.splits
    unpaired pool               POOLS                       semalign.tasks.retrieval_refined
    asif select                 ASIF_SELECT                 semalign.tasks.asif
    compute executor            EXECUTORS                   semalign.store.executor
    compute device, precision   DEVICES_HELP, PRECISIONS    semalign.encoders.base

Labels (:data:`semalign.data.labels.VOCABULARY`), datasets
(:data:`semalign.data.registry.DATASETS`) and prompt sets
(:func:`semalign.tasks.prompts.list_prompt_sets`) are read where they are checked.
"""

from __future__ import annotations

from semalign.align import ANCHOR_STRATEGIES, METHODS, SCALINGS
from semalign.data.pairing import PAIRINGS
from semalign.data.records import SECTIONS
from semalign.encoders.base import DEVICES_HELP, MODALITIES, PRECISIONS, is_device_name
from semalign.metrics.csls import SCORINGS
from semalign.store.executor import EXECUTORS
from semalign.tasks.asif import SELECT as ASIF_SELECT
from semalign.tasks.comparators import COMPARATORS
from semalign.tasks.retrieval import ANCHOR_STRATEGIES as RETRIEVAL_STRATEGIES
from semalign.tasks.retrieval import GALLERIES
from semalign.tasks.retrieval import KINDS as RETRIEVAL_KINDS
from semalign.tasks.retrieval_refined import POOLS
from semalign.tasks.splits import DEDUPS
from semalign.tasks.splits import TEST_SPLITS as RETRIEVAL_SPLITS
from semalign.tasks.stitching import HEADLINE_METRICS as STITCH_HEADLINE_METRICS
from semalign.tasks.stitching import HEADS, STITCH_MODES
from semalign.tasks.zeroshot import AGGREGATES, RULES
from semalign.tasks.zeroshot_folds import SPLITS as ZEROSHOT_SPLITS

__all__ = [
    "AGGREGATES",
    "ANCHOR_STRATEGIES",
    "ASIF_SELECT",
    "COMPARATORS",
    "DEDUPS",
    "DEVICES_HELP",
    "EXECUTORS",
    "GALLERIES",
    "HEADS",
    "METHODS",
    "MODALITIES",
    "PAIRINGS",
    "POOLS",
    "PRECISIONS",
    "RETRIEVAL_KINDS",
    "RETRIEVAL_SPLITS",
    "RETRIEVAL_STRATEGIES",
    "RULES",
    "SCALINGS",
    "SCORINGS",
    "SECTIONS",
    "STITCH_HEADLINE_METRICS",
    "STITCH_MODES",
    "ZEROSHOT_SPLITS",
    "is_device_name",
]
