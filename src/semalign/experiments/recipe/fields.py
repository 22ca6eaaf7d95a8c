"""Typed readers of one recipe key, and the wording of every refusal.

Each reader takes the table ``t``, the ``key`` and ``where`` (the key's path so far, e.g.
``"stitch[0]."``), and raises :class:`~semalign.errors.InputError` naming the key, what it must
be and, for a typo, the closest allowed value.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from semalign.data.labels import VOCABULARY, canonical_label, is_known_label
from semalign.errors import InputError

__all__ = [
    "check_keys",
    "choice",
    "choices",
    "flag",
    "integer",
    "integers",
    "label",
    "number",
    "ref",
    "string",
    "strings",
    "suggest",
    "table",
]


def suggest(word: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``allowed``, or nothing."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Refuse the first key of ``table`` not in ``allowed``."""
    for key in table:
        if key not in allowed:
            raise InputError(
                f"recipe: unknown key {where}{key!r}{suggest(key, allowed)}; allowed keys: "
                f"{', '.join(allowed)}"
            )


def table(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a TOML table."""
    if not isinstance(value, dict):
        raise InputError(f"recipe: {where} must be a table ([{where}] or {{...}})")
    return value


def string(t: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    """A non-empty string."""
    v = t.get(key, default)
    if not isinstance(v, str) or not v:
        raise InputError(f"recipe: {where}{key} must be a non-empty string")
    return v


def choice(t: Mapping[str, Any], key: str, where: str, allowed: Sequence[str], default: str) -> str:
    """One of ``allowed``."""
    v = string(t, key, where, default)
    if v not in allowed:
        raise InputError(
            f"recipe: {where}{key} = {v!r} is not allowed{suggest(v, allowed)}; use one of "
            f"{', '.join(allowed)}"
        )
    return v


def choices(
    t: Mapping[str, Any], key: str, where: str, allowed: Sequence[str], default: list[str]
) -> list[str]:
    """A non-empty list of ``allowed`` values (a single string is a list of one), deduplicated
    in the recipe's order."""
    v = t.get(key, default)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise InputError(f"recipe: {where}{key} must be a non-empty list of strings")
    for x in v:
        if x not in allowed:
            raise InputError(
                f"recipe: {where}{key} has {x!r}{suggest(x, allowed)}; allowed values: "
                f"{', '.join(allowed)}"
            )
    return list(dict.fromkeys(v))


def integers(
    t: Mapping[str, Any], key: str, where: str, default: list[int], minimum: int = 0
) -> list[int]:
    """A non-empty list of integers >= ``minimum`` (a single integer is a list of one), sorted
    and deduplicated."""
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


def integer(
    t: Mapping[str, Any], key: str, where: str, default: int | None, minimum: int = 0
) -> Any:
    """An integer >= ``minimum``, or None where the key is absent and ``default`` is None."""
    v = t.get(key, default)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise InputError(f"recipe: {where}{key} must be an integer >= {minimum}")
    return v


def number(
    t: Mapping[str, Any], key: str, where: str, default: float, lo: float, hi: float
) -> float:
    """A number strictly between ``lo`` and ``hi``."""
    v = t.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo < float(v) < hi:
        raise InputError(f"recipe: {where}{key} must be a number strictly between {lo} and {hi}")
    return float(v)


def flag(t: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    """true or false."""
    v = t.get(key, default)
    if not isinstance(v, bool):
        raise InputError(f"recipe: {where}{key} must be true or false")
    return v


def strings(t: Mapping[str, Any], key: str, where: str, default: list[str] | None) -> list[str]:
    """A list of non-empty strings."""
    v = t.get(key, default)
    if v is None or not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise InputError(f"recipe: {where}{key} must be a list of strings")
    return list(v)


def label(name: Any, where: str) -> str:
    """A label of :data:`semalign.data.labels.VOCABULARY` (or a synonym), canonicalised."""
    if not isinstance(name, str) or not is_known_label(name):
        raise InputError(
            f"recipe: {where} has unknown label {name!r}{suggest(str(name), VOCABULARY)}; "
            f"labels: {', '.join(VOCABULARY)}"
        )
    return canonical_label(name)


def ref(value: str, known: Mapping[str, Any], what: str, where: str) -> str:
    """``value`` if it names one of ``known`` (datasets, encoders, stitch tasks)."""
    if value not in known:
        names = ", ".join(known) or "none defined"
        raise InputError(
            f"recipe: {where} names {what} {value!r}{suggest(value, list(known))}, which is not "
            f"defined; defined {what}s: {names}"
        )
    return value
