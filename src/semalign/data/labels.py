"""One label vocabulary across chest X-ray datasets, synonyms, and uncertainty policies.

Values follow the CheXpert convention: 1.0 positive, 0.0 negative, -1.0 uncertain, NaN not
mentioned. Names are canonicalised so that a head trained on one dataset can be evaluated on
another (NIH ``Effusion`` is ``Pleural Effusion``, ``Pleural_Thickening`` is
``Pleural Thickening``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from semalign.errors import InputError

POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0
NAN = float("nan")

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"

CHEXPERT_LABELS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
"""The 14 observations of the CheXpert labeler (also used by MIMIC-CXR-JPG)."""

CHEXPERT_COMPETITION: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)
"""The five CheXpert competition tasks, also the classes of CheXpert 5x200."""

NIH_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Pleural Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural Thickening",
    "Hernia",
)
"""The 14 findings of NIH ChestX-ray14, in canonical names."""

VOCABULARY: tuple[str, ...] = CHEXPERT_LABELS + tuple(
    n for n in NIH_LABELS if n not in CHEXPERT_LABELS
)
"""Every canonical label name: CheXpert's 14, then NIH's additions."""

_SYNONYMS: dict[str, str] = {
    "effusion": "Pleural Effusion",
    "pleural effusions": "Pleural Effusion",
    "pleural thickening": "Pleural Thickening",
    "infiltrate": "Infiltration",
    "infiltrates": "Infiltration",
    "no findings": "No Finding",
    "normal": "No Finding",
    "lung opacities": "Lung Opacity",
    "airspace opacity": "Lung Opacity",
    "opacity": "Lung Opacity",
    "pulmonary edema": "Edema",
    "pulmonary atelectasis": "Atelectasis",
    "pulmonary emphysema": "Emphysema",
    "pulmonary fibrosis": "Fibrosis",
    "fractures": "Fracture",
    "enlarged cardiomediastinum": "Enlarged Cardiomediastinum",
    "support device": "Support Devices",
}


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


_LOOKUP: dict[str, str] = {_key(n): n for n in VOCABULARY} | {
    _key(k): v for k, v in _SYNONYMS.items()
}


def canonical_label(name: str) -> str:
    """The canonical vocabulary name for ``name`` (case, ``_`` and synonyms folded).

    Raises InputError for a name outside the vocabulary.
    """
    found = _LOOKUP.get(_key(name))
    if found is None:
        raise InputError(
            f"unknown label {name!r}: use a name of the vocabulary ({', '.join(VOCABULARY)}) "
            "or a known synonym"
        )
    return found


def is_known_label(name: str) -> bool:
    """Whether ``name`` maps onto the vocabulary."""
    return _key(name) in _LOOKUP


def _rank(value: float) -> int:
    if math.isnan(value):
        return 0
    return {NEGATIVE: 1, UNCERTAIN: 2, POSITIVE: 3}[value]


def merge_value(a: float, b: float) -> float:
    """Combine two mentions of one label: positive > uncertain > negative > not mentioned."""
    return a if _rank(a) >= _rank(b) else b


def parse_value(raw: object) -> float:
    """A table cell as a label value: 1, 0, -1 or NaN (blank). Anything else is an error."""
    if raw is None:
        return NAN
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        text = str(raw).strip()
        if text == "":
            return NAN
        raise InputError(f"label value {raw!r} is not 1, 0, -1 or blank") from None
    if math.isnan(value):
        return NAN
    if value not in (POSITIVE, NEGATIVE, UNCERTAIN):
        raise InputError(f"label value {raw!r} is not 1, 0, -1 or blank")
    return value


def canonical_labels(labels: Mapping[str, object]) -> dict[str, float]:
    """Rename keys to the vocabulary and parse values; synonyms that collide are merged."""
    out: dict[str, float] = {}
    for name, raw in labels.items():
        canon = canonical_label(name)
        value = parse_value(raw)
        out[canon] = merge_value(out[canon], value) if canon in out else value
    return out


def derive_no_finding(labels: Mapping[str, float]) -> float:
    """CheXpert semantics: 1 when no pathology is positive or uncertain (Support Devices aside).

    Returns 0.0 when some pathology is positive or uncertain, 1.0 otherwise.
    """
    for name, value in labels.items():
        if name in (NO_FINDING, SUPPORT_DEVICES):
            continue
        if value in (POSITIVE, UNCERTAIN):
            return NEGATIVE
    return POSITIVE


UncertaintyPolicy = Literal["ones", "zeros", "ignore"]
MissingPolicy = Literal["zeros", "ignore"]
UNCERTAINTY_POLICIES: tuple[str, ...] = ("ones", "zeros", "ignore")


def label_matrix(
    labels: Iterable[Mapping[str, float]],
    names: Sequence[str],
    *,
    uncertain: UncertaintyPolicy | str = "ignore",
    missing: MissingPolicy | str = "zeros",
) -> tuple[np.ndarray, np.ndarray]:
    """Binary targets and a validity mask for ``names`` over a sequence of label dicts.

    ``uncertain``: ``ones`` (U-Ones), ``zeros`` (U-Zeros) or ``ignore`` (masked out).
    ``missing`` (NaN, not mentioned): ``zeros`` (read as negative, the usual CheXpert practice)
    or ``ignore``. Returns ``(targets, mask)``, float32 and bool arrays of shape (n, len(names));
    masked entries of ``targets`` are 0.
    """
    if uncertain not in UNCERTAINTY_POLICIES:
        raise InputError(
            f"unknown uncertainty policy {uncertain!r}: "
            f"use one of {', '.join(UNCERTAINTY_POLICIES)}"
        )
    if missing not in ("zeros", "ignore"):
        raise InputError(f"unknown missing-label policy {missing!r}: use 'zeros' or 'ignore'")
    canon = [canonical_label(n) for n in names]
    rows = [[d.get(n, NAN) for n in canon] for d in labels]
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(canon))
    targets = (values == POSITIVE).astype(np.float32)
    mask = np.ones(values.shape, dtype=bool)
    unc = values == UNCERTAIN
    if uncertain == "ones":
        targets[unc] = 1.0
    elif uncertain == "ignore":
        mask[unc] = False
    if missing == "ignore":
        mask[np.isnan(values)] = False
    return targets, mask


def positive_set(labels: Mapping[str, float], names: Sequence[str]) -> frozenset[str]:
    """The labels among ``names`` that are positive (uncertain counts as not positive)."""
    return frozenset(n for n in names if labels.get(n, NAN) == POSITIVE)
