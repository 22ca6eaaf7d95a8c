"""The paper rehearsal: ``recipes/paper.toml``, unmodified, run end to end on layout-exact trees
with tiny models under the real hub ids (``python -m rehearsal``), and its results checked.

Runs in `.venv-openclip` (the recipe mixes transformers and open_clip models). One run per
session; each test reads its output.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")

from rehearsal.run import RAY, RECIPE, Layout, build, compare_results, on_ray, run_paper

from semalign.experiments import load_recipe


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    where = build(tmp_path_factory.mktemp("rehearsal"))
    proc = run_paper(where)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return where


def _rows(where: Layout, name: str) -> list[dict[str, str]]:
    with open(where.paper / "results" / f"{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _value(row: dict[str, str]) -> float:
    return float(row["value"]) if row["value"] not in ("", "nan") else math.nan


def _recipe(where: Layout):  # type: ignore[no-untyped-def]
    roots = {"mimic": str(where.mimic), "chexpert": str(where.chexpert), "rsna": str(where.rsna)}
    return load_recipe(RECIPE, roots)


def test_every_task_of_the_recipe_computes_real_rows(rehearsed: Layout) -> None:
    recipe = _recipe(rehearsed)
    files = {"stitch": recipe.stitch, "zeroshot": recipe.zeroshot, "retrieval": recipe.retrieval}
    for file, tasks in files.items():
        rows = _rows(rehearsed, file)
        for task in tasks:
            mine = [r for r in rows if r["setting"].startswith(task.name)]
            finite = [r for r in mine if math.isfinite(_value(r))]
            assert finite, f"{file}: task {task.name} has no computed row"


def test_what_the_trees_cannot_hold_is_skipped_with_its_reason(rehearsed: Layout) -> None:
    """10,000 MIMIC-CXR anchors cannot be drawn from the miniature tree: those cells are n/a rows
    that say why, and the computable anchor counts of the same task have values."""
    rows = [r for r in _rows(rehearsed, "zeroshot") if r["setting"].startswith("zs-rsna-rad-dino")]
    at = defaultdict(list)
    for r in rows:
        if r["anchors"]:
            at[int(float(r["anchors"]))].append(r)
    assert all(not math.isfinite(_value(r)) for r in at[10000]) and at[10000]
    assert all(r["note"].startswith("skipped") for r in at[10000])
    assert any(math.isfinite(_value(r)) for r in at[1000])


def test_text_stitching_aligned_is_far_above_naive(rehearsed: Layout) -> None:
    """Reports the tiny BERTs both read: a head trained on the target space, fed source
    embeddings through T, beats the same head fed them raw (the naive control), every pair."""
    rows = [
        r
        for r in _rows(rehearsed, "stitch")
        if r["setting"].startswith("stitch-text-mimic") and r["metric"] == "accuracy"
    ]
    floor = [_value(r) for r in rows if r["mode"] == "majority"]  # no encoder: no pair
    assert len(floor) == 1
    pairs = {(r["source"], r["target"]) for r in rows if r["mode"] != "majority"}
    assert len(pairs) == 4
    for source, target in pairs:
        mine = [r for r in rows if (r["source"], r["target"]) == (source, target)]
        naive = [_value(r) for r in mine if r["mode"] == "naive"]
        aligned = [
            _value(r)
            for r in mine
            if r["mode"] == "aligned" and r["method"] == "orthogonal" and r["anchors"] == "500"
        ]
        assert naive and aligned
        assert np.nanmean(aligned) > naive[0] + 0.15, (source, target, aligned, naive)
        assert np.nanmean(aligned) > floor[0], (source, target, aligned, floor)


# Cosines of images against class prompts computed straight from the planted checkpoints, with
# transformers' own CLIP processor and open_clip's own preprocess and tokenizer (no semalign code).
DIRECT = r"""
import json, sys
import numpy as np, torch
from PIL import Image

job = json.load(open(sys.argv[1]))

def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)

def feats(out):
    return out if isinstance(out, torch.Tensor) else out.pooler_output

def cosines(image_vecs, class_vecs):
    centres = np.stack([unit(unit(v).mean(axis=0)) for v in class_vecs])
    return (unit(image_vecs) @ centres.T).tolist()

images = [Image.open(p).convert("RGB") for p in job["paths"]]
out = {}
with torch.inference_mode():
    if job["model"] == "clip":
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
        repo = "openai/clip-vit-base-patch16"
        model = CLIPModel.from_pretrained(repo).eval()
        proc, tok = AutoImageProcessor.from_pretrained(repo), AutoTokenizer.from_pretrained(repo)
        img = feats(model.get_image_features(**proc(images=images, return_tensors="pt")))
        def text(t):
            enc = tok(t, padding=True, return_tensors="pt")
            return feats(model.get_text_features(input_ids=enc["input_ids"],
                                                 attention_mask=enc["attention_mask"])).numpy()
    else:
        import open_clip
        name = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
        model, preprocess = open_clip.create_model_from_pretrained(name)
        tok = open_clip.get_tokenizer(name)
        model.eval()
        img = model.encode_image(torch.stack([preprocess(i) for i in images]))
        def text(t):
            return model.encode_text(tok(t)).numpy()
    print(json.dumps(cosines(img.numpy(), [text(p) for p in job["prompts"]])))
