"""Fixtures locating the real offline data inside installed packages (read in place)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{module} is not installed (make setup installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def xrv_data() -> Path:
    """The data folder of the torchxrayvision 1.5.7 wheel."""
    return _package_data("torchxrayvision") / "data"


@pytest.fixture(scope="session")
def kermany_dir() -> Path:
    """The 16 paediatric X-rays of pneumonia-model-package."""
    return _package_data("pneumonia_model_package") / "datasets" / "pneumonia-data" / "val"


@pytest.fixture(scope="session")
def rg1_path() -> Path:
    """RG1_UNCR.dcm of pydicom-data."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("pydicom-data")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pydicom-data is not installed (make setup installs it)")
    for f in dist.files or ():
        if f.name == "RG1_UNCR.dcm":
            return Path(str(dist.locate_file(f)))
    pytest.skip("RG1_UNCR.dcm not in pydicom-data")
