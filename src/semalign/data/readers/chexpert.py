"""CheXpert (v1.0 and v1.0-small) and the CheXpert test-set labels.

Layout under ``root`` (https://stanfordmlgroup.github.io/competitions/chexpert/):

    train.csv, valid.csv       column Path = ``CheXpert-v1.0[-small]/train/patientN/studyM/*.jpg``
    train/, valid/             images
    test/, groundtruth.csv     optional: test images ``test/patientN/studyM/*.jpg`` and the public
                               test labels keyed by ``Study`` (``test/patientN/studyM``)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from semalign.data.labels import CHEXPERT_COMPETITION, CHEXPERT_LABELS, POSITIVE, UNCERTAIN
from semalign.data.paths import RootResolver, resolve_under
from semalign.data.readers._tables import label_dict, label_rows, read_table, text_or_none
from semalign.data.records import Record
from semalign.data.views import is_frontal, normalise_view
from semalign.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DATASET = "chexpert"
DATASET_5X200 = "chexpert-5x200"
LAYOUT = (
    "ROOT/train.csv and ROOT/valid.csv (Path column 'CheXpert-v1.0[-small]/train/patientN/"
    "studyM/viewK_frontal.jpg'), images ROOT/train/... and ROOT/valid/...; optional test set "
    "ROOT/groundtruth.csv (column Study = 'test/patientN/studyM') with images ROOT/test/..."
)
SPLITS = {"train.csv": "train", "valid.csv": "val"}


def strip_release_prefix(path: str) -> str:
    """Drop a leading ``CheXpert-v1.0*/`` folder: paths are then relative to the dataset root."""
    head, sep, tail = path.replace("\\", "/").partition("/")
    return tail if sep and head.startswith("CheXpert-v1.0") else path


def chexpert_view(frontal_lateral: object, ap_pa: object) -> str | None:
    """CheXpert's two view columns as one view: PA, AP, FRONTAL (other/unknown) or LATERAL."""
    fl = text_or_none(frontal_lateral)
    if fl is None:
        return None
    if fl.lower() == "lateral":
        return "LATERAL"
    direction = normalise_view(ap_pa)
    return direction if direction in ("AP", "PA") else "FRONTAL"


def _ids(rel: str) -> tuple[str, str]:
    parts = rel.split("/")
    if len(parts) < 3 or not parts[-3].startswith("patient"):
        raise InputError(
            f"{DATASET}: path {rel!r} does not look like <split>/patientN/studyM/<view>.jpg; "
            f"expected layout: {LAYOUT}"
        )
    return parts[-3], f"{parts[-3]}/{parts[-2]}"


def read_chexpert(
    root: Path,
    *,
    splits: tuple[str, ...] = ("train", "val", "test"),
    train_csv: Path | None = None,
    valid_csv: Path | None = None,
    dataset: str = DATASET,
) -> Iterator[Record]:
    """CheXpert records, one per image, with the 14 labeler observations.

    ``train_csv``/``valid_csv`` override the tables' places (e.g. a compressed copy); image paths
    are always resolved under ``root``. The test split is read when ``groundtruth.csv`` exists.
    """
    root = Path(root)
    tables = []
    for name, split, override in (
        ("train.csv", "train", train_csv),
        ("valid.csv", "val", valid_csv),
    ):
        if split not in splits:
            continue
        path = Path(override) if override is not None else root / name
        if override is None and not path.is_file() and split == "val" and "train" in splits:
            continue  # some mirrors ship train.csv alone
        tables.append(
            (
                split,
                path,
                read_table(path, ["Path", *CHEXPERT_LABELS], dataset=dataset, layout=LAYOUT),
            )
        )
    test = root / "groundtruth.csv"
    test_table = None
    if "test" in splits and test.is_file():
        test_table = read_table(test, ["Study"], dataset=dataset, layout=LAYOUT)
    if not tables and test_table is None:
        raise InputError(
            f"{dataset}: no train.csv, valid.csv or groundtruth.csv in {root}; "
            f"expected layout: {LAYOUT}"
        )
    return _records(root, tables, test_table, dataset)


