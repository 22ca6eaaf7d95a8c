"""Miniature MIMIC-CXR-JPG, CheXpert-v1.0-small and RSNA Pneumonia trees in their published layouts.

Each ``build_*`` writes, under the folder it is given, the collection's own file names, table
schemas and file formats (what ``semalign.data.readers`` LAYOUT strings and the collections'
documentation describe), filled from real data that ships offline. Nothing is copied into the
repository: every file is written at run time under the caller's folder, from packages read in
place (torchxrayvision 1.5.7, pneumonia-model-package 0.3.0, pydicom-data).

What is real and what is assigned:

MIMIC-CXR-JPG + reports (``build_mimic``)
    Real: every report is a real IU X-ray (OpenI) report, one distinct report (normalised
    findings + impression) per study while they last, its INDICATION, COMPARISON, FINDINGS and
    IMPRESSION rewritten into MIMIC-CXR's layout (``FINAL REPORT`` header, ``EXAMINATION``,
    ``INDICATION``, ``TECHNIQUE``, ``COMPARISON``, ``FINDINGS``, ``IMPRESSION``, indented and
    wrapped lines, IU's ``XXXX`` de-identification turned into MIMIC's ``___``). Positive labels
    (1.0) are the report's MeSH major terms mapped onto CheXpert's 14 observations
    (``semalign.data.readers.iu_xray.mesh_labels``; NIH-only names folded: Infiltration -> Lung
    Opacity, Nodule/Mass -> Lung Lesion, Pleural Thickening -> Pleural Other); No Finding is 1.0
    for a MeSH ``normal`` report and blank otherwise, as the CheXpert labeler writes it.
    Assigned: 0.0 where a sentence of the report negates an observation ("no pleural
    effusion") and -1.0 where it hedges one ("may represent atelectasis"), for observations
    MeSH does not index as present; the NegBio table holds the same values. Subject, study and
    DICOM ids, dates, times, views (PA + LATERAL, AP, a few lateral-only studies), procedure
    names and the official split (by subject; more test studies than the real 1.2 % so that
    retrieval has queries) are drawn at random in the real formats.
CheXpert-v1.0-small (``build_chexpert``)
    Real: ``train.csv`` rows are rows of the real CheXpert train.csv shipped in torchxrayvision
    (their Path, Sex, Age, views and all 14 labels, in the real order), chosen by whole study so
    that each competition class has ``per_class`` frontal images positive for it alone.
    Assigned: ``valid.csv`` and the test set reuse other real studies' rows under the valid
    (patient64541...) and test (patient64741...) patient numbers with binary labels (blank ->
    0.0; only studies without uncertain labels are used).
RSNA Pneumonia stage 2 (``build_rsna``)
    Real: patientIds, Targets, boxes and, in the DICOM headers, ViewPosition, PatientAge,
    PatientSex and PixelSpacing, from the real stage 2 tables shipped in torchxrayvision.
    Assigned: the detailed class of a Target-0 patient (``Normal`` or ``No Lung Opacity / Not
    Normal``, at the real proportions). Files are ``side`` pixels square instead of 1024, so
    boxes and PixelSpacing are scaled by ``side / 1024``.
Images (all three)
    Derived (``rehearsal.xrays``) from the 16 paediatric X-rays (8 normal, 8 pneumonia) and the
    RG1 radiograph. RSNA Target 1 images come from the pneumonia X-rays and Target 0 images from
    the normal ones and RG1, so the pneumonia label is real for the image. For MIMIC and
    CheXpert the images do not show the findings: each finding is *assigned* a group of source
    radiographs (``GROUPS``), the same in every tree, so that a classifier, and an image -> text
    map fitted on MIMIC pairs, has something to learn that transfers to CheXpert.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rehearsal import xrays
from semalign.data.labels import (
    CHEXPERT_COMPETITION,
    CHEXPERT_LABELS,
    NAN,
    NO_FINDING,
    POSITIVE,
    UNCERTAIN,
)

if TYPE_CHECKING:
    import pandas as pd

NEGATIVE = 0.0

GROUPS: dict[str, tuple[str, ...]] = {
    NO_FINDING: ("N0", "N1", "N2", "R"),
    "Atelectasis": ("N3", "N4"),
    "Cardiomegaly": ("N5", "N6"),
    "Pleural Effusion": ("N7", "P7"),
    "Consolidation": ("P0", "P1"),
    "Edema": ("P2", "P3"),
    "Pneumonia": ("P4", "P5", "P6"),
    "other": ("N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "P4", "P5", "P6", "P7", "R"),
}
"""Finding -> the source radiographs (``rehearsal.xrays.sources``) its images derive from."""

_GROUP_ORDER = (
    "Consolidation",
    "Edema",
    "Pleural Effusion",
    "Atelectasis",
    "Cardiomegaly",
    "Pneumonia",
    "Lung Opacity",
)
_GROUP_OF = {"Lung Opacity": "Pneumonia"}


def image_group(labels: Mapping[str, float]) -> str:
    """The key of ``GROUPS`` for a study's labels: its first positive finding in a fixed order,
    else No Finding when that is positive, else ``other``."""
    for name in _GROUP_ORDER:
        if labels.get(name) == POSITIVE:
            return _GROUP_OF.get(name, name)
    return NO_FINDING if labels.get(NO_FINDING) == POSITIVE else "other"


def _rng(seed: int, tree: str) -> np.random.Generator:
    return np.random.default_rng([seed, sum(ord(c) * 31**i for i, c in enumerate(tree)) % 2**32])


def _deriver(seed: int, tree: str) -> xrays.Deriver:
    return xrays.Deriver(int(_rng(seed, f"{tree}/images").integers(2**63)))


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        table.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    else:
        table.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------------
# IU X-ray reports as MIMIC-CXR reports
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IUReport:
    """One real IU X-ray report: its sections (``XXXX`` kept) and MeSH major terms."""

    uid: str
    indication: str | None
    comparison: str | None
    findings: str | None
    impression: str
    mesh: tuple[str, ...]

    @property
    def key(self) -> str:
        """Normalised findings + impression: two reports with one key say the same thing."""
        text = f"{self.findings or ''} | {self.impression}".lower().replace("xxxx", " ")
        return " ".join(re.sub(r"[^a-z0-9|]+", " ", text).split())


@functools.cache
def iu_reports() -> tuple[IUReport, ...]:
    """The IU X-ray reports with an impression, read in place from torchxrayvision, by uid."""
    from semalign.data.readers.demo import read_iu_reports
    from semalign.data.sections import split_sections

    out = []
    for r in read_iu_reports():
        if not r.impression:
            continue
        sections = split_sections(r.report or "")
        out.append(
            IUReport(
                uid=r.id,
                indication=sections.get("INDICATION") or None,
                comparison=sections.get("COMPARISON") or None,
                findings=r.findings or None,
                impression=r.impression,
                mesh=tuple(r.meta["mesh"]),
            )
        )
    return tuple(sorted(out, key=lambda r: int(r.uid.removeprefix("CXR"))))


_NIH_TO_CHEXPERT = {
    "Infiltration": "Lung Opacity",
    "Nodule": "Lung Lesion",
    "Mass": "Lung Lesion",
    "Pleural Thickening": "Pleural Other",
}


def mesh_positives(mesh: Sequence[str]) -> frozenset[str]:
    """CheXpert observations that a report's MeSH major terms mark present (No Finding aside)."""
    from semalign.data.readers.iu_xray import mesh_labels

    out = set()
    for name, value in mesh_labels(list(mesh)).items():
        if value == POSITIVE and name != NO_FINDING:
            name = _NIH_TO_CHEXPERT.get(name, name)
            if name in CHEXPERT_LABELS:
                out.add(name)
    return frozenset(out)


