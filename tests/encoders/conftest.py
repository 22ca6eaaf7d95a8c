"""Shared fixtures: the packaged offline encoders, loaded once per session."""

from __future__ import annotations

import pytest

from semalign.encoders import load_encoder


@pytest.fixture(scope="session")
def minilm():
    return load_encoder("minilm", device="cpu")


@pytest.fixture(scope="session")
def effnet():
    return load_encoder("efficientnet-lite0", device="cpu", num_workers=0)
