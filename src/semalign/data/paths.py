"""The one path policy for paths read from tables.

A dataset's own tables (MIMIC, CheXpert, NIH, RSNA, ...) are read relative to the dataset root
and may not leave it (``resolve_under``, ``RootResolver``). A user's own manifest (``semalign
embed -i``, dataset ``manifest``, the files ``semalign data pairs|export`` write) may point
anywhere on disk: absolute, ``~`` or relative to the manifest's folder (``user_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

from semalign.errors import InputError


def resolve_under(root: Path, relative: str | os.PathLike[str], *, source: str = "") -> Path:
    """Join ``relative`` to ``root`` and refuse a result outside ``root``.

    The check is lexical (``..`` and absolute paths), so symbolic links the user placed inside
    the root are honoured. ``source`` names the table the path came from, for the error.
    """
    base = os.path.normpath(os.path.abspath(root))
    joined = os.path.normpath(os.path.join(base, os.fspath(relative)))
    if joined != base and not joined.startswith(base.rstrip(os.sep) + os.sep):
        where = f" in {source}" if source else ""
        raise InputError(
            f"path {os.fspath(relative)!r}{where} escapes the dataset root {base}: "
            "paths in dataset tables must be relative to the root and stay inside it"
        )
    return Path(joined)


def user_path(base: Path, value: str, *, source: str, row: int) -> Path:
    """An image path from a user's manifest: absolute, ``~`` or relative to ``base``.

    A blank cell or a folder is an error naming ``source`` and its line ``row``; a path that
    does not exist is left to the image reader (it may be created later, or on another machine).
    """
    text = value.strip()
    if not text:
        raise InputError(f"{source} line {row} has a blank image path: fill it in or drop the row")
    path = Path(os.path.normpath(os.path.join(os.path.abspath(base), os.path.expanduser(text))))
    if path.is_dir():
        raise InputError(
            f"{source} line {row}: image path {text!r} is a folder ({path}): name an image file"
        )
    return path


class RootResolver:
    """``resolve_under`` bound to one root, fast for the millions of rows of large tables."""

    def __init__(self, root: Path, *, source: str = "") -> None:
        self.root = Path(os.path.normpath(os.path.abspath(root)))
        self._prefix = str(self.root).rstrip(os.sep) + os.sep
        self.source = source

    def __call__(self, relative: str) -> Path:
        """``root / relative``, refused when it leaves the root."""
        if (
            relative
            and not os.path.isabs(relative)
            and ".." not in relative
            and "\\" not in relative
        ):
            return Path(self._prefix + relative)
        return resolve_under(self.root, relative, source=self.source)


def require_file(path: Path, *, dataset: str, layout: str) -> Path:
    """Return ``path`` if it is a file, else raise an error naming it and the expected layout."""
    if not path.is_file():
        raise InputError(f"{dataset}: missing file {path}; expected layout: {layout}")
    return path


def find_first(root: Path, names: tuple[str, ...], *, dataset: str, layout: str) -> Path:
    """The first of ``names`` that exists under ``root``; an error naming them all otherwise."""
    for name in names:
        candidate = root / name
        if candidate.is_file():
            return candidate
    raise InputError(
        f"{dataset}: none of {', '.join(names)} found in {root}; expected layout: {layout}"
    )