_MENTIONS: tuple[tuple[str, str], ...] = (
    ("Pleural Effusion", r"(?:pleural )?effusions?"),
    ("Pneumothorax", r"pneumothora(?:x|ces)"),
    ("Consolidation", r"consolidations?|consolidative"),
    ("Edema", r"edema"),
    ("Pneumonia", r"pneumonias?"),
    ("Atelectasis", r"atelectas[ie]s|atelectatic"),
    ("Cardiomegaly", r"cardiomegaly"),
    ("Lung Opacity", r"opacit(?:y|ies)|airspace disease"),
    ("Fracture", r"fractures?"),
    ("Lung Lesion", r"nodules?|masse?s?\b"),
)
_NEGATION = re.compile(
    r"\b(?:no|without|negative for|free of|clear of|absence of|resolution of|resolved|not)\b"
)
_HEDGE = re.compile(
    r"\b(?:may|possible|possibly|probable|probably|questionable|suspicious|suggest\w*|versus|"
    r"vs|likely|could|concern for|cannot be excluded|not excluded|differential)\b"
)
_HEART_NORMAL = re.compile(
    r"heart (?:size )?(?:is )?(?:normal|within normal limits)|normal heart size|"
    r"heart is normal in size|cardiac silhouette (?:is )?(?:normal|within normal limits)"
)


