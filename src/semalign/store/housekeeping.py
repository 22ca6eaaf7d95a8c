"""Store housekeeping, the plans behind ``semalign store ls | verify | gc``, in four parts:

- ``usage``: usage records (``<entry>/usage.json``, ``recipes/<recipe>.json``) written by
  ``embed`` and the runner, and the store's layout names;
- ``scan``: what a store holds (entries, chunks, step units, records) and ``listing`` (``ls``);
- ``verify``: every chunk and step unit checked, each problem with its fix;
- ``gc``: ``plan_gc`` (what to delete) and ``apply_gc`` (delete it, consistent at every moment).

Every function only reads the store and returns plans or reports, except ``record_*`` and
``apply_gc``; the CLI (``cli/store.py``) prints them. This module is the one place callers
import from.
"""

from __future__ import annotations

from semalign.store.gc import GcPlan, GcResult, apply_gc, parse_date, plan_gc
from semalign.store.scan import Scan, check_root, listing, scan
from semalign.store.usage import STEPS_DIR, recipe_record, record_recipe_run, record_usage
from semalign.store.verify import VerifyReport, verify

__all__ = [
    "STEPS_DIR",
    "GcPlan",
    "GcResult",
    "Scan",
    "VerifyReport",
    "apply_gc",
    "check_root",
    "listing",
    "parse_date",
    "plan_gc",
    "recipe_record",
    "record_recipe_run",
    "record_usage",
    "scan",
    "verify",
]
