"""Results tables: one row per (setting, metric) with its bootstrap CI, written as CSV or JSON.

A row is keyed by ``task, source, target, mode, method, scaling, anchors, seed`` (+ a free-text
``setting``: a recipe's task name, the prompt set) and carries ``metric, value, ci_low, ci_high,
n``, then four columns that say what the key alone does not: ``direction`` (retrieval: the query
-> key direction), ``scoring`` (``cosine`` or ``csls@k`` where a scoring applies), ``variant``
(what a mode varied: ``refits=R pseudo=P pools=U/V kept=seed|refined``, ``top_k=K power=P``,
``pre-fitted map``) and ``note`` (``skipped: <reason>`` on an n/a row). Columns that do not
apply to a mode (the alignment method of end-to-end stitching) are empty in CSV and null in
JSON. A task scored on several test splits (a recipe's ``split_seeds``) adds a last column,
``split``: the seed of the row's test split (empty on a row that covers every split); tables
without such rows have no ``split`` column at all. Files are written atomically.

Comparison rows (``results/comparisons.csv``, :mod:`semalign.tasks.comparisons`) have the same
columns; ``variant`` names the kind and metric names carry the statistic:

  ``seed-mean``        the setting's mean over seeds (and split seeds): ``m`` with the
                       hierarchical bootstrap interval (splits, seeds, rows), ``m:seed-sd``,
                       ``m:seed-min``, ``m:seed-max``; ``seed`` empty;
  ``paired: A - B``    on A's key (e.g. ``paired: aligned - target``): ``m`` = mean of A minus
                       mean of B on the same rows, with the paired bootstrap interval;
                       ``accuracy:mcnemar-p`` (exact McNemar, first seed; b and c in ``note``,
                       after the seeds paired where they are not all of A's); the rows that
                       exist: :mod:`semalign.tasks.comparisons`;
  ``permutations=P``   mode ``shuffled-anchors``, the seed whose anchors were re-paired: ``m`` =
                       the null mean with its 2.5-97.5 percentiles, ``m:observed``, ``m:p``
                       = (1 + #{null >= observed}) / (1 + P).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from semalign.artefacts import atomic_write_bytes
from semalign.errors import InputError
from semalign.metrics.classification import Estimate

__all__ = ["KEY_COLUMNS", "ResultRow", "ResultTable"]

KEY_COLUMNS: tuple[str, ...] = (
    "task",
    "source",
    "target",
    "mode",
    "method",
    "scaling",
    "anchors",
    "seed",
    "setting",
    "direction",
    "scoring",
    "variant",
    "split",
)


@dataclass(frozen=True)
class ResultRow:
    """One metric of one setting, with its CI (NaN when not bootstrapped) and sample count n."""

    task: str
    source: str
    target: str
    mode: str
    method: str | None
    scaling: str | None
    anchors: int | None
    seed: int | None
    setting: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    direction: str = ""
    scoring: str = ""
    variant: str = ""
    note: str = ""
    split: int | None = None  # the test split's seed, where a task scores several

    @property
    def skipped(self) -> bool:
        """Whether the setting could not be run (an n/a row; the reason is in ``note``)."""
        return self.note.startswith("skipped")

    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in KEY_COLUMNS)


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _record(row: ResultRow) -> dict[str, Any]:
    """A row as a dict; ``split`` only where set (one test split: the columns as ever)."""
    rec = {k: _json_value(v) for k, v in asdict(row).items()}
    if rec["split"] is None:
        del rec["split"]
    return rec


class ResultTable:
    """An ordered list of :class:`ResultRow`, with filters and CSV/JSON/text output."""

    def __init__(self, rows: Iterable[ResultRow] = ()) -> None:
        self.rows: list[ResultRow] = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ResultRow]:
        return iter(self.rows)

    def add(
        self,
        report: Mapping[str, Estimate],
        *,
        n: int,
        task: str,
        source: str,
        target: str,
        mode: str,
        method: str | None = None,
        scaling: str | None = None,
        anchors: int | None = None,
        seed: int | None = None,
        setting: str = "",
        direction: str = "",
        scoring: str = "",
        variant: str = "",
        note: str = "",
    ) -> None:
        """Append one row per metric of ``report`` under the given key."""
        for metric, est in report.items():
            self.rows.append(
                ResultRow(
                    task,
                    source,
                    target,
                    mode,
                    method,
                    scaling,
                    anchors,
                    seed,
                    setting,
                    metric,
                    est.value,
                    est.low,
                    est.high,
                    n,
                    direction,
                    scoring,
                    variant,
                    note,
                )
            )

    def extend(self, other: Iterable[ResultRow]) -> None:
        self.rows.extend(other)

    def select(self, **where: Any) -> ResultTable:
        """Rows whose fields equal every ``field=value`` given."""
        return ResultTable(
            r for r in self.rows if all(getattr(r, k) == v for k, v in where.items())
        )

    def value(self, **where: Any) -> float:
        """The value of the single row matching ``where``; an error if none or several match."""
        hits = self.select(**where).rows
        if len(hits) != 1:
            raise InputError(f"{len(hits)} rows match {where}: narrow the selection to one row")
        return hits[0].value

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row; ``split`` only on rows that have one."""
        return [_record(r) for r in self.rows]

    def columns(self) -> list[str]:
        """The fields of :class:`ResultRow`, ``split`` only when some row has one."""
        names = [f.name for f in fields(ResultRow)]
        if all(r.split is None for r in self.rows):
            names.remove("split")
        return names

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame, one column per field of :meth:`columns` (NaN where
        n/a)."""
        import pandas as pd  # heavy: only when asked for

        cols = self.columns()
        return pd.DataFrame([{k: getattr(r, k) for k in cols} for r in self.rows], columns=cols)

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV (empty cells for n/a, ``nan`` never written); atomic."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = self.columns()
        writer.writerow(names)
        for rec in self.to_records():
            writer.writerow(["" if rec.get(k) is None else rec[k] for k in names])
        path = Path(path)
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write ``{"columns": [...], "rows": [{...}, ...]}`` (NaN as null); atomic."""
        payload = {"columns": self.columns(), "rows": self.to_records()}
        path = Path(path)
        atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"))
        return path

    def write(self, path: str | Path) -> Path:
        """Write CSV or JSON by the suffix of ``path``."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return self.to_csv(path)
        if suffix == ".json":
            return self.to_json(path)
        raise InputError(f"results path {path} must end in .csv or .json")

    def format(self, metrics: Iterable[str] | None = None, digits: int = 3) -> str:
        """A wide text table: one line per setting, one ``value [low, high]`` column per metric.

        By default every metric except per-label ones (``auroc[...]``) is shown.
        """
        keys: list[tuple[Any, ...]] = []
        cells: dict[tuple[Any, ...], dict[str, str]] = {}
        notes: dict[tuple[Any, ...], str] = {}
        shown: list[str] = []
        wanted = None if metrics is None else list(metrics)
        for r in self.rows:
            if (wanted is not None and r.metric not in wanted) or (
                wanted is None and "[" in r.metric
            ):
                continue
            if r.metric not in shown:
                shown.append(r.metric)
            k = r.key()
            if k not in cells:
                keys.append(k)
                cells[k] = {}
            if r.note:
                notes[k] = r.note
            ci = "" if math.isnan(r.ci_low) else f" [{r.ci_low:.{digits}f}, {r.ci_high:.{digits}f}]"
            cells[k][r.metric] = f"{r.value:.{digits}f}{ci}"
        if wanted is not None:
            shown = [m for m in wanted if m in shown]
        cols = ["source", "target", "mode", "method", "scaling", "anchors", "seed"]
        for c in ("setting", "direction", "scoring", "variant", "split"):
            if any(k[KEY_COLUMNS.index(c)] not in ("", None) for k in keys):
                cols.append(c)
        idx = [KEY_COLUMNS.index(c) for c in cols]
        body = [[("" if k[i] is None else str(k[i])) for i in idx] for k in keys]
        body = [
            row + [cells[k].get(m, "") for m in shown] for row, k in zip(body, keys, strict=True)
        ]
        header = cols + shown
        if notes:
            header.append("note")
            body = [[*row, notes.get(k, "")] for row, k in zip(body, keys, strict=True)]
        widths = [max([len(header[j])] + [len(b[j]) for b in body]) for j in range(len(header))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
        return "\n".join(line.rstrip() for line in lines)
