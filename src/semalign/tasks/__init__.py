"""Tasks on aligned spaces: stitching, zero-shot classification, retrieval; heads and prompts.

>>> from semalign.tasks import stitch, zeroshot, retrieve
>>> table = stitch(X_general, X_medical, labels, test=test_rows, anchor_counts=(100, 500))
>>> table.to_csv("stitching.csv")
"""

from semalign.tasks.heads import Head, LogisticHead, MLPHead, load_head
from semalign.tasks.prompts import PromptSet, list_prompt_sets, load_prompt_set
from semalign.tasks.relative import RelativeProjector, relative_representation
from semalign.tasks.results import ResultRow, ResultTable
from semalign.tasks.retrieval import retrieval_report, retrieve
from semalign.tasks.stitching import STITCH_MODES, StitchedModel, naive_stitch, stitch
from semalign.tasks.zeroshot import PromptEmbeddings, ZeroShotClassifier, embed_prompts, zeroshot

__all__ = [
    "STITCH_MODES",
    "Head",
    "LogisticHead",
    "MLPHead",
    "PromptEmbeddings",
    "PromptSet",
    "RelativeProjector",
    "ResultRow",
    "ResultTable",
    "StitchedModel",
    "ZeroShotClassifier",
    "embed_prompts",
    "list_prompt_sets",
    "load_head",
    "load_prompt_set",
    "naive_stitch",
    "relative_representation",
    "retrieval_report",
    "retrieve",
    "stitch",
    "zeroshot",
]
