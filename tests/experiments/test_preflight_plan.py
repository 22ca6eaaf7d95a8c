"""The pre-flight (`semalign run --check`) and the plan (`--plan`): every problem of a recipe's
roots and models found at once, one line each, before any model loads; what a run will embed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clitools import run, run_with_imports
from semalign.experiments import parse_recipe
from semalign.experiments.plan import make_plan

PAPER = Path(__file__).resolve().parents[2] / "recipes" / "paper.toml"


@pytest.fixture(scope="module")
def broken_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A MIMIC tree whose reports are missing, a CheXpert tree with 20 images per class (5x200
    needs 200), an RSNA folder without its label table."""
    from rehearsal.data import build_chexpert, build_mimic

    base = tmp_path_factory.mktemp("roots")
    mimic = build_mimic(base / "mimic", n_studies=40)
    for report in (mimic / "files").rglob("s*.txt"):
        report.unlink()
    chexpert = build_chexpert(base / "chexpert", per_class=20, n_test=10)
    rsna = base / "rsna"
    (rsna / "stage_2_train_images").mkdir(parents=True)
    return {"mimic": mimic, "chexpert": chexpert, "rsna": rsna}


def test_check_lists_every_problem_of_the_paper_recipe_at_once(
    broken_roots: dict[str, Path], tmp_path: Path
) -> None:
    empty_cache = tmp_path / "hub"
    empty_cache.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(empty_cache)}
    roots = [f"--root={k}={v}" for k, v in broken_roots.items()]
    proc = run("run", PAPER, "--check", *roots, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("  - ")]
    text = "\n".join(lines)
    expected = {
        "mimic reports": "dataset 'mimic' (mimic-cxr, root",
        "5x200": "only 20 frontal images are positive for Atelectasis alone, 200 needed",
        "rsna table": "stage_2_train_labels.csv",
        "rad-dino": "encoder rad-dino is not in the offline Hugging Face cache",
        "fix": "hf download microsoft/rad-dino",
        "clip towers, one line": "encoder clip-image/clip-text (clip-vit-b16)",
    }
    for what, needle in expected.items():
        assert needle in text, (what, text)
    assert "has no report texts" in text
    assert len(lines) == len(set(lines)) >= 10


def test_check_passes_where_all_is_there_and_loads_no_model(tmp_path: Path) -> None:
    proc, imported = run_with_imports("run", PAPER.parent / "demo.toml", "--check")
    assert proc.returncode == 0, proc.stderr
    assert "is ready to run (iu 3955 records, kermany 16 records)" in proc.stdout
    assert not imported & {"torch", "transformers", "open_clip"}


RECIPE = {
    "experiment": {"name": "plan-check", "bootstrap": 20},
    "datasets": {"iu": {"name": "iu-reports"}},
    "encoders": {"minilm": {"model": "minilm"}, "e5": {"model": "e5-small"}},
    "stitch": [
        {
            "name": "iu-stitch",
            "dataset": "iu",
            "section": "impression",
            "max_per_class": 40,
            "classes": {"normal": ["No Finding"], "cardiomegaly": ["Cardiomegaly"]},
            "pairs": [["minilm", "e5"], ["e5", "minilm"]],
            "anchors": [16, 32, 5000],
            "seeds": [0, 1],
            "methods": ["orthogonal", "affine"],
            "scalings": ["standard"],
        }
    ],
}


def test_plan_counts_items_to_embed_and_fits_before_and_after_a_run(tmp_path: Path) -> None:
    from semalign.experiments import run_recipe

    recipe = parse_recipe(RECIPE)
    store = tmp_path / "store"
    before = make_plan(recipe, store)
    assert {e.alias for e in before.embeds} == {"minilm", "e5"}
    assert all(e.stored is None for e in before.embeds)  # never run with this store
    n = before.embeds[0].n
    fits = before.checked.fits["iu-stitch"]
    assert (fits.cells, fits.skipped) == (2 * 2 * 3 * 2, 2 * 2 * 1 * 2)  # 5000 > training rows
    summary = run_recipe(recipe, tmp_path / "out", store=store, progress=False, report=False)
    assert summary.embeddings_computed == 2
    after = make_plan(recipe, store)
    assert [(e.n, e.stored) for e in after.embeds] == [(n, n), (n, n)]
    text = "\n".join(after.lines())
    assert f"0 to embed, {n:,} of {n:,} stored" in text
    assert "iu-stitch: 24 fit(s) (8 n/a: too few anchors)" in text
