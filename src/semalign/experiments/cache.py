"""Step cache: each unit of work is keyed by a hash of everything that changes its numbers.

A unit's output (result rows plus optional extra tables) is written atomically as JSON under
``STORE/steps/<kind>-<key[:20]>.json``; asking again with the same key reads it back, so re-running
a finished recipe (into any ``--out`` folder) recomputes nothing, another recipe that shares a unit
reuses it, and changing one method recomputes only that method's units. Keys name their inputs by
content (store entry keys, digests of labels and splits) and every setting of the unit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semalign.artefacts import atomic_write_bytes
from semalign.tasks.results import ResultRow, ResultTable

CACHE_FORMAT = 1


def digest(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (dicts sorted, tuples as lists)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rows_from_records(records: list[dict[str, Any]]) -> ResultTable:
    """Rebuild a :class:`ResultTable` from ``to_records()`` output (null values become NaN)."""
    nan = float("nan")
    rows = []
    for r in records:
        rows.append(
            ResultRow(
                **{
                    **r,
                    "value": nan if r["value"] is None else float(r["value"]),
                    "ci_low": nan if r["ci_low"] is None else float(r["ci_low"]),
                    "ci_high": nan if r["ci_high"] is None else float(r["ci_high"]),
                }
            )
        )
    return ResultTable(rows)


@dataclass
class UnitOutput:
    """What a unit produces: result rows and named extra tables (lists of flat dicts)."""

    table: ResultTable = field(default_factory=ResultTable)
    extras: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "format": CACHE_FORMAT,
            "rows": self.table.to_records(),
            "extras": {
                k: [{a: clean(b) for a, b in r.items()} for r in v] for k, v in self.extras.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitOutput:
        return cls(rows_from_records(data["rows"]), dict(data.get("extras", {})))


class StepCache:
    """Cached units under ``folder``; counts what was computed and what was reused."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.computed = 0
        self.reused = 0
        self.used: set[str] = set()  # unit file names asked for (the recipe's usage record)

    def path(self, kind: str, key: Any) -> Path:
        """Where unit ``kind``'s output for ``key`` is stored."""
        h = digest({"format": CACHE_FORMAT, "kind": kind, "key": key})
        return self.folder / f"{kind}-{h[:20]}.json"

    def lookup(self, kind: str, key: Any) -> UnitOutput | None:
        """The cached output of unit ``kind`` for ``key``, or None (absent or damaged: a
        damaged entry is recomputed)."""
        path = self.path(kind, key)
        self.used.add(path.name)
        if not path.is_file():
            return None
        try:
            out = UnitOutput.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            return None
        self.reused += 1
        return out

    def put(self, kind: str, key: Any, out: UnitOutput) -> None:
        """Store (and count) a computed output, atomically; a worker pool's completion thread
        may call it while the run goes on."""
        self.computed += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path(kind, key), json.dumps(out.to_json()).encode("utf-8"))

    def get(self, kind: str, key: Any, compute: Callable[[], UnitOutput]) -> UnitOutput:
        """The cached output of unit ``kind`` for ``key``, computing and storing it if absent."""
        out = self.lookup(kind, key)
        if out is not None:
            return out
        out = compute()
        self.put(kind, key, out)
        return out
