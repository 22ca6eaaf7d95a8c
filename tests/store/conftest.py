"""Fixtures for the store tests: a real packaged encoder and a manifest of real-looking reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semalign.encoders import load_encoder

FINDINGS = [
    "Small left pleural effusion.",
    "Fluid in the left pleural space.",
    "Heart size is normal.",
    "No acute cardiopulmonary process.",
    "Right lower lobe consolidation concerning for pneumonia.",
    "Mild pulmonary edema with cephalization.",
    "Small right apical pneumothorax.",
    "Degenerative changes of the thoracic spine.",
]


def report_texts(n: int) -> list[str]:
    """``n`` distinct short report sentences."""
    return [f"{FINDINGS[i % len(FINDINGS)]} Study {i}." for i in range(n)]


def write_manifest(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": f"r{i:04d}", "report": t}) + "\n")
    return path


@pytest.fixture(scope="session")
def minilm():
    return load_encoder("minilm", device="cpu")


def chunk_files(entry: Path) -> list[Path]:
    """An entry's chunk files, in chunk order, from its manifest."""
    manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
    return [entry / c["file"] for c in manifest["chunks"]]
