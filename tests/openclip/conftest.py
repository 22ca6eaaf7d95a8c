"""The open_clip tests run in `.venv-openclip` (`make openclip-unit`); elsewhere each module's
``importorskip`` skips them.

With SEMALIGN_REQUIRE_OPENCLIP=1 (set by the Makefile) a missing or broken open_clip is an error,
so these tests cannot pass by being skipped.
"""

from __future__ import annotations

import importlib
import os

import pytest

if os.environ.get("SEMALIGN_REQUIRE_OPENCLIP"):
    try:
        importlib.import_module("open_clip")
    except Exception as exc:  # ImportError, or torchvision's RuntimeError beside a foreign torch
        raise RuntimeError(
            f"open_clip does not import ({type(exc).__name__}: {exc}): run `make openclip-unit`"
        ) from exc


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """The tiny BiomedCLIP-like model: its folder, its hub cache, and test images."""
    from openclip.tinyclip import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tinyclip"))
