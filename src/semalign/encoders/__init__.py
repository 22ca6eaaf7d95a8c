"""Encoders: the Encoder protocol, backends (loaded lazily) and the registry of named models.

``import semalign.encoders`` imports no torch; backends import it when an encoder is loaded.
"""

from __future__ import annotations

from semalign.encoders.base import (
    ENCODER_CODE_VERSION,
    DualEncoder,
    EmbedOutcome,
    Encoder,
    fingerprint_of,
)
from semalign.encoders.registry import REGISTRY, ModelSpec, list_models, load_encoder

__all__ = [
    "ENCODER_CODE_VERSION",
    "REGISTRY",
    "DualEncoder",
    "EmbedOutcome",
    "Encoder",
    "ModelSpec",
    "fingerprint_of",
    "list_models",
    "load_encoder",
]
