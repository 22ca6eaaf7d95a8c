"""Embedding store: content-addressed, chunked, resumable; memory-mapped reads.

No torch import here: the store works on whatever an encoder returns.
"""

from __future__ import annotations

from semalign.store.build import BuildReport, embed_to_store, find_entry, store_key
from semalign.store.items import Items, items_from, items_from_records, read_manifest
from semalign.store.reader import EmbeddingStore, open_store, read_store

__all__ = [
    "BuildReport",
    "EmbeddingStore",
    "Items",
    "embed_to_store",
    "find_entry",
    "items_from",
    "items_from_records",
    "open_store",
    "read_manifest",
    "read_store",
    "store_key",
]