"""


def _direct_cosines(
    where: Layout, model: str, paths: list[str], prompts: list[list[str]]
) -> np.ndarray:
    import json
    import subprocess
    import sys

    from rehearsal.run import environment

    job = where.out / f"direct-{model}.json"
    job.write_text(json.dumps({"model": model, "paths": paths, "prompts": prompts}))
    proc = subprocess.run(
        [sys.executable, "-c", DIRECT, str(job)], env=environment(where), text=True,
        capture_output=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.array(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("task", "model"), [("zs-5x200-clip", "clip"),
                                             ("zs-5x200-biomedclip", "biomedclip")])  # fmt: skip
def test_joint_baselines_equal_a_direct_computation(
    rehearsed: Layout, task: str, model: str
) -> None:
    """CLIP and BiomedCLIP in their own joint space: the run's per-image class scores equal the
    cosines computed directly from the checkpoints (log-softmax over the temperature), and so
    does its accuracy."""
    from semalign.data.registry import open_dataset
    from semalign.tasks.prompts import load_prompt_set

    recipe = _recipe(rehearsed)
    spec = next(z for z in recipe.zeroshot if z.name == task)
    rows = [r for r in _rows(rehearsed, "zeroshot_scores") if r["setting"].startswith(task)]
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    truth: dict[str, str] = {}
    for r in rows:
        scores[r["id"]][r["class"]] = float(r["score"])
        if float(r["y_true"]) == 1.0:
            truth[r["id"]] = r["class"]
    records = {r.id: r for r in open_dataset("chexpert-5x200", rehearsed.chexpert)}
    ids = sorted(scores)
    assert len(ids) == 1000
    ps = load_prompt_set(spec.prompts, classes=spec.labels, seed=recipe.seed)
    direct = _direct_cosines(
        rehearsed, model, [str(records[i].image_path) for i in ids],
        [ps.positive[c] for c in ps.classes],
    )  # fmt: skip
    # the run keeps argmax scores as log-softmax(cosine / temperature): the same up to a constant
    # per image, which the softmax removes
    z = direct / spec.temperature
    log_softmax = z - (z.max(axis=1, keepdims=True) + np.log(np.exp(z - z.max(axis=1,
                       keepdims=True)).sum(axis=1, keepdims=True)))  # fmt: skip
    run = np.array([[scores[i][c] for c in ps.classes] for i in ids])
    np.testing.assert_allclose(run * spec.temperature, log_softmax * spec.temperature, atol=2e-3)
    accuracy = next(
        float(r["value"])
        for r in _rows(rehearsed, "zeroshot")
        if r["setting"].startswith(task)
        and r["metric"] == "accuracy"
        and not r["scoring"].startswith("csls")
    )
    hits = [ps.classes[int(np.argmax(direct[k]))] == truth[i] for k, i in enumerate(ids)]
    assert accuracy == pytest.approx(np.mean(hits), abs=2 / len(ids))


def test_report_has_every_section(rehearsed: Layout) -> None:
    recipe = _recipe(rehearsed)
    text = (rehearsed.paper / "report.md").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    for task in [*recipe.stitch, *recipe.zeroshot, *recipe.retrieval]:
        assert any(h.endswith(f": {task.name}") for h in headings), task.name
    for s in recipe.stitch:
        assert f"Space similarity: {s.name}" in headings
    assert {"Summary", "Files"} <= headings
    assert (rehearsed.paper / "report.html").stat().st_size > 0


def test_layout_is_what_the_recipe_header_says(rehearsed: Layout) -> None:
    """The three roots of the recipe's header suffice (chexpert5x200 takes CheXpert's)."""
    recipe = _recipe(rehearsed)
    assert recipe.datasets["chexpert5x200"].root == str(rehearsed.chexpert)
    assert Path(recipe.datasets["mimic"].root or "") == rehearsed.mimic


def test_ray_executor_gives_the_local_results(rehearsed: Layout) -> None:
    """The same recipe with ``--executor ray`` (a local Ray, 2 actors, a fresh store, so that
    the actors compute every embedding) writes the local run's results: byte for byte, or,
    where an embedding's float32 rounding differs under the actors' thread count, every text
    cell equal and every number within ``RAY_ATOL``."""
    pytest.importorskip("ray")
    ray = on_ray(rehearsed)
    proc = run_paper(ray, *RAY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert re.search(r"embeddings [1-9]\d* computed", proc.stdout)  # by the actors
    problems, _ = compare_results(rehearsed.paper, ray.paper)
    assert problems == []
    local = {p.name for p in (rehearsed.paper / "results").glob("*.csv")}
    assert local and local == {p.name for p in (ray.paper / "results").glob("*.csv")}


def test_compare_results_names_what_differs(tmp_path: Path) -> None:
    """Planted results folders: bytes equal pass; a number within the tolerance is reported
    as close; a larger gap, a text cell, another row count or a missing file is a problem."""
    a, b = tmp_path / "a" / "results", tmp_path / "b" / "results"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "same.csv").write_text("x,y\n1,a\n", encoding="utf-8")
    (b / "same.csv").write_text("x,y\n1,a\n", encoding="utf-8")
    (a / "close.csv").write_text("x,y\n0.5,a\n", encoding="utf-8")
    (b / "close.csv").write_text("x,y\n0.5000004,a\n", encoding="utf-8")
    problems, close = compare_results(a.parent, b.parent)
    assert problems == [] and list(close) == ["close.csv"]
    assert close["close.csv"] == pytest.approx(4e-7)
    (b / "close.csv").write_text("x,y\n0.51,b\n", encoding="utf-8")
    (a / "rows.csv").write_text("x\n1\n2\n", encoding="utf-8")
    (b / "rows.csv").write_text("x\n1\n", encoding="utf-8")
    (a / "only.csv").write_text("x\n1\n", encoding="utf-8")
    problems, _ = compare_results(a.parent, b.parent)
    assert problems == [
        "close.csv line 2 x: '0.5' against '0.51'",
        "close.csv line 2 y: 'a' against 'b'",
        "only.csv: in one run only",
        "rows.csv: other rows or columns (3 against 2 lines)",
    ]
