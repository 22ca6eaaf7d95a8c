"""``[encoders.<alias>]``: a model (registry name, hub id or folder), its options and batch size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semalign.encoders.names import check_model_name
from semalign.errors import InputError
from semalign.experiments.recipe.fields import check_keys, integer, string, table
from semalign.experiments.recipe.schema import EncoderSpec

__all__ = ["parse_encoders"]

_ENCODER = ("model", "options", "batch_size")
_OPTION_TYPES: dict[str, tuple[type, int | None]] = {
    "max_length": (int, 1),
    "num_workers": (int, 0),
    "normalize": (bool, None),
    "trust_remote_code": (bool, None),
    "pooling": (str, None),
    "revision": (str, None),
    "device": (str, None),
    "precision": (str, None),
}


def _check_options(options: Mapping[str, Any], where: str) -> None:
    for key, (kind, minimum) in _OPTION_TYPES.items():
        if key not in options:
            continue
        v = options[key]
        ok = isinstance(v, kind) and (kind is bool or not isinstance(v, bool))
        if not ok or (minimum is not None and v < minimum):
            what = {int: "an integer", bool: "true or false", str: "a string"}[kind]
            bound = f" >= {minimum}" if minimum is not None else ""
            raise InputError(f"recipe: {where}options.{key} = {v!r} must be {what}{bound}")


def parse_encoders(raw: Any) -> dict[str, EncoderSpec]:
    """The ``[encoders]`` table; each model name is resolved without loading it."""
    out: dict[str, EncoderSpec] = {}
    for alias, t in table(raw, "encoders").items():
        where = f"encoders.{alias}."
        t = table(t, f"encoders.{alias}")
        check_keys(t, _ENCODER, where)
        model = string(t, "model", where, alias)
        try:
            check_model_name(model)
        except InputError as exc:
            raise InputError(f"recipe: {where}model: {exc}") from None
        options = table(t.get("options", {}), f"{where}options")
        _check_options(options, where)
        batch = integer(t, "batch_size", where, None, 1) if "batch_size" in t else None
        out[alias] = EncoderSpec(alias, model, dict(options), batch)
    return out
