"""open_clip dual encoders (BiomedCLIP, CLIP variants); optional extra ``semalign[openclip]``.

``model`` is what open_clip loads: ``hf-hub:org/repo`` (BiomedCLIP; from the Hugging Face cache
when offline), a local folder laid out like such a repo (``open_clip_config.json``, the weights
file, the tokenizer files), or a built-in architecture name with ``pretrained`` (a tag or file).
open_clip needs torchvision, and torchvision must be the build made for the installed torch; the
test suite runs this backend in a second venv (``make openclip-setup``) on a tiny random model in
BiomedCLIP's layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from semalign.encoders.base import EncoderBase, batches, fingerprint_of, hash_files
from semalign.encoders.hf_common import display_name
from semalign.encoders.runtime import (
    TorchImageEncoder,
    autocast,
    resolve_precision,
    select_device,
)
from semalign.errors import InputError

#: Files of an open_clip repo or folder that change the numbers (hashed as its weights identity).
_IDENTITY_FILES = (
    "open_clip_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_SETUP_HINT = "in this repository `make openclip-setup` builds .venv-openclip with such a pair"


def torchvision_pin(torch_version: str) -> str:
    """The torchvision requirement made for ``torch_version``: torch 2.N pairs with 0.(N+15)."""
    major, minor = (int(part) for part in torch_version.split("+")[0].split(".")[:2])
    return f"torchvision==0.{minor + 15}.*" if major == 2 else "torchvision (the build for it)"


def _variant(torch_version: str) -> str:
    local = torch_version.partition("+")[2]
    return f" (the +{local} build, from the same index as your torch)" if local else ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def import_open_clip(display: str) -> ModuleType:
    """``import open_clip``, or an InputError that says exactly what to install."""
    tv = torch.__version__
    pin = f"'{torchvision_pin(tv)}'{_variant(tv)}"
    try:
        import open_clip
    except ModuleNotFoundError as exc:
        if exc.name == "open_clip":
            raise InputError(
                f"encoder {display} needs open_clip, which is not installed: pip install "
                f"'open_clip_torch>=2.24,<4' {pin}, keeping your torch {tv} ({_SETUP_HINT})"
            ) from exc
        if exc.name == "torchvision":
            raise InputError(
                f"encoder {display} needs torchvision (open_clip imports it), which is not "
                f"installed: pip install {pin}, made for your torch {tv} ({_SETUP_HINT})"
            ) from exc
        raise InputError(
            f"encoder {display}: open_clip cannot import {exc.name!r}: pip install "
            f"'semalign[openclip]' (with {pin} for your torch {tv})"
        ) from exc
    except (RuntimeError, OSError, ImportError, AttributeError) as exc:
        # typically "operator torchvision::nms does not exist": torchvision built for another torch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"encoder {display} needs open_clip, but torchvision {_version('torchvision')} does "
            f"not load beside torch {tv} ({first}): pip install {pin}, the torchvision made for "
            f"this torch, or install a matched pair ({_SETUP_HINT}: torch==2.14.1 "
            f"torchvision==0.29.1)"
        ) from exc
    return open_clip


def open_clip_name(model: str) -> str:
    """The name open_clip loads: a local folder becomes ``local-dir:<folder>``."""
    folder = Path(model).expanduser()
    if not model.startswith(("hf-hub:", "local-dir:")) and folder.is_dir():
        return f"local-dir:{folder.resolve()}"
    return model


def _folder_of(spec: str) -> Path | None:
    """The folder holding an ``hf-hub:`` repo's (cached) files or a ``local-dir:`` model."""
    if spec.startswith("local-dir:"):
        return Path(spec.removeprefix("local-dir:"))
    if spec.startswith("hf-hub:"):
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(spec.removeprefix("hf-hub:"), "open_clip_config.json")).parent
    return None


def weights_identity(spec: str, pretrained: str | None) -> dict[str, Any]:
    """What pins the numbers: a content hash of the config, weights and tokenizer files."""
    folder = _folder_of(spec)
    if folder is None:  # a built-in architecture: the tag, or the weights file's content
        file = Path(pretrained) if pretrained else None
        if file is not None and file.is_file():
            return {"model": spec, "weights_sha256": hash_files([file], max_bytes_each=1 << 24)}
        return {"model": spec, "pretrained": pretrained}
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name in _IDENTITY_FILES)
    ]
    return {"files_sha256": hash_files(files, max_bytes_each=1 << 24)}


def _text_repo(repo: str) -> str:
    """The hub repo of an open_clip repo's text tower, from its cached config when present."""
    generic = (
        "the repo that its open_clip_config.json names as text_cfg.hf_model_name (for "
        "BiomedCLIP: microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract)"
    )
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(repo, "open_clip_config.json")
        if isinstance(path, str):
            cfg = json.loads(Path(path).read_text())
            return str(cfg["model_cfg"]["text_cfg"].get("hf_model_name") or generic)
    except (ImportError, OSError, KeyError, TypeError, ValueError):
        pass
    return generic


