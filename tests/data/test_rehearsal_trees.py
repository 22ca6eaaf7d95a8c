"""The rehearsal's miniature dataset trees read back through semalign's own readers.

Each tree is built small under a temporary folder and checked for what ``recipes/paper.toml``
needs from it, and for the published layout the readers and the collections document.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("PIL")

from rehearsal import data as trees

from semalign.data import packaged
from semalign.data.images import load_image
from semalign.data.labels import CHEXPERT_COMPETITION, CHEXPERT_LABELS
from semalign.data.readers.chexpert import read_chexpert, select_5x200
from semalign.data.readers.iu_xray import mesh_labels
from semalign.data.registry import open_dataset
from semalign.data.sections import normalise_whitespace
from semalign.data.views import is_frontal
from semalign.errors import InputError


def _offline_data() -> None:
    try:
        packaged.torchxrayvision_data("NLMCXR_reports.tgz")
        packaged.kermany_mini_dir()
        packaged.rg1_dicom()
    except InputError as exc:
        pytest.skip(str(exc))


N_STUDIES = 80
PER_CLASS = 200  # what the registry's chexpert-5x200 reader draws
N_TEST = 14
N_PATIENTS = 40


@pytest.fixture(scope="module")
def mimic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _offline_data()
    return trees.build_mimic(tmp_path_factory.mktemp("mimic"), n_studies=N_STUDIES, seed=3)


@pytest.fixture(scope="module")
def chexpert_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _offline_data()
    root = tmp_path_factory.mktemp("chexpert") / "CheXpert-v1.0-small"
    return trees.build_chexpert(root, per_class=PER_CLASS, n_test=N_TEST, n_valid=6, seed=1)


@pytest.fixture(scope="module")
def rsna_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _offline_data()
    return trees.build_rsna(tmp_path_factory.mktemp("rsna"), n_patients=N_PATIENTS, seed=2)


def _digests(root: Path, suffix: str) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob(f"*{suffix}"))]


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return fh.readline().rstrip("\n").split(",")


# ---------------------------------------------------------------------------------- MIMIC-CXR


def test_mimic_reads_back_with_images_reports_and_official_split(mimic_root: Path) -> None:
    plan = trees.plan_mimic(N_STUDIES, seed=3)
    meta = pd.read_csv(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz", dtype={"dicom_id": str})
    records = list(open_dataset("mimic-cxr", mimic_root))
    assert len(records) == sum(len(s.images) for s in plan) == len(meta)
    assert len({r.study_id for r in records}) == N_STUDIES
    sizes = {d: (r, c) for d, r, c in zip(meta.dicom_id, meta.Rows, meta.Columns, strict=True)}
    for r in records:
        image = load_image(r.image_path)  # type: ignore[arg-type]
        assert image.shape == sizes[r.id] and 0.05 < float(image.mean()) < 0.95
        assert r.view in ("PA", "AP", "LATERAL", "LL")
        assert r.impression and r.report and r.report.startswith("FINAL REPORT EXAMINATION:")
    assert {r.split for r in records} == {"train", "val", "test"}
    by_subject: dict[str, set[str | None]] = {}
    for r in records:
        by_subject.setdefault(r.patient_id, set()).add(r.split)  # type: ignore[arg-type]
    assert all(len(s) == 1 for s in by_subject.values()), "the split is by subject"
    assert max(Counter(r.patient_id for r in records).values()) > 2
    per_study = Counter(r.study_id for r in records)
    assert Counter(per_study.values())[2] > N_STUDIES // 3, "PA + LATERAL studies"
    assert len(_digests(mimic_root, ".jpg")) == len(set(_digests(mimic_root, ".jpg")))


def test_mimic_reports_and_labels_follow_the_iu_source(mimic_root: Path) -> None:
    plan = {s.study_id: s for s in trees.plan_mimic(N_STUDIES, seed=3)}
    records = {r.study_id: r for r in open_dataset("mimic-cxr", mimic_root)}
    negbio = {r.study_id: r for r in open_dataset("mimic-cxr", mimic_root, labeler="negbio")}
    keys = {s.report.key for s in plan.values()}
    assert len(keys) == N_STUDIES, "one distinct IU report per study"

    def iu_text(text: str) -> str:
        return normalise_whitespace(text.replace("XXXX", "___"))

    with_findings = 0
    for study_id, study in plan.items():
        r, iu = records[study_id], study.report
        assert r.impression == iu_text(iu.impression)
        if iu.findings:
            with_findings += 1
            assert r.findings == iu_text(iu.findings)
        else:
            assert r.findings is None
        assert "XXXX" not in (r.report or "")
        mesh = mesh_labels(list(iu.mesh))
        normal = "normal" in [t.strip() for t in iu.mesh]
        assert (r.labels["No Finding"] == 1.0) == normal
        for name in CHEXPERT_LABELS:
            if name != "No Finding" and mesh.get(name) == 1.0:
                assert r.labels[name] == 1.0, (study_id, name, iu.mesh)
        positives = {k for k, v in r.labels.items() if v == 1.0} - {"No Finding"}
        assert positives == trees.mesh_positives(iu.mesh)
        assert all(v in (1.0, 0.0, -1.0) or math.isnan(v) for v in r.labels.values())
        assert negbio[study_id].labels.keys() == r.labels.keys()
    assert with_findings > N_STUDIES * 0.7
    values = Counter(v for r in records.values() for v in r.labels.values() if not math.isnan(v))
    assert set(values) == {1.0, 0.0, -1.0}
    for name in CHEXPERT_COMPETITION:
        assert any(r.labels[name] == 1.0 for r in records.values()), name


def test_mimic_layout_is_the_published_one(mimic_root: Path) -> None:
    tables = {p.name for p in mimic_root.glob("*.csv.gz")}
    assert tables == {
        f"mimic-cxr-2.0.0-{t}.csv.gz" for t in ("metadata", "chexpert", "negbio", "split")
    }
    assert _header(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz") == [
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
    ]
    labels = ["subject_id", "study_id", *sorted(CHEXPERT_LABELS)]
    assert _header(mimic_root / "mimic-cxr-2.0.0-chexpert.csv.gz") == labels
    assert _header(mimic_root / "mimic-cxr-2.0.0-negbio.csv.gz") == labels
    assert _header(mimic_root / "mimic-cxr-2.0.0-split.csv.gz") == [
        "dicom_id",
        "study_id",
        "subject_id",
        "split",
    ]
    split = pd.read_csv(mimic_root / "mimic-cxr-2.0.0-split.csv.gz", dtype=str)
    assert set(split.split) == {"train", "validate", "test"}
    meta = pd.read_csv(mimic_root / "mimic-cxr-2.0.0-metadata.csv.gz", dtype=str)
    assert set(meta.ViewCodeSequence_CodeMeaning) <= {
        "postero-anterior",
        "antero-posterior",
        "lateral",
        "left lateral",
    }
    assert re.fullmatch(r"2[12]\d{6}", meta.StudyDate.iat[0])
    for path in (mimic_root / "files").rglob("*.jpg"):
        pxx, subject, study, name = path.relative_to(mimic_root / "files").parts
        assert re.fullmatch(r"p1\d", pxx) and subject == f"p{pxx[1:]}{subject[3:]}"
        assert re.fullmatch(r"p1\d{7}", subject) and re.fullmatch(r"s5\d{7}", study)
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}\.jpg", name)
        assert (path.parent.parent / f"{study}.txt").is_file()
    text = next((mimic_root / "files").rglob("*.txt")).read_text()
    lines = text.splitlines()
    assert lines[0] == " " * 33 + "FINAL REPORT"
    headings = [ln.split(":")[0].strip() for ln in lines if re.match(r" [A-Z ]+:", ln)]
    assert headings[:2] == ["EXAMINATION", "INDICATION"] and headings[-1] == "IMPRESSION"
    assert all(ln.startswith(" ") and len(ln) <= 79 for ln in lines[1:])


BUILDERS = {
    "mimic": lambda root, seed: trees.build_mimic(root, n_studies=6, seed=seed),
    "chexpert": lambda root, seed: trees.build_chexpert(
        root, per_class=3, n_test=5, n_valid=2, seed=seed
    ),
    "rsna": lambda root, seed: trees.build_rsna(root, n_patients=6, seed=seed),
}


@pytest.mark.parametrize("tree", sorted(BUILDERS))
def test_trees_are_deterministic_for_a_seed(tree: str, tmp_path: Path) -> None:
    _offline_data()
    build = BUILDERS[tree]
    a, b, c = (build(tmp_path / name, seed) for name, seed in (("a", 5), ("b", 5), ("c", 6)))

    def files(root: Path) -> dict[Path, bytes]:
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(a) == files(b)
    assert files(a) != files(c)


# ----------------------------------------------------------------------------------- CheXpert


def test_chexpert_5x200_builds_from_the_tree(chexpert_root: Path) -> None:
    records = list(open_dataset("chexpert-5x200", chexpert_root))
    assert Counter(r.meta["class"] for r in records) == dict.fromkeys(
        CHEXPERT_COMPETITION, PER_CLASS
    )
    for r in records:
        assert is_frontal(r.view) and r.split == "train"
        assert [c for c in CHEXPERT_COMPETITION if r.labels[c] == 1.0] == [r.meta["class"]]
        assert load_image(r.image_path).shape[0] >= 60  # type: ignore[arg-type]
    fewer = select_5x200(read_chexpert(chexpert_root, splits=("train",)), per_class=7, seed=4)
    assert len(fewer) == 35


def test_chexpert_train_rows_are_real_and_every_split_reads(chexpert_root: Path) -> None:
    train = pd.read_csv(chexpert_root / "train.csv", dtype=str, keep_default_na=False)
    real = pd.read_csv(
        packaged.torchxrayvision_data("chexpert_train.csv.gz"), dtype=str, keep_default_na=False
    )
    merged = train.merge(real, how="left", indicator=True)
    assert (merged["_merge"] == "both").all(), "train.csv rows are rows of the real table"
    records = list(open_dataset("chexpert", chexpert_root))
    splits = Counter(r.split for r in records)
    assert splits["train"] == len(train)
    assert splits["val"] == len(pd.read_csv(chexpert_root / "valid.csv"))
    for r in records:
        assert r.image_path.is_file()  # type: ignore[union-attr]
    sample = records[:: max(1, len(records) // 60)]
    assert all(load_image(r.image_path).ndim == 2 for r in sample)  # type: ignore[arg-type]
    assert len(_digests(chexpert_root, ".jpg")) == len(set(_digests(chexpert_root, ".jpg")))


def test_chexpert_test_set_as_the_recipe_reads_it(chexpert_root: Path) -> None:
    records = list(open_dataset("chexpert", chexpert_root, splits=["test"]))
    assert {r.split for r in records} == {"test"}
    assert len({r.study_id for r in records}) == N_TEST
    for r in records:
        assert load_image(r.image_path).ndim == 2  # type: ignore[arg-type]
        assert all(v in (0.0, 1.0) for v in r.labels.values())
    frontal = [r for r in records if r.view == "FRONTAL"]
    for name in CHEXPERT_COMPETITION:
        values = {r.labels[name] for r in frontal}
        assert values == {0.0, 1.0}, f"{name} needs positives and negatives for an AUC"


def test_chexpert_layout_is_the_published_one(chexpert_root: Path) -> None:
    columns = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS]
    assert _header(chexpert_root / "train.csv") == columns
    assert _header(chexpert_root / "valid.csv") == columns
    assert _header(chexpert_root / "groundtruth.csv") == ["Study", *CHEXPERT_LABELS]
    pattern = (
        r"CheXpert-v1\.0-small/(train|valid)/patient\d{5}/study\d+/view\d+_(frontal|lateral)\.jpg"
    )
    for name in ("train.csv", "valid.csv"):
        paths = pd.read_csv(chexpert_root / name, dtype=str)["Path"]
        assert all(re.fullmatch(pattern, p) for p in paths)
        assert all((chexpert_root.parent / p).is_file() for p in paths)
    valid = pd.read_csv(chexpert_root / "valid.csv", dtype=str)["Path"]
    assert all(int(p.split("/")[2][7:]) >= 64541 for p in valid)
    studies = pd.read_csv(chexpert_root / "groundtruth.csv", dtype=str)["Study"]
    assert all(re.fullmatch(r"test/patient6\d{4}/study1", s) for s in studies)
    assert all(list((chexpert_root / s).glob("view1_frontal.jpg")) for s in studies)


# --------------------------------------------------------------------------------------- RSNA


def test_rsna_reads_back_with_views_from_the_dicom_headers(rsna_root: Path) -> None:
    import pydicom

    records = list(open_dataset("rsna-pneumonia", rsna_root))
    assert len(records) == N_PATIENTS
    headers = pd.read_csv(
        packaged.torchxrayvision_data("kaggle_stage_2_train_images_dicom_headers.csv.gz"),
        dtype=str,
    ).set_index("PatientID")
    positives = [r for r in records if r.labels["Pneumonia"] == 1.0]
    assert 0 < len(positives) < N_PATIENTS
    for r in records:
        assert r.view == headers.loc[r.id, "ViewPosition"] and r.view in ("PA", "AP")
        image = load_image(r.image_path)  # type: ignore[arg-type]
        assert image.shape == (256, 256) and 0.05 < float(image.mean()) < 0.95
        ds = pydicom.dcmread(r.image_path, stop_before_pixels=True)  # type: ignore[arg-type]
        assert ds.PatientID == r.id and ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.BitsStored == 8 and ds.Modality == "CR" and ds.BodyPartExamined == "CHEST"
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
        assert (r.meta["class"] == "Lung Opacity") == (r.labels["Pneumonia"] == 1.0)
        assert (r.meta["class"] == "Normal") == (r.labels["No Finding"] == 1.0)
        assert bool(r.meta["boxes"]) == (r.labels["Pneumonia"] == 1.0)
        for x, y, w, h in r.meta["boxes"]:
            assert 0 <= x and 0 <= y and x + w <= 256 and y + h <= 256
    assert {r.meta["class"] for r in records} == {
        "Lung Opacity",
        "Normal",
        "No Lung Opacity / Not Normal",
    }
    assert len(_digests(rsna_root, ".dcm")) == len(set(_digests(rsna_root, ".dcm")))


def test_rsna_layout_is_the_published_one(rsna_root: Path) -> None:
    labels_path = rsna_root / "stage_2_train_labels.csv"
    assert _header(labels_path) == ["patientId", "x", "y", "width", "height", "Target"]
    assert _header(rsna_root / "stage_2_detailed_class_info.csv") == ["patientId", "class"]
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    info = pd.read_csv(rsna_root / "stage_2_detailed_class_info.csv", dtype=str)
    assert list(info.patientId) == list(labels.patientId), "one class row per label row"
    blank = labels[labels.Target == "0"]
    assert (blank[["x", "y", "width", "height"]] == "").all().all()
    assert (labels[labels.Target == "1"][["x", "y"]] != "").all().all()
    real = pd.read_csv(
        packaged.torchxrayvision_data("kaggle_stage_2_train_labels.csv.zip"), dtype=str
    )
    assert set(labels.patientId) <= set(real.patientId)
    files = {p.stem for p in (rsna_root / "stage_2_train_images").glob("*.dcm")}
    assert files == set(labels.patientId)


# -------------------------------------------------------------------------------------- words


def test_report_words_cover_the_reports(mimic_root: Path) -> None:
    words = trees.report_words()
    assert len(words) == len(set(words)) and all(w == w.lower() for w in words)
    vocab = set(words)
    assert {"findings", "impression", "effusion", "pneumothorax", "_", "."} <= vocab
    text = next((mimic_root / "files").rglob("*.txt")).read_text().lower()
    assert set(re.findall(r"[a-z0-9]+|[^a-z0-9\s]", text)) <= vocab
