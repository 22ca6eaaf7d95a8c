"""Items to embed: ids, payloads (text or image path), and the digests that key the store.

A manifest is a CSV or JSONL file with an id column and either a text column or an image path
column; image paths may be absolute or relative to the manifest's folder (one path policy,
``data.paths.user_path``). CSVs are read by ``data.ids.read_csv`` (BOM-tolerant, ragged rows
refused); a repeated id is an error naming both lines.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semalign.errors import InputError

ID_COLUMNS = ("id", "item_id", "study_id", "dicom_id", "image_id", "uid")
TEXT_COLUMNS = ("text", "report", "findings", "impression", "sentence", "prompt")
IMAGE_COLUMNS = ("image", "image_path", "path", "file", "filename", "dicom_path", "png_path")


@dataclass(frozen=True)
class Items:
    """Parallel lists: ``ids`` (unique strings) and ``payloads`` (texts or image paths)."""

    ids: list[str]
    payloads: list[Any]
    modality: str  # "text" | "image"

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.payloads):
            raise InputError(f"{len(self.ids)} ids but {len(self.payloads)} items: pair them 1:1")
        seen: set[str] = set()
        for i in self.ids:
            if i in seen:
                raise InputError(f"id {i!r} appears twice: ids must be unique")
            seen.add(i)

    def __len__(self) -> int:
        return len(self.ids)

    def digests(self) -> list[str]:
        """One string per item that changes when its content does: sha256 of its bytes.

        Texts: the UTF-8 text. Images: the file's bytes (not its path, size or modification
        time, so a file rewritten in place with its old size and mtime is still detected);
        a file that cannot be read gets a digest naming why, and fails when it is embedded.
        """
        if self.modality == "text":
            return [hashlib.sha256(str(t).encode("utf-8")).hexdigest() for t in self.payloads]
        return [_file_digest(Path(p)) for p in self.payloads]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        return _unreadable(path, exc)
    return h.hexdigest()


def _unreadable(path: Path, exc: OSError) -> str:
    return f"unreadable:{path}:{type(exc).__name__}"


def read_and_digest(path: str) -> tuple[bytes | None, str]:
    """(the file's bytes, their sha256), or (None, a digest naming why it cannot be read)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, _unreadable(Path(path), exc)
    return data, hashlib.sha256(data).hexdigest()


def items_from(ids: Sequence[str], payloads: Sequence[Any], modality: str | None = None) -> Items:
    """Build ``Items``; modality is guessed from the payloads when not given."""
    if modality is None:
        modality = (
            "text" if all(isinstance(p, str) and not _is_path(p) for p in payloads) else "image"
        )
    if modality not in ("text", "image"):
        raise InputError(f"modality {modality!r} is unknown: use 'text' or 'image'")
    return Items([str(i) for i in ids], list(payloads), modality)


def _is_path(text: str) -> bool:
    return len(text) < 4096 and "\n" not in text and Path(text).suffix.lower() in {
        ".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff", ".bmp",
    }  # fmt: skip


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str,
          source: Path, required: bool = True) -> str | None:  # fmt: skip
    if wanted is not None:
        if wanted not in columns:
            raise InputError(
                f"manifest {str(source)!r} has no column {wanted!r}: it has {', '.join(columns)}"
            )
        return wanted
    lower = {c.lower(): c for c in columns}
    for c in candidates:
        if c in lower:
            return lower[c]
    if required:
        raise InputError(
            f"manifest {str(source)!r} has no {what} column (looked for {', '.join(candidates)}): "
            f"name it with --{what}-column"
        )
    return None


def read_manifest(
    path: str | os.PathLike[str],
    id_column: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
) -> Items:
    """Read a CSV or JSONL manifest into ``Items`` (texts, or image paths made absolute)."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"manifest {str(source)!r} does not exist: pass a CSV or JSONL file")
    rows, lines = _read_rows(source)
    if not rows:
        raise InputError(f"manifest {str(source)!r} has no rows: add at least one item")
    columns = list(rows[0].keys())
    id_col = _pick(columns, id_column, ID_COLUMNS, "id", source)
    if text_column is not None or image_column is not None:
        text_col = (
            _pick(columns, text_column, TEXT_COLUMNS, "text", source) if text_column else None
        )
        image_col = (
            _pick(columns, image_column, IMAGE_COLUMNS, "image", source) if image_column else None
        )
    else:
        text_col = _pick(columns, None, TEXT_COLUMNS, "text", source, required=False)
        image_col = _pick(columns, None, IMAGE_COLUMNS, "image", source, required=False)
        if text_col and image_col:
            raise InputError(
                f"manifest {str(source)!r} has both a text column ({text_col!r}) and an image "
                f"column ({image_col!r}): choose one with --text-column or --image-column"
            )
        if not text_col and not image_col:
            raise InputError(
                f"manifest {str(source)!r} has neither a text nor an image column: name one with "
                f"--text-column or --image-column (columns: {', '.join(columns)})"
            )
    assert id_col is not None
    from semalign.data.ids import check_unique
    from semalign.data.paths import user_path

    ids = [str(r.get(id_col, "")) for r in rows]
    check_unique(ids, f"manifest {str(source)!r}", lines)
    if text_col:
        texts = ["" if r.get(text_col) is None else str(r[text_col]) for r in rows]
        return Items(ids, texts, "text")
    assert image_col is not None
    base = source.resolve().parent
    where = f"manifest {str(source)!r}"
    paths = [
        str(user_path(base, str(r.get(image_col) or ""), source=where, row=line).resolve())
        for r, line in zip(rows, lines, strict=True)
    ]
    return Items(ids, paths, "image")


def _read_rows(source: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The manifest's rows and the file line each starts on."""
    suffix = source.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            rows, lines = [], []
            with source.open(encoding="utf-8-sig") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        obj = json.loads(line)
                        if not isinstance(obj, dict):
                            raise InputError(
                                f"manifest {str(source)!r} line {n} is not a JSON object"
                            )
                        rows.append(obj)
                        lines.append(n)
            return rows, lines
        if suffix in (".csv", ".tsv"):
            from semalign.data.ids import read_csv

            delimiter = "\t" if suffix == ".tsv" else ","
            table = read_csv(source, what=f"manifest {str(source)!r}", delimiter=delimiter)
            return list(table.rows), table.lines
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"manifest {str(source)!r} cannot be parsed ({exc}): fix the file"
        ) from exc
    raise InputError(f"manifest {str(source)!r} is neither .csv, .tsv nor .jsonl: convert it")


def items_from_records(
    records: Sequence[Any], modality: str, section: str = "report", skip_missing: bool = True
) -> Items:
    """Items from dataset records (``semalign.data.Record``): their text ``section`` or image.

    Records without that text or image are left out when ``skip_missing`` (the default), else
    they raise InputError naming the first one.
    """
    if modality not in ("text", "image"):
        raise InputError(f"modality {modality!r} is unknown: use 'text' or 'image'")
    ids: list[str] = []
    payloads: list[Any] = []
    for r in records:
        payload = r.text(section) if modality == "text" else r.image_path
        if payload is None:
            if skip_missing:
                continue
            what = f"text section {section!r}" if modality == "text" else "image"
            raise InputError(f"record {r.id!r} has no {what}: filter it out or skip missing ones")
        ids.append(str(r.id))
        payloads.append(payload if modality == "text" else str(payload))
    return Items(ids, payloads, modality)