def _records(
    root: Path,
    tables: list[tuple[str, Path, pd.DataFrame]],
    test_table: pd.DataFrame | None,
    dataset: str,
) -> Iterator[Record]:
    for split, path, table in tables:
        columns = [c for c in CHEXPERT_LABELS if c in table.columns]
        labels = label_rows(table, columns, source=str(path))
        n = len(table)
        views = [
            chexpert_view(f, a)
            for f, a in zip(
                table.get("Frontal/Lateral", [None] * n),
                table.get("AP/PA", [None] * n),
                strict=True,
            )
        ]
        sexes = table["Sex"].tolist() if "Sex" in table else [None] * n
        ages = table["Age"].tolist() if "Age" in table else [None] * n
        resolve = RootResolver(root, source=str(path))
        for i, raw in enumerate(table["Path"].tolist()):
            rel = strip_release_prefix(str(raw))
            patient, study = _ids(rel)
            yield Record(
                id=rel,
                dataset=dataset,
                image_paths=(resolve(rel),),
                labels=labels[i],
                patient_id=patient,
                study_id=study,
                view=views[i],
                split=split,
                meta={"sex": sexes[i], "age": ages[i]},
            )
    if test_table is not None:
        yield from _test_records(root, test_table, dataset)


def _test_records(root: Path, table: pd.DataFrame, dataset: str) -> Iterator[Record]:
    columns = [c for c in table.columns if c != "Study" and c in CHEXPERT_LABELS]
    for row in table.to_dict("records"):
        study_rel = strip_release_prefix(str(row["Study"])).rstrip("/")
        folder = resolve_under(root, study_rel, source="groundtruth.csv")
        images = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not images:
            raise InputError(
                f"{dataset}: study {study_rel!r} of groundtruth.csv has no .jpg in {folder}; "
                f"expected layout: {LAYOUT}"
            )
        patient, study = _ids(f"{study_rel}/x.jpg")
        labels = label_dict(row, columns)
        for image in images:
            kind = "LATERAL" if "lateral" in image.stem.lower() else "FRONTAL"
            yield Record(
                id=f"{study_rel}/{image.name}",
                dataset=dataset,
                image_paths=(image,),
                labels=labels,
                patient_id=patient,
                study_id=study,
                view=kind,
                split="test",
            )


def select_5x200(
    records: Iterator[Record] | list[Record],
    *,
    seed: int = 0,
    per_class: int = 200,
    classes: tuple[str, ...] = CHEXPERT_COMPETITION,
    dataset: str = DATASET_5X200,
) -> list[Record]:
    """CheXpert 5x200: ``per_class`` frontal images for each class, positive for that class only.

    An image is eligible for class c when its label c is 1 and every other class is 0 or blank
    (not positive, not uncertain). Candidates are sorted by id and drawn without replacement
    with ``numpy.random.default_rng(seed)``, class by class in ``classes`` order, so the same
    table and seed give the same set. ``meta["class"]`` holds the class of each record.
    """
    import numpy as np

    candidates: dict[str, list[Record]] = {c: [] for c in classes}
    for r in records:
        if not is_frontal(r.view):
            continue
        positive = [c for c in classes if r.labels.get(c) == POSITIVE]
        uncertain = [c for c in classes if r.labels.get(c) == UNCERTAIN]
        if len(positive) == 1 and not uncertain:
            candidates[positive[0]].append(r)
    rng = np.random.default_rng(seed)
    out: list[Record] = []
    for c in classes:
        pool = sorted(candidates[c], key=lambda r: r.id)
        if len(pool) < per_class:
            raise InputError(
                f"{dataset}: only {len(pool)} frontal images are positive for {c} alone, "
                f"{per_class} needed: use the full CheXpert train.csv"
            )
        for i in sorted(rng.choice(len(pool), size=per_class, replace=False)):
            out.append(replace(pool[i], dataset=dataset, meta={**pool[i].meta, "class": c}))
    return out


def read_chexpert_5x200(
    root: Path, *, seed: int = 0, train_csv: Path | None = None
) -> Iterator[Record]:
    """CheXpert 5x200 built from the CheXpert training table under ``root`` (see select_5x200)."""
    records = read_chexpert(root, splits=("train",), train_csv=train_csv)
    return iter(select_5x200(records, seed=seed))
