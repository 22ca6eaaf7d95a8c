"""Resolving an encoder name before anything is loaded: registry name, existing folder, hub id.

``check_model_name`` costs no import of torch or the hub client, so recipes and the CLI can
refuse ``e5-smal`` or ``/no/such/folder`` in milliseconds with a "did you mean".
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from semalign.encoders.catalog import REGISTRY
from semalign.errors import InputError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOWERS = ("text", "image")


def split_tower(name: str) -> tuple[str, str | None]:
    """``("clip-vit-b16", "image")`` for ``clip-vit-b16:image``; the tower is None otherwise."""
    for tower in TOWERS:
        if name.endswith(":" + tower) and not Path(name).exists():
            return name[: -len(tower) - 1], tower
    return name, None


def check_model_name(name: str) -> str:
    """How ``name`` resolves: ``"registry"``, ``"folder"`` or ``"hub"``; an error otherwise."""
    base, _ = split_tower(name)
    if base in REGISTRY:
        return "registry"
    path = Path(base).expanduser()
    if path.is_dir():
        return "folder"
    if path.exists():
        raise InputError(
            f"encoder {name!r} is a file, not a model folder: pass the folder written by "
            "save_pretrained, a registry name or a hub id"
        )
    if base.startswith("hf-hub:") and _HUB_ID.match(base[len("hf-hub:") :]):
        return "hub"
    looks_like_path = base.startswith(("/", "~", ".")) or base.count("/") > 1 or "\\" in base
    if looks_like_path:
        raise InputError(
            f"encoder folder {base!r} does not exist: check the path (or pass a registry name, "
            "see `semalign encoders list`)"
        )
    if _HUB_ID.match(base):
        return "hub"
    close = difflib.get_close_matches(base, list(REGISTRY), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(
        f"encoder {name!r} is unknown{hint}: use a registry name ({', '.join(REGISTRY)}), a hub "
        "id like owner/model, or an existing folder"
    )


def model_modality(name: str) -> str | None:
    """``text``/``image`` for a registry model (a dual's tower if named), ``text+image`` for a
    dual without a tower, None when only loading would tell (folders, hub ids)."""
    base, tower = split_tower(name)
    spec = REGISTRY.get(base)
    if spec is None:
        return None
    return tower if tower is not None and spec.modality == "text+image" else spec.modality