def text_mentions(text: str) -> dict[str, float]:
    """Observations a report negates (0.0) or hedges (-1.0), sentence by sentence.

    The nearest cue before a mention decides (``no``, ``without`` ... negate; ``may``,
    ``possible`` ... hedge); a hedge after the mention (``... cannot be excluded``) counts too.
    A hedge outranks a negation of the same observation elsewhere in the report.
    """
    out: dict[str, float] = {}

    def note(name: str, value: float) -> None:
        if out.get(name) != UNCERTAIN:
            out[name] = value

    for sentence in re.split(r"(?<=[.;])\s+|\n+", text.lower()):
        if _HEART_NORMAL.search(sentence):
            note("Cardiomegaly", NEGATIVE)
        for name, pattern in _MENTIONS:
            for m in re.finditer(rf"\b(?:{pattern})", sentence):
                before = sentence[: m.start()]
                cues = [(c.end(), NEGATIVE) for c in _NEGATION.finditer(before)]
                cues += [(c.end(), UNCERTAIN) for c in _HEDGE.finditer(before)]
                if cues:
                    note(name, max(cues)[1])
                elif _HEDGE.search(sentence[m.end() :]):
                    note(name, UNCERTAIN)
    return out


def report_labels(report: IUReport) -> dict[str, float]:
    """CheXpert's 14 observations for an IU report (1.0, 0.0, -1.0, NaN; see module docstring)."""
    normal = any(t.strip() == "normal" for t in report.mesh)
    positives = mesh_positives(report.mesh)
    labels = dict.fromkeys(CHEXPERT_LABELS, NAN)
    text = f"{report.findings or ''}\n{report.impression}"
    for name, value in text_mentions(text).items():
        if name in positives or (normal and value == UNCERTAIN):
            continue
        labels[name] = value
    for name in positives:
        labels[name] = POSITIVE
    labels[NO_FINDING] = POSITIVE if normal and not positives else NAN
    return labels


def _deidentify(text: str) -> str:
    return re.sub(r"X{2,}", "___", text)


def _wrapped(text: str) -> list[str]:
    return [
        f" {line}"
        for line in textwrap.wrap(
            _deidentify(text), width=77, break_long_words=False, break_on_hyphens=False
        )
    ] or [" "]


PROCEDURES = {"PA": "CHEST (PA AND LAT)", "AP": "CHEST (PORTABLE AP)"}
_TECHNIQUE = {"PA": "Chest PA and lateral", "AP": "Single frontal view of the chest"}


def mimic_report(report: IUReport, *, frontal: str = "PA", technique: bool = True) -> str:
    """``report`` in MIMIC-CXR's free-text layout (a ``files/pXX/pSUBJECT/sSTUDY.txt``).

    ``frontal`` (PA or AP) picks the examination and technique lines; ``technique`` whether the
    TECHNIQUE line is written (many MIMIC-CXR reports have none).
    """
    lines = [" " * 33 + "FINAL REPORT", f" EXAMINATION:  {PROCEDURES[frontal]}", " "]
    lines += [f" INDICATION:  {_deidentify(report.indication or 'XXXX')}", " "]
    if technique:
        lines += [f" TECHNIQUE:  {_TECHNIQUE[frontal]}", " "]
    lines += [f" COMPARISON:  {_deidentify(report.comparison or 'None.')}", " "]
    if report.findings:
        lines += [" FINDINGS: ", " ", *_wrapped(report.findings), " "]
    lines += [" IMPRESSION: ", " ", *_wrapped(report.impression)]
    return "\n".join(lines) + "\n"


def report_words() -> list[str]:
    """Lower-cased words and punctuation marks of every MIMIC-layout report the trees can hold
    (all IU reports with an impression, both examinations), most frequent first."""
    counts: Counter[str] = Counter()
    for report in iu_reports():
        for frontal in ("PA", "AP"):
            counts.update(
                re.findall(r"[a-z0-9]+|[^a-z0-9\s]", mimic_report(report, frontal=frontal).lower())
            )
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


