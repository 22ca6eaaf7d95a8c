"""Named datasets: where each expects its files, and how to open it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semalign.data.records import Record
from semalign.errors import InputError


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the readers know: its layout, where to get it, and its reader."""

    name: str
    title: str
    content: str
    layout: str
    source: str
    reader: Callable[..., Iterator[Record]]
    needs_root: bool = True

    def options(self) -> tuple[str, ...]:
        """Keyword options the reader accepts besides the root."""
        params = inspect.signature(self.reader).parameters
        return tuple(p for p in params if p not in ("root", "path", "dataset"))

    def check_options(self, options: dict[str, Any], where: str = "") -> dict[str, Any]:
        """``options`` with each value checked against the reader's annotation (and a path
        made a ``Path``, a list of strings a tuple); an error naming the option otherwise."""
        params = inspect.signature(self.reader).parameters
        out = {}
        for key, value in options.items():
            if key in params and value is not None:
                out[key] = _typed(str(params[key].annotation), value, f"{where}{key}", self.name)
            else:
                out[key] = value
        return out


def _typed(annotation: str, value: Any, name: str, dataset: str) -> Any:
    """``value`` checked against a reader parameter's annotation string."""
    import re

    def fail(expected: str) -> InputError:
        return InputError(f"dataset {dataset!r} option {name} = {value!r} must be {expected}")

    if "Sequence[str]" in annotation or "tuple[str" in annotation:
        if isinstance(value, str):
            raise fail(f"a list of strings, e.g. {[v.strip() for v in value.split(',')]!r}")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings")
        return tuple(value)
    literal = re.search(r"Literal\[([^\]]*)\]", annotation)
    if literal:
        allowed = [v.strip().strip("'\"") for v in literal.group(1).split(",")]
        if value not in allowed:
            raise fail(f"one of {', '.join(allowed)}")
        return value
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if annotation.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if annotation.startswith("Path"):
        if not isinstance(value, str | Path) or not str(value):
            raise fail("a path")
        return Path(value)
    if annotation.startswith("str"):
        if not isinstance(value, str):
            raise fail("a string")
    return value


def _specs() -> dict[str, DatasetSpec]:
    from semalign.data.readers import chexpert, demo, iu_xray, manifest, mimic, nih, rsna

    specs = [
        DatasetSpec(
            "mimic-cxr",
            "MIMIC-CXR-JPG 2.x with MIMIC-CXR reports",
            "images + reports + CheXpert/NegBio labels",
            mimic.LAYOUT,
            "https://physionet.org/content/mimic-cxr-jpg/ and /content/mimic-cxr/ (credentialed)",
            mimic.read_mimic_cxr,
        ),
        DatasetSpec(
            "chexpert",
            "CheXpert v1.0 / v1.0-small (+ public test labels)",
            "images + 14 labels",
            chexpert.LAYOUT,
            "https://stanfordmlgroup.github.io/competitions/chexpert/",
            chexpert.read_chexpert,
        ),
        DatasetSpec(
            "chexpert-5x200",
            "CheXpert 5x200 (200 frontal images per competition class, seeded)",
            "images + 5 classes",
            chexpert.LAYOUT,
            "built from CheXpert train.csv",
            chexpert.read_chexpert_5x200,
        ),
        DatasetSpec(
            "rsna-pneumonia",
            "RSNA Pneumonia Detection Challenge (stage 2)",
            "DICOM images + pneumonia label and boxes",
            rsna.LAYOUT,
            "https://www.kaggle.com/c/rsna-pneumonia-detection-challenge",
            rsna.read_rsna,
        ),
        DatasetSpec(
            "nih",
            "NIH ChestX-ray14",
            "images + 14 findings",
            nih.LAYOUT,
            "https://nihcc.app.box.com/v/ChestXray-NIHCC",
            nih.read_nih,
        ),
        DatasetSpec(
            "iu-xray",
            "IU X-ray / OpenI (Indiana University)",
            "reports + MeSH labels (+ PNG images)",
            iu_xray.LAYOUT,
            "https://openi.nlm.nih.gov/faq (NLMCXR_reports.tgz, NLMCXR_png.tgz)",
            iu_xray.read_iu_xray,
        ),
        DatasetSpec(
            "manifest",
            "your own data: a CSV/JSONL manifest (ROOT is the manifest file)",
            "whatever the columns hold",
            manifest.LAYOUT,
            "your files",
            manifest.read_manifest,
        ),
        DatasetSpec(
            "iu-reports",
            "offline demo: the 3,955 IU X-ray reports in the torchxrayvision 1.5.7 wheel",
            "reports + MeSH labels",
            "no ROOT needed: read in place from the installed torchxrayvision package",
            "pip install --no-deps torchxrayvision==1.5.7 (CC BY-NC-ND 4.0)",
            demo.read_iu_reports,
            needs_root=False,
        ),
        DatasetSpec(
            "kermany-mini",
            "offline demo: 16 paediatric chest X-rays (8 normal, 8 pneumonia)",
            "JPEG images + pneumonia label",
            "no ROOT needed: read in place from the installed pneumonia-model-package",
            "pip install --no-deps pneumonia-model-package==0.3.0",
            demo.read_kermany_mini,
            needs_root=False,
        ),
        DatasetSpec(
            "rg1",
            "offline demo: one PA chest radiograph DICOM (RG1_UNCR.dcm, MONOCHROME1)",
            "one DICOM image, no labels",
            "no ROOT needed: read in place from the installed pydicom-data package",
            'pip install "pydicom-data>=1.0"',
            demo.read_rg1,
            needs_root=False,
        ),
    ]
    return {s.name: s for s in specs}


DATASETS: dict[str, DatasetSpec] = _specs()


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; an error listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(
            f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} (see `semalign data list`)"
        ) from None


def open_dataset(name: str, root: Path | None = None, **options: Any) -> Iterator[Record]:
    """Records of dataset ``name`` read from ``root``; ``options`` go to its reader.

    Options set to None are dropped, so a CLI can pass every flag it has.
    """
    spec = get_spec(name)
    accepted = spec.options()
    given = {k: v for k, v in options.items() if v is not None and v != ()}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise InputError(
            f"dataset {name!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted) or 'none'}"
        )
    given = spec.check_options(given)
    if root is None and spec.needs_root:
        raise InputError(f"dataset {name!r} needs --root DIR; expected layout: {spec.layout}")
    if root is not None and not Path(root).exists():
        raise InputError(f"root {root} of dataset {name!r} does not exist; layout: {spec.layout}")
    return spec.reader(Path(root) if root is not None else None, **given)