def _load_failure(model: str, display: str, exc: Exception) -> str:
    """One sentence on why ``model`` did not load and what to fetch."""
    text = " ".join(str(exc).split())
    why = f"{type(exc).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"
    if Path(model).expanduser().is_dir() or model.startswith("local-dir:"):
        return (
            f"folder {model!r} is not a complete open_clip model for {display} ({why}): it needs "
            f"open_clip_config.json, the weights (open_clip_pytorch_model.bin or "
            f"open_clip_model.safetensors) and the tokenizer files of the hub repo, and the text "
            f"tower named in its config (hf_model_name) must be a folder or in the HF cache"
        )
    if model.startswith("hf-hub:"):
        repo = model.removeprefix("hf-hub:")
        return (
            f"model {display} is not available offline ({why}): on a machine with network run "
            f"`hf download {repo}` and `hf download` of its text tower, {_text_repo(repo)}, then "
            f"copy ~/.cache/huggingface here (or point HF_HOME at it); HF_HUB_OFFLINE=1 skips "
            f"the hub retries"
        )
    return f"open_clip could not load {display} ({why}): check the model name and pretrained tag"


@dataclass(frozen=True)
class _ViaPil:
    """float32 [0,1] image -> 8-bit RGB PIL image -> open_clip's own preprocessing.

    8-bit files round-trip exactly, so a PNG/JPEG gets what open_clip's ``preprocess`` gives
    ``Image.open(path).convert("RGB")`` of a grey image; 16-bit data is scaled by its full range.
    """

    transform: Callable[[Any], Any]

    def __call__(self, image: np.ndarray) -> Any:
        from PIL import Image

        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        return self.transform(Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8), "RGB"))


class _Text(EncoderBase):
    modality = "text"

    def __init__(self, parent: OpenCLIPEncoder) -> None:
        self.parent, self.name, self.dim = parent, f"{parent.name}:text", parent.dim

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("text")

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        p = self.parent
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for idx in batches(len(items), batch_size):
            tokens = p.tokenizer([items[i] for i in idx]).to(p.device)
            with torch.inference_mode(), autocast(p.device, p.precision):
                vec = p.model.encode_text(tokens).float()
            if p.normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[idx.start : idx.stop] = vec.cpu().numpy()
        return out


class _Image(TorchImageEncoder, EncoderBase):
    modality = "image"

    def __init__(self, parent: OpenCLIPEncoder) -> None:
        self.parent, self.name, self.dim = parent, f"{parent.name}:image", parent.dim
        self.device, self.precision = parent.device, parent.precision
        self.num_workers = parent.num_workers
        self.preprocess = _ViaPil(parent.transform)

    @property
    def fingerprint(self) -> str:
        return self.parent.tower_fingerprint("image")

    def _forward(self, pixels: torch.Tensor) -> torch.Tensor:
        vec = self.parent.model.encode_image(pixels).float()
        return torch.nn.functional.normalize(vec, dim=-1) if self.parent.normalize else vec


class OpenCLIPEncoder:
    """An open_clip model (e.g. ``hf-hub:microsoft/BiomedCLIP-...``) in its joint space.

    ``text`` and ``image`` are its towers: texts / images -> (n, embed_dim) float32, unit rows
    when ``normalize``.
    """

    joint_space = True

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        pretrained: str | None = None,
        normalize: bool = True,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int | None = None,
    ) -> None:
        self.name = name or model
        display = display_name(self.name, model)
        open_clip = import_open_clip(display)
        spec = open_clip_name(model)
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        try:
            net, transform = open_clip.create_model_from_pretrained(spec, pretrained=pretrained)
            self.tokenizer = open_clip.get_tokenizer(spec)
            identity = weights_identity(spec, pretrained)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise InputError(_load_failure(model, display, exc)) from exc
        self.num_workers = num_workers
        self.model = net.to(self.device).eval()
        self.transform = transform
        self.normalize = normalize
        self._identity = identity
        self._preprocess_cfg = dict(getattr(net.visual, "preprocess_cfg", {}))
        self._context_length = getattr(self.tokenizer, "context_length", None)
        with torch.inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["x"]).to(self.device)).shape[-1])
        self.text = _Text(self)
        self.image = _Image(self)

    def tower_fingerprint(self, tower: str) -> str:
        """Fingerprint of one tower (both share the weights identity)."""
        return fingerprint_of(
            {
                "backend": "open_clip",
                "tower": tower,
                "weights": self._identity,
                "normalize": self.normalize,
                "context_length": self._context_length if tower == "text" else None,
                "preprocess": self._preprocess_cfg if tower == "image" else None,
                "precision": self.precision,
            }
        )

    def __repr__(self) -> str:
        return f"OpenCLIPEncoder(name={self.name!r}, dim={self.dim}, joint_space=True)"