# ----------------------------------------------------------------------------------------------
# MIMIC-CXR-JPG
# ----------------------------------------------------------------------------------------------

MIMIC_PREFIX = "mimic-cxr-2.0.0-"
MIMIC_METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
MIMIC_LABEL_COLUMNS = ("subject_id", "study_id", *sorted(CHEXPERT_LABELS))
"""The chexpert and negbio tables: ids, then the 14 observations in alphabetical order."""
MIMIC_SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
_VIEW_CODE = {
    "PA": "postero-anterior",
    "AP": "antero-posterior",
    "LATERAL": "lateral",
    "LL": "left lateral",
}
_VIEW_SETS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("PA", "LATERAL"), 0.55),
    (("AP",), 0.25),
    (("PA",), 0.06),
    (("AP", "LATERAL"), 0.05),
    (("PA", "LL"), 0.05),
    (("AP", "AP"), 0.02),
    (("LATERAL",), 0.02),
)


@dataclass(frozen=True)
class MimicImage:
    dicom_id: str
    view: str
    source: str


@dataclass(frozen=True)
class MimicStudy:
    """One planned study: ids, split, its IU report and labels, and its images."""

    subject_id: str
    study_id: str
    split: str
    report: IUReport
    labels: dict[str, float]
    text: str
    images: tuple[MimicImage, ...]
    date: str
    time: str
    procedure: str
    orientation: str | None


def _pick_reports(n: int, rng: np.random.Generator) -> list[IUReport]:
    """``n`` reports, distinct by normalised text while they last; the five competition
    findings are over-sampled (about 6 % of studies each, as far as IU holds them)."""
    distinct: dict[str, IUReport] = {}
    for r in iu_reports():
        distinct.setdefault(r.key, r)
    pool = list(distinct.values())
    chosen: list[int] = []
    taken: set[int] = set()
    quota = max(1, round(0.06 * n))
    for name in CHEXPERT_COMPETITION:
        eligible = [i for i, r in enumerate(pool) if name in mesh_positives(r.mesh)]
        eligible = [i for i in eligible if i not in taken]
        for i in rng.permutation(eligible)[: min(quota, n - len(chosen))]:
            chosen.append(int(i))
            taken.add(int(i))
    rest = [i for i in rng.permutation(len(pool)) if int(i) not in taken]
    chosen += [int(i) for i in rest[: n - len(chosen)]]
    while len(chosen) < n:  # more studies than distinct reports: reuse them
        chosen += [int(i) for i in rng.permutation(len(pool))[: n - len(chosen)]]
    return [pool[i] for i in rng.permutation(chosen)]


