"""Loading Hugging Face checkpoints (hub ids or local folders) with errors a user can act on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from semalign.encoders.base import hash_files
from semalign.errors import InputError

T = TypeVar("T")

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5")


def is_local(model: str) -> bool:
    """True when ``model`` names an existing folder (a local checkpoint, not a hub id)."""
    return Path(model).expanduser().is_dir()


def offline_hint(model: str, display: str) -> str:
    """How to make a hub model available on a machine without network access."""
    return (
        f"model {display} is not available offline: on a machine with network run "
        f"`hf download {model}` (then copy ~/.cache/huggingface here, or point HF_HOME at it), "
        f"or pass a local folder that holds its files; HF_HUB_OFFLINE=1 skips the hub retries"
    )


def hf_load(fn: Callable[[], T], model: str, display: str) -> T:
    """Run a ``from_pretrained`` call, turning 'cannot find the files' into an InputError."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is what calls us
        pass
    try:
        return fn()
    except OSError as exc:
        if is_local(model):
            raise InputError(
                f"folder {model!r} is not a complete checkpoint for {display} ({exc}): "
                f"save it with save_pretrained or download all its files"
            ) from exc
        raise InputError(offline_hint(model, display)) from exc
    except ValueError as exc:
        text = str(exc)
        if "trust_remote_code" in text:
            raise InputError(
                f"model {display} needs its own code from the hub: pass trust_remote_code=True "
                f"(CLI --trust-remote-code) if you trust {model!r}"
            ) from exc
        raise


def weights_identity(model: str, revision: str | None, loaded: Any) -> dict[str, Any]:
    """What pins the weights: a content hash for local folders, the commit for hub ids."""
    if is_local(model):
        folder = Path(model).expanduser()
        files = [
            p
            for p in folder.rglob("*")
            if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json")
        ]
        return {"source": "local", "weights_sha256": hash_files(files, max_bytes_each=1 << 24)}
    commit = getattr(getattr(loaded, "config", None), "_commit_hash", None)
    return {"source": "hub", "model_id": model, "revision": revision, "commit": commit}


def display_name(name: str, model: str) -> str:
    """'rad-dino' (microsoft/rad-dino), or just the id when no short name applies."""
    return f"{name!r} ({model})" if name != model else repr(model)
