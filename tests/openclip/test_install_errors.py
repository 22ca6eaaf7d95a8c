"""Broken installs, made for real: the main venv's torch 2.13.0 (CPU) with this venv's packages.

The main venv (``SEMALIGN_MAIN_PYTHON``, set by ``make openclip-unit``) has torch but neither
open_clip nor torchvision. Putting this venv's open_clip (and its pure-Python deps) on its path
gives "open_clip without torchvision"; adding this venv's torchvision 0.29.1 gives the mismatch
users hit with PyPI's torchvision beside a foreign torch ("operator torchvision::nms does not
exist"). The CLI must then say exactly what to install, in one line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

open_clip = pytest.importorskip("open_clip")

import semalign  # noqa: E402
from clitools import fails_cleanly  # noqa: E402

SITE = Path(open_clip.__file__).resolve().parents[1]
SRC = Path(semalign.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def main_python() -> str:
    python = os.environ.get("SEMALIGN_MAIN_PYTHON", "")
    if not python or not Path(python).exists():
        if os.environ.get("SEMALIGN_REQUIRE_OPENCLIP"):
            pytest.fail("SEMALIGN_MAIN_PYTHON must name the main venv's python (make sets it)")
        pytest.skip("SEMALIGN_MAIN_PYTHON (the main venv's python) is not set")
    return python


@pytest.fixture(scope="module")
def main_torch(main_python: str) -> str:
    """The main venv's torch version (2.13.0+cpu in this project)."""
    code = "import torch; print(torch.__version__)"
    return subprocess.run([main_python, "-c", code], capture_output=True, text=True).stdout.strip()


def _shim(folder: Path, *packages: str) -> Path:
    """A folder of links to this venv's ``packages`` (and their dist-info), for PYTHONPATH."""
    folder.mkdir()
    for name in packages:
        for entry in SITE.glob(f"{name}*"):
            if entry.name == name or entry.name.startswith(f"{name}-"):
                (folder / entry.name).symlink_to(entry)
    return folder


def _embed_text(python: str, shim: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "t.csv").write_text("id,text\na,lungs are clear\n")
    env = {**os.environ, "PYTHONPATH": f"{shim}{os.pathsep}{SRC}", "HF_HUB_OFFLINE": "1"}
    args = ["-m", "semalign", "embed", "-e", "biomedclip:text", "-i", str(tmp_path / "t.csv")]
    return subprocess.run(
        [python, *args, "-o", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


DEPS = ("open_clip", "open_clip_torch", "timm", "ftfy", "wcwidth")


def _pin(torch_version: str) -> str:
    """torchvision for a torch, independently of the code: 2.13 -> 0.28 (from the release notes)."""
    known = {"2.9": "0.24", "2.10": "0.25", "2.11": "0.26", "2.12": "0.27", "2.13": "0.28"}
    return f"torchvision=={known['.'.join(torch_version.split('.')[:2])]}.*"


def test_open_clip_without_torchvision_names_the_matching_torchvision(
    main_python, main_torch, tmp_path
):
    torch_version = main_torch
    proc = _embed_text(main_python, _shim(tmp_path / "shim", *DEPS), tmp_path)
    fails_cleanly(proc, "needs torchvision", f"pip install '{_pin(torch_version)}'", torch_version)
    if "+" in torch_version:
        local = torch_version.partition("+")[2]
        assert f"+{local} build, from the same index as your torch" in proc.stderr


def test_mismatched_torchvision_names_the_matching_pair(main_python, main_torch, tmp_path):
    torch_version = main_torch
    shim = _shim(tmp_path / "shim", *DEPS, "torchvision")
    proc = _embed_text(main_python, shim, tmp_path)
    fails_cleanly(
        proc,
        f"torchvision 0.29.1 does not load beside torch {torch_version}",
        "operator torchvision::nms does not exist",
        f"pip install '{_pin(torch_version)}'",
        "make openclip-setup",
    )