def _unique_ids(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    out: dict[int, None] = {}
    while len(out) < n:
        for v in rng.integers(lo, hi, size=n - len(out)):
            out.setdefault(int(v))
    return [str(v) for v in out]


def plan_mimic(
    n_studies: int,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    validate_fraction: float = 0.05,
) -> list[MimicStudy]:
    """The studies ``build_mimic`` writes, in table order (by subject, then study)."""
    if n_studies < 1:
        raise ValueError(f"n_studies = {n_studies}: a MIMIC tree needs at least one study")
    rng = _rng(seed, "mimic")
    reports = _pick_reports(n_studies, rng)
    sizes: list[int] = []
    while sum(sizes) < n_studies:
        sizes.append(min(int(rng.choice([1, 1, 1, 2, 2, 3, 4])), n_studies - sum(sizes)))
    subjects = sorted(_unique_ids(rng, len(sizes), 10_000_000, 20_000_000))
    study_ids = _unique_ids(rng, n_studies, 50_000_000, 60_000_000)
    order = rng.permutation(len(subjects))
    n_test = max(1, round(test_fraction * len(subjects))) if len(subjects) > 1 else 0
    n_val = round(validate_fraction * len(subjects)) if len(subjects) > 2 else 0
    split_of = {}
    for rank, i in enumerate(order):
        split_of[subjects[i]] = (
            "test" if rank < n_test else "validate" if rank < n_test + n_val else "train"
        )
    view_sets = [v for v, _ in _VIEW_SETS]
    weights = np.array([p for _, p in _VIEW_SETS])
    studies: list[MimicStudy] = []
    k = 0
    for subject, size in zip(subjects, sizes, strict=True):
        day = dt.date(2110, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 90)))
        for _ in range(size):
            report = reports[k]
            labels = report_labels(report)
            views = view_sets[int(rng.choice(len(view_sets), p=weights / weights.sum()))]
            frontal = "AP" if "AP" in views else "PA"
            group = GROUPS[image_group(labels)]
            images = tuple(
                MimicImage(
                    "-".join(f"{int(x):08x}" for x in rng.integers(0, 2**32, size=5)),
                    view,
                    group[int(rng.integers(len(group)))],
                )
                for view in views
            )
            seconds = int(rng.integers(0, 86400))
            studies.append(
                MimicStudy(
                    subject_id=subject,
                    study_id=study_ids[k],
                    split=split_of[subject],
                    report=report,
                    labels=labels,
                    text=mimic_report(report, frontal=frontal, technique=bool(rng.random() < 0.7)),
                    images=images,
                    date=day.strftime("%Y%m%d"),
                    time=(
                        f"{seconds // 3600}{seconds // 60 % 60:02d}{seconds % 60:02d}."
                        f"{int(rng.integers(0, 1000)):03d}"
                    ),
                    procedure=PROCEDURES[frontal],
                    orientation=(
                        "Erect" if frontal == "PA" else str(rng.choice(["Erect", "Recumbent", ""]))
                    )
                    or None,
                )
            )
            day += dt.timedelta(days=int(rng.integers(1, 400)))
            k += 1
    return studies


def build_mimic(
    root: Path,
    *,
    n_studies: int,
    seed: int = 0,
    test_fraction: float = 0.2,
    validate_fraction: float = 0.05,
) -> Path:
    """Write a MIMIC-CXR-JPG 2.x tree with the MIMIC-CXR reports tree under ``root``.

    ``ROOT/mimic-cxr-2.0.0-{metadata,chexpert,negbio,split}.csv.gz``, images
    ``ROOT/files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg`` (192-320 px) and reports
    ``ROOT/files/pXX/pSUBJECT/sSTUDY.txt``. The split is drawn by subject (``test_fraction``
    and ``validate_fraction`` of the subjects). Returns ``root``.
    """
    import pandas as pd

    from semalign.data.readers.mimic import study_folder

    root = Path(root)
    studies = plan_mimic(
        n_studies, seed=seed, test_fraction=test_fraction, validate_fraction=validate_fraction
    )
    derive = _deriver(seed, "mimic")
    meta, label_rows, split_rows = [], [], []
    for s in studies:
        folder = root / study_folder(s.subject_id, s.study_id)
        xrays.write_bytes(folder.with_name(f"{folder.name}.txt"), s.text.encode("utf-8"))
        for image in s.images:
            lateral = image.view in ("LATERAL", "LL")
            data = derive.jpeg(image.source, side=(192, 320), lateral=lateral)
            xrays.write_bytes(folder / f"{image.dicom_id}.jpg", data)
            rows, columns = xrays.jpeg_size(data)
            meta.append(
                (
                    image.dicom_id,
                    s.subject_id,
                    s.study_id,
                    s.procedure,
                    image.view,
                    rows,
                    columns,
                    s.date,
                    s.time,
                    s.procedure,
                    _VIEW_CODE[image.view],
                    "Erect" if lateral else s.orientation,
                )
            )
            split_rows.append((image.dicom_id, s.study_id, s.subject_id, s.split))
        label_rows.append(
            (s.subject_id, s.study_id, *(s.labels[c] for c in MIMIC_LABEL_COLUMNS[2:]))
        )
    labels = pd.DataFrame(label_rows, columns=list(MIMIC_LABEL_COLUMNS))
    _write_csv(
        pd.DataFrame(meta, columns=list(MIMIC_METADATA_COLUMNS)),
        root / f"{MIMIC_PREFIX}metadata.csv.gz",
    )
    _write_csv(labels, root / f"{MIMIC_PREFIX}chexpert.csv.gz")
    _write_csv(labels, root / f"{MIMIC_PREFIX}negbio.csv.gz")
    _write_csv(
        pd.DataFrame(split_rows, columns=list(MIMIC_SPLIT_COLUMNS)),
        root / f"{MIMIC_PREFIX}split.csv.gz",
    )
    return root


# ----------------------------------------------------------------------------------------------
# CheXpert-v1.0-small
# ----------------------------------------------------------------------------------------------

CHEXPERT_PREFIX = "CheXpert-v1.0-small/"
CHEXPERT_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS)
VALID_FIRST_PATIENT = 64541
TEST_FIRST_PATIENT = 64741


@functools.cache
def _chexpert_train() -> pd.DataFrame:
    """The real CheXpert train.csv of torchxrayvision, cells as written (blank = '')."""
    import pandas as pd

    from semalign.data import packaged

    path = packaged.torchxrayvision_data("chexpert_train.csv.gz")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CHEXPERT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}: is this torchxrayvision 1.5.7?")
    return table


def _label_values(table: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return table[list(CHEXPERT_LABELS)].apply(pd.to_numeric, errors="coerce")


def _exclusive_class(values: pd.DataFrame) -> pd.Series:
    """Per row, the competition class that is its only positive one (no uncertain), else ''."""
    comp = values[list(CHEXPERT_COMPETITION)]
    positive = comp.eq(POSITIVE)
    ok = positive.sum(axis=1).eq(1) & ~comp.eq(UNCERTAIN).any(axis=1)
    return positive.idxmax(axis=1).where(ok, "")


def _relabel(rows: pd.DataFrame, split: str, patient: int) -> pd.DataFrame:
    """A real study's rows under ``split/patientN/study1/viewK_*.jpg`` with binary labels."""
    out = rows.copy()
    out["Path"] = [
        f"{CHEXPERT_PREFIX}{split}/patient{patient:05d}/study1/view{k + 1}_"
        f"{'lateral' if fl == 'Lateral' else 'frontal'}.jpg"
        for k, fl in enumerate(rows["Frontal/Lateral"])
    ]
    for c in CHEXPERT_LABELS:
        out[c] = ["1.0" if v == "1.0" else "0.0" for v in rows[c]]
    return out


@dataclass(frozen=True)
class _CheXpertIndex:
    """The real table grouped once per process: rows by study and the studies to draw from."""

    table: pd.DataFrame
    rows_of: dict[str, list[int]]
    candidates: dict[str, list[tuple[str, int]]]
    """Class -> (study, its frontal images positive for the class alone), by study."""
    others: list[str]
    """Studies with no image positive for one competition class alone."""
    pools: dict[str, list[str]]
    """Kind (a class, No Finding, multi, rest) -> studies with a frontal image and no
    uncertain label (the valid and test candidates)."""


@functools.cache
def _chexpert_index() -> _CheXpertIndex:
    import pandas as pd

    table = _chexpert_train()
    values = _label_values(table)
    study = table["Path"].str.rsplit("/", n=1).str[0]
    exclusive = _exclusive_class(values)
    frontal = table["Frontal/Lateral"].eq("Frontal")
    rows_of: dict[str, list[int]] = {}
    for i, s in enumerate(study.tolist()):
        rows_of.setdefault(s, []).append(i)
    candidates = {}
    for name in CHEXPERT_COMPETITION:
        eligible = exclusive.eq(name) & frontal
        counts = eligible[eligible].groupby(study[eligible], sort=True).size()
        candidates[name] = [(str(s), int(n)) for s, n in counts.items()]
    others = sorted(set(study[exclusive.eq("")]))
    comp_positive = values[list(CHEXPERT_COMPETITION)].eq(POSITIVE).sum(axis=1)
    kind = exclusive.where(
        exclusive.ne(""),
        np.where(
            values[NO_FINDING].eq(POSITIVE),
            NO_FINDING,
            np.where(comp_positive > 1, "multi", "rest"),
        ),
    )
    per_study = pd.DataFrame(
        {"study": study, "certain": ~values.eq(UNCERTAIN).any(axis=1), "frontal": frontal}
    ).groupby("study", sort=True)
    ok = per_study["certain"].all() & per_study["frontal"].any()
    first_kind = kind.groupby(study, sort=True).first()
    pools: dict[str, list[str]] = {}
    for s, k in first_kind[ok].items():
        pools.setdefault(str(k), []).append(str(s))
    return _CheXpertIndex(table, rows_of, candidates, others, pools)


def _labels_of(row: Mapping[str, str]) -> dict[str, float]:
    return {c: float(row[c]) if row[c] not in ("", None) else NAN for c in CHEXPERT_LABELS}


def build_chexpert(
    root: Path,
    *,
    per_class: int,
    n_test: int,
    n_valid: int = 20,
    seed: int = 0,
) -> Path:
    """Write a CheXpert-v1.0-small tree under ``root`` (the folder named CheXpert-v1.0-small).

    ``ROOT/train.csv`` and ``ROOT/valid.csv`` (Path, Sex, Age, Frontal/Lateral, AP/PA and the
    14 observations; Path = ``CheXpert-v1.0-small/train/patientN/studyM/viewK_frontal.jpg``),
    their images under ``ROOT/train`` and ``ROOT/valid`` (240-320 px), and the test set the
    reader supports: ``ROOT/groundtruth.csv`` (Study = ``test/patientN/studyM``, 14 binary
    labels) with images ``ROOT/test/patientN/studyM/viewK_*.jpg``. train.csv holds at least
    ``per_class`` frontal images positive for each competition class alone (what CheXpert
    5x200 draws from), plus about ``per_class / 2`` studies of other kinds; ``n_valid`` and
    ``n_test`` are studies. Returns ``root``.
    """
    import pandas as pd

    root = Path(root)
    rng = _rng(seed, "chexpert")
    index = _chexpert_index()
    table, rows_of = index.table, index.rows_of
    taken: set[str] = set()
    train_studies: list[str] = []
    for name in CHEXPERT_COMPETITION:
        candidates = index.candidates[name]
        count = 0
        for j in rng.permutation(len(candidates)):
            if count >= per_class:
                break
            s, eligible = candidates[j]
            if s in taken:
                continue
            taken.add(s)
            train_studies.append(s)
            count += eligible
        if count < per_class:
            raise ValueError(f"CheXpert holds only {count} eligible {name} images")
    others = [s for s in index.others if s not in taken]
    for j in rng.permutation(len(others))[: max(1, per_class // 2)]:
        taken.add(others[j])
        train_studies.append(others[j])
    train_rows = sorted(i for s in train_studies for i in rows_of[s])
    train = table.iloc[train_rows][list(CHEXPERT_COLUMNS)]

    # Valid and test: real studies without uncertain labels, under the valid/test patients.
    pools = {k: [s for s in v if s not in taken] for k, v in index.pools.items()}
    order = [*CHEXPERT_COMPETITION, NO_FINDING, "multi", "rest"]
    shuffled = {
        k: [pools[k][i] for i in rng.permutation(len(pools[k]))] for k in order if k in pools
    }
    held_out: list[str] = []
    while len(held_out) < n_valid + n_test and any(shuffled.values()):
        for k in order:
            if shuffled.get(k) and len(held_out) < n_valid + n_test:
                held_out.append(shuffled[k].pop())
    test_studies, valid_studies = held_out[:n_test], held_out[n_test:]

    valid = pd.concat(
        [
            _relabel(
                table.iloc[rows_of[s]][list(CHEXPERT_COLUMNS)], "valid", VALID_FIRST_PATIENT + k
            )
            for k, s in enumerate(valid_studies)
        ]
        or [pd.DataFrame(columns=list(CHEXPERT_COLUMNS))]
    )
    test = [
        _relabel(table.iloc[rows_of[s]][list(CHEXPERT_COLUMNS)], "test", TEST_FIRST_PATIENT + k)
        for k, s in enumerate(test_studies)
    ]
    root.mkdir(parents=True, exist_ok=True)
    _write_csv(train, root / "train.csv")
    _write_csv(valid, root / "valid.csv")
    truth = pd.DataFrame(
        [
            [
                f"test/patient{TEST_FIRST_PATIENT + k:05d}/study1",
                *rows.iloc[0][list(CHEXPERT_LABELS)],
            ]
            for k, rows in enumerate(test)
        ],
        columns=["Study", *CHEXPERT_LABELS],
    )
    _write_csv(truth, root / "groundtruth.csv")

    derive = _deriver(seed, "chexpert")
    for rows in (train, valid, *test):
        for row in rows.to_dict("records"):
            group = GROUPS[image_group(_labels_of(row))]
            source = group[int(derive.rng.integers(len(group)))]
            data = derive.jpeg(source, side=(240, 320), lateral=row["Frontal/Lateral"] == "Lateral")
            xrays.write_bytes(root / row["Path"].removeprefix(CHEXPERT_PREFIX), data)
    return root


# ----------------------------------------------------------------------------------------------
# RSNA Pneumonia Detection Challenge, stage 2
# ----------------------------------------------------------------------------------------------

RSNA_LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
RSNA_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
_RSNA_NORMAL_SHARE = 8851 / (8851 + 11821)
"""Share of Normal among stage 2's Target-0 rows of stage_2_detailed_class_info.csv."""
RSNA_FULL_SIDE = 1024


def build_rsna(root: Path, *, n_patients: int, seed: int = 0, side: int = 256) -> Path:
    """Write an RSNA Pneumonia stage 2 tree under ``root``.

    ``ROOT/stage_2_train_labels.csv`` (patientId,x,y,width,height,Target; one row per box,
    blank box for Target 0), ``ROOT/stage_2_detailed_class_info.csv`` (patientId,class; one
    row per label row) and ``ROOT/stage_2_train_images/<patientId>.dcm`` (``side`` px square,
    JPEG-baseline 8-bit MONOCHROME2). Patients are drawn from the real stage 2 table at its
    share of Target 1. Returns ``root``.
    """
    import pandas as pd

    from semalign.data import packaged

    if n_patients < 2:
        raise ValueError(f"n_patients = {n_patients}: an RSNA tree needs both targets")
    root = Path(root)
    rng = _rng(seed, "rsna")
    labels = pd.read_csv(
        packaged.torchxrayvision_data("kaggle_stage_2_train_labels.csv.zip"),
        dtype=str,
        keep_default_na=False,
    )
    headers = pd.read_csv(
        packaged.torchxrayvision_data("kaggle_stage_2_train_images_dicom_headers.csv.gz"),
        dtype=str,
        keep_default_na=False,
    ).set_index("PatientID")
    target = labels.groupby("patientId", sort=False)["Target"].first()
    positive = sorted(target.index[target.eq("1")])
    negative = sorted(target.index[target.eq("0")])
    n_pos = min(max(1, round(n_patients * len(positive) / len(target))), n_patients - 1)
    chosen = {positive[i] for i in rng.choice(len(positive), n_pos, replace=False)}
    chosen |= {negative[i] for i in rng.choice(len(negative), n_patients - n_pos, replace=False)}
    neg_chosen = sorted(chosen & set(negative))
    normal = rng.random(len(neg_chosen)) < _RSNA_NORMAL_SHARE
    if len(neg_chosen) > 1 and (normal.all() or not normal.any()):
        normal[0] = not normal[0]
    klass = {p: "Lung Opacity" for p in chosen if p not in set(neg_chosen)}
    klass |= {
        p: "Normal" if n else "No Lung Opacity / Not Normal"
        for p, n in zip(neg_chosen, normal, strict=True)
    }
    rows = labels[labels["patientId"].isin(chosen)].copy()
    scale = side / RSNA_FULL_SIDE
    for c in ("x", "y", "width", "height"):
        rows[c] = [f"{float(v) * scale:.1f}" if v else "" for v in rows[c]]
    _write_csv(rows[list(RSNA_LABEL_COLUMNS)], root / "stage_2_train_labels.csv")
    _write_csv(
        pd.DataFrame({"patientId": rows["patientId"], "class": rows["patientId"].map(klass)}),
        root / "stage_2_detailed_class_info.csv",
    )
    derive = _deriver(seed, "rsna")
    pneumonia = tuple(k for k, s in xrays.sources().items() if s.kind == "pneumonia")
    clear = tuple(k for k, s in xrays.sources().items() if s.kind != "pneumonia")
    for pid in dict.fromkeys(rows["patientId"]):
        pool = pneumonia if klass[pid] == "Lung Opacity" else clear
        frame, size = derive.square_jpeg(pool[int(derive.rng.integers(len(pool)))], side=side)
        head = headers.loc[pid]
        xrays.write_rsna_dicom(
            root / "stage_2_train_images" / f"{pid}.dcm",
            frame,
            size,
            patient_id=pid,
            view=head["ViewPosition"],
            age=head["PatientAge"],
            sex=head["PatientSex"],
            pixel_spacing=float(head["PixelSpacing"]) / scale,
            uid_seed=f"{seed}/{pid}",
        )
    return root
