"""Benchmark: every stage of `recipes/paper.toml` after embedding, at full MIMIC-CXR scale.

Goal (issue 20): all of paper.toml after embedding in under 10 minutes and 8 GB on this 2-core
machine. The task settings (anchor counts, seeds, methods, scalings, bootstrap, scoring, ASIF,
space sizes, pairs, ks) are read from the recipe through ``load_recipe`` (dummy roots), and each
stage calls the unit the runner calls (``experiments/units.py``, ``retrieval_units.py``, through
the runner's own ``_stitch_unit`` renaming where the runner uses it), then the report writer on
the rows the units produced. Only the embeddings are synthetic, at the real sizes:

====================  ====================================================================
MIMIC-CXR anchors     227,000 study pairs (image 768-d RAD-DINO / DINOv2, report 768-d
                      CXR-BERT): the zero-shot anchor pool (``--scale`` multiplies it)
CheXpert 5x200        1,000 images, 5 classes (stitching DINOv2 <-> RAD-DINO; zero-shot)
CheXpert test         500 images, 5 labels (pos-neg)
RSNA Pneumonia        26,684 images, 1 label (pos-neg; ``--scale`` multiplies it)
text stitching        6 classes x 2,000 MIMIC-CXR reports (BERT, CXR-BERT, BiomedBERT, 768-d)
retrieval             max_train 20,000 + the official test split (3,000 studies)
joint baselines       CLIP / BiomedCLIP, 512-d, on 5x200 and RSNA
====================  ====================================================================

**Generator.** Every item has a latent z (R = 48 dims, N(0, I)); an item of class c gets
+2.5 on latent dim c (single-label), a multi-label item gets +2 on dim j for each positive
label j (prevalence 0.3, 5% of the entries masked as uncertain). Encoder e embeds
z as ``(z W_e + 0.5 noise) * s_e + m_e``: W_e (R, d) Gaussian, per-dimension scales s_e
(log-normal) and offsets m_e, all seeded by the encoder's name, so every encoder sees the same
z through its own affine view plus full-rank isotropic noise (fits are full rank, maps recover
a real relation, metrics are neither 0 nor 1). An image and its report share z. A class prompt
is a text embedding of latent 2.5 e_c (positive) or 0 (negative), with small per-prompt
jitter; the prompt texts (and their counts) come from the recipe's prompt sets. Retrieval
reports see their study's latent plus N(0, 2² I) (a report says less than its image shows), so
that recall@1 among 3,000 test studies is neither 0 nor 1. The two towers
of a dual encoder (``clip-vit-b16:image`` / ``:text``) share W, s and m: one joint space.

**Measurement.** Each stage runs in its own subprocess under the runner's BLAS policy
(``semalign.threads.blas_policy``: one BLAS thread unless ``SEMALIGN_BLAS_THREADS``;
``OPENBLAS_NUM_THREADS=1`` is set for the children, as the runner would have it). Generating
the stage's embeddings is not timed; the unit call is. ``wall s`` is its wall time, ``cpu s``
its user + system time (above wall: more than one thread; far below: a loaded machine),
``peak MB`` the process's peak resident memory during the unit (``VmHWM``, reset after the
embeddings are generated, so it includes the embeddings the runner would hold: float64, as the
runner hands them to units, except the zero-shot anchor pool: float32 as the store gives it,
only the pairs some cell draws, as ``DrawnRows``),
``held MB`` the resident memory before the unit. With ``--jobs 1`` the
runner holds one task's embeddings at a time, so a run's peak is about the largest stage's peak;
the wall time and peak with unit workers are estimated from the stages (``with_workers``).

Usage: nice python benchmarks/bench_paper_scale.py [--scale 1.0] [--only SUBSTR]
       [--bootstrap N] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "paper.toml"
DUMMY_ROOTS = {"mimic": "/nonexistent/mimic", "chexpert": "/nonexistent/chexpert",
               "rsna": "/nonexistent/rsna"}  # fmt: skip

# Real sizes (the --scale fraction multiplies the two that are the data's own size).
MIMIC_PAIRS = 227_000
RSNA_IMAGES = 26_684
CHEXPERT_5X200 = 1_000
CHEXPERT_TEST = 500
RETRIEVAL_TEST = 3_000
DIMS = {  # output width of each model the recipe names
    "rad-dino": 768, "dinov2-base": 768, "cxr-bert-general": 768, "biomedbert": 768,
    "bert-base": 768, "clip-vit-b16:image": 512, "clip-vit-b16:text": 512,
    "biomedclip:image": 512, "biomedclip:text": 512,
}  # fmt: skip
LATENT = 48
NOISE = 0.5
REPORT_JITTER = 2.0
BLOCK = 16_384
MINIMUM_HEADROOM = 1.02  # scaled pools keep at least the most anchors asked for, plus 2%


# --------------------------------------------------------------------------- generator


def _rng(*parts: Any) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(str(p).encode()) for p in parts])


def encode(z: np.ndarray, model: str) -> np.ndarray:
    """float32 (n, d) embeddings of latents ``z`` (n, LATENT) by synthetic encoder ``model``."""
    d = DIMS[model]
    g = _rng("encoder", model.split(":")[0])  # a dual encoder's towers share one space
    w = (g.standard_normal((LATENT, d)) / np.sqrt(LATENT)).astype(np.float32)
    scale = np.exp(0.3 * g.standard_normal(d)).astype(np.float32)
    offset = (0.5 * g.standard_normal(d)).astype(np.float32)
    out = np.empty((z.shape[0], d), dtype=np.float32)
    noise = _rng("noise", model, z.shape[0])
    for s in range(0, z.shape[0], BLOCK):
        zb = z[s : s + BLOCK].astype(np.float32)
        e = zb @ w + NOISE * noise.standard_normal((zb.shape[0], d), dtype=np.float32)
        out[s : s + BLOCK] = e * scale + offset
    return out


def latents_single(n: int, n_classes: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Latents (n, LATENT) float32 and class indices (n,): +2.5 on the class's latent dim."""
    g = _rng("single", name, n)
    cls = g.integers(0, n_classes, n)
    z = g.standard_normal((n, LATENT), dtype=np.float32)
    z[np.arange(n), cls] += 2.5
    return z, cls


def latents_multi(n: int, n_labels: int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents, 0/1 labels (n, L) (prevalence 0.3, +2 on the label's dim) and a mask (5% off)."""
    g = _rng("multi", name, n)
    y = (g.random((n, n_labels)) < 0.3).astype(np.float64)
    z = g.standard_normal((n, LATENT), dtype=np.float32)
    z[:, :n_labels] += 2.0 * y.astype(np.float32)
    mask = g.random((n, n_labels)) >= 0.05
    return z, np.where(mask, y, 0.0), mask


def prompt_embeddings(prompt_set: str, labels: list[str], model: str, seed: int) -> Any:
    """The recipe's prompt set (real texts and counts) with synthetic embeddings by ``model``."""
    from semalign.tasks.prompts import load_prompt_set
    from semalign.tasks.zeroshot import PromptEmbeddings

    ps = load_prompt_set(prompt_set, classes=labels, seed=seed)
    g = _rng("prompts", prompt_set, model)
    pos, neg = [], []
    for j, c in enumerate(ps.classes):
        for texts, level, out in ((ps.positive[c], 2.5, pos), (ps.negative.get(c, []), 0.0, neg)):
            z = 0.3 * g.standard_normal((len(texts), LATENT)).astype(np.float32)
            z[:, j] += level
            out.append(encode(z, model).astype(np.float64))
    return PromptEmbeddings(ps.classes, pos, neg, ps.name)


# --------------------------------------------------------------------------- stages


@dataclass
class Stage:
    """One measured step: ``name``, the task it belongs to, the unit kind, and a builder that
    generates the inputs (untimed) and returns the call to time, plus the task's result file."""

    name: str
    task: str
    kind: str
    build: Callable[[], Callable[[], list[Any]]]


def _recipe() -> Any:
    from semalign.experiments import load_recipe

    return load_recipe(RECIPE, roots=DUMMY_ROOTS)


def _model(recipe: Any, alias: str) -> str:
    return str(recipe.encoders[alias].model)


def _stitch_inputs(recipe: Any, spec: Any) -> tuple[dict[str, np.ndarray], np.ndarray, Any]:
    from semalign.tasks.splits import group_split

    classes = list(spec.classes)
    if spec.modality == "image":
        n = CHEXPERT_5X200
    else:
        n = len(classes) * int(spec.max_per_class or 2000)
    z, cls = latents_single(n, len(classes), spec.name)
    aliases = dict.fromkeys(a for p in spec.pairs for a in p)
    emb = {a: encode(z, _model(recipe, a)).astype(np.float64) for a in aliases}
    y = np.array(classes)[cls]
    _, test = group_split(np.arange(n), spec.test_fraction, y=y, seed=spec.split_seed)
    return emb, y, test


def stitch_stages(recipe: Any, bootstrap: int) -> list[Stage]:
    from semalign.experiments import units
    from semalign.experiments.grid import distinct_cells
    from semalign.experiments.recipe import SPACE_K
    from semalign.experiments.runner import _relative_counts, _stitch_unit

    stages = []
    for spec in recipe.stitch:

        def space(spec: Any = spec) -> Callable[[], list[Any]]:
            emb, _, _ = _stitch_inputs(recipe, spec)
            seen: set[frozenset[str]] = set()
            pairs = [p for p in spec.pairs if not (frozenset(p) in seen or seen.add(frozenset(p)))]
            kw = {"sizes": spec.space_sizes, "repeats": spec.space_repeats, "k": SPACE_K}
            return lambda: [
                _stitch_unit(units.space_at_sizes, spec.name, emb[a], emb[b], names=(a, b), **kw)
                for a, b in pairs
            ]

        def baseline(spec: Any = spec) -> Callable[[], list[Any]]:
            emb, y, test = _stitch_inputs(recipe, spec)
            return lambda: [
                _stitch_unit(units.stitch_baseline, spec.name, emb[a], emb[b], y, test,
                             spec.modes, (a, b), bootstrap)
                for a, b in spec.pairs
            ]  # fmt: skip

        def method(spec: Any = spec, m: str = "", s: str = "") -> Callable[[], list[Any]]:
            emb, y, test = _stitch_inputs(recipe, spec)
            common = {"anchors": spec.anchors, "seeds": spec.seeds,
                      "strategy": spec.anchor_strategy, "bootstrap": bootstrap}  # fmt: skip
            return lambda: [
                _stitch_unit(units.stitch_method, spec.name, emb[a], emb[b], y, test, method=m,
                             scaling=s, names=(a, b), **common)
                for a, b in spec.pairs
            ]  # fmt: skip

        def relative(spec: Any = spec) -> Callable[[], list[Any]]:
            emb, y, test = _stitch_inputs(recipe, spec)
            common = {"anchors": _relative_counts(spec.anchors), "seeds": spec.seeds,
                      "strategy": spec.anchor_strategy, "bootstrap": bootstrap}  # fmt: skip
            return lambda: [
                _stitch_unit(units.stitch_relative, spec.name, emb[a], emb[b], y, test,
                             names=(a, b), **common)
                for a, b in spec.pairs
            ]  # fmt: skip

        if spec.space_sizes:
            stages.append(Stage(f"{spec.name}/space-sizes", spec.name, "space-sizes", space))
        stages.append(Stage(f"{spec.name}/baseline", spec.name, "stitch-baseline", baseline))
        if "aligned" in spec.modes:
            for m, s in distinct_cells(spec.methods, spec.scalings)[0]:
                build = lambda spec=spec, m=m, s=s: method(spec, m, s)  # noqa: E731
                stages.append(Stage(f"{spec.name}/method {m}-{s}", spec.name, "stitch-method",
                                    build))  # fmt: skip
        if "relative" in spec.modes:
            stages.append(Stage(f"{spec.name}/relative", spec.name, "stitch-relative", relative))
    return stages


def _eval_images(spec: Any, model: str, scale: float) -> tuple[np.ndarray, Any, Any, list[str]]:
    """Evaluated images of a zero-shot task: (x, y, mask, ids)."""
    if spec.images == "rsna":
        n = max(round(RSNA_IMAGES * scale), 200)
    elif spec.images == "chexpert":
        n = CHEXPERT_TEST
    else:
        n = CHEXPERT_5X200
    if spec.rule == "argmax":
        z, cls = latents_single(n, len(spec.labels), f"eval-{spec.images}")
        y: Any = np.array(spec.labels)[cls]
        mask = None
    else:
        z, y, mask = latents_multi(n, len(spec.labels), f"eval-{spec.images}")
    return encode(z, model).astype(np.float64), y, mask, [f"{spec.images}-{i}" for i in range(n)]


def anchor_pool_size(recipe: Any, scale: float) -> int:
    most = max((max(z.anchors) for z in recipe.zeroshot if not z.joint), default=0)
    return max(round(MIMIC_PAIRS * scale), int(most * MINIMUM_HEADROOM))


def _anchor_pairs(recipe: Any, spec: Any, scale: float) -> tuple[Any, Any, list[str]]:
    """MIMIC-CXR study pairs: one latent per study, seen by the image and the text encoder.
    As the runner holds them: float32 rows of the pairs some cell draws, as ``DrawnRows``
    (every pair under leave-one-out, as (n, d) arrays)."""
    from semalign.experiments.inputs import drawn_pairs
    from semalign.tasks.zeroshot_folds import DrawnRows

    n = anchor_pool_size(recipe, scale)
    z, _ = latents_single(n, len(spec.labels), "mimic-studies")
    drawn = drawn_pairs(spec, n)
    pools: list[Any] = []
    for alias in (spec.image_encoder, spec.text_encoder):
        model = _model(recipe, alias)
        if drawn is None:
            pools.append(encode(z, model))
        else:
            pools.append(DrawnRows.of(encode(z[drawn], model), drawn, n))
    return pools[0], pools[1], [f"mimic-{i}" for i in range(n)]


def zeroshot_stages(recipe: Any, bootstrap: int, scale: float) -> list[Stage]:
    from semalign.experiments import units
    from semalign.experiments.grid import distinct_cells

    stages = []
    for spec in recipe.zeroshot:
        key = {"task": "zeroshot", "source": spec.image_encoder, "target": spec.text_encoder,
               "setting": spec.name}  # fmt: skip
        zs = {"rule": spec.rule, "aggregate": spec.aggregate, "temperature": spec.temperature}
        scored = {"scorings": spec.scoring, "csls_k": spec.csls_k}
        at_k = spec.headline.anchors if spec.headline else None

        def common(spec: Any = spec) -> tuple[Any, ...]:
            x, y, mask, ids = _eval_images(spec, _model(recipe, spec.image_encoder), scale)
            prompts = prompt_embeddings(
                spec.prompts, spec.labels, _model(recipe, spec.text_encoder), recipe.seed
            )
            return x, y, mask, ids, prompts

        if spec.joint:

            def joint(spec: Any = spec, key: Any = key, zs: Any = zs, sc: Any = scored) -> Any:
                x, y, mask, ids, prompts = common(spec)
                return lambda: [
                    units.zeroshot_joint(x, y, mask, ids, prompts, key=key, bootstrap=bootstrap,
                                         **zs, **sc)
                ]  # fmt: skip

            stages.append(Stage(f"{spec.name}/joint", spec.name, "zeroshot-joint", joint))
            continue

        def asif(spec: Any = spec, key: Any = key, zs: Any = zs, sc: Any = scored,
                 at_k: Any = at_k) -> Any:  # fmt: skip
            x, y, mask, ids, prompts = common(spec)
            a_img, a_txt, owner = _anchor_pairs(recipe, spec, scale)
            assert spec.asif is not None
            return lambda: [
                units.zeroshot_asif(
                    x, y, mask, ids, prompts, a_img, a_txt, owner, loo=spec.split == "loo",
                    anchors=spec.anchors, seeds=spec.seeds, top_k=spec.asif.top_k,
                    power=spec.asif.power, key=key, bootstrap=bootstrap, score_at=at_k,
                    **zs, **sc,
                )
            ]  # fmt: skip

        def method(spec: Any = spec, key: Any = key, zs: Any = zs, sc: Any = scored,
                   at_k: Any = at_k, m: str = "", s: str = "") -> Any:  # fmt: skip
            x, y, mask, ids, prompts = common(spec)
            a_img, a_txt, owner = _anchor_pairs(recipe, spec, scale)
            return lambda: [
                units.zeroshot_method(
                    x, y, mask, ids, prompts, a_img, a_txt, owner, loo=spec.split == "loo",
                    method=m, scaling=s, anchors=spec.anchors, seeds=spec.seeds,
                    center_text=spec.center_text, key=key, bootstrap=bootstrap, score_at=at_k,
                    anchor_labels=None, **zs, **sc,
                )
            ]  # fmt: skip

        if spec.asif is not None:
            stages.append(Stage(f"{spec.name}/asif", spec.name, "zeroshot-asif", asif))
        for m, s in distinct_cells(spec.methods, spec.scalings)[0]:
            build = lambda f=method, m=m, s=s: f(m=m, s=s)  # noqa: E731
            stages.append(Stage(f"{spec.name}/method {m}-{s}", spec.name, "zeroshot-method",
                                build))  # fmt: skip
    return stages


def retrieval_stages(recipe: Any, bootstrap: int) -> list[Stage]:
    from semalign.experiments import retrieval_units as ru
    from semalign.experiments.grid import distinct_cells
    from semalign.experiments.runner import _stitch_unit

    stages = []
    for spec in recipe.retrieval:

        def inputs(spec: Any = spec) -> tuple[dict[str, np.ndarray], np.ndarray]:
            n_train = int(spec.max_train or 20_000)
            n = n_train + RETRIEVAL_TEST
            z, _ = latents_single(n, 6, f"retrieval-{spec.name}")
            jitter = _rng("report-jitter", spec.name, n).standard_normal(z.shape, np.float32)
            z_report = z + REPORT_JITTER * jitter
            targets = {b for _, b in spec.pairs}
            emb = {a: encode(z_report if a in targets else z, _model(recipe, a)).astype(np.float64)
                   for a in dict.fromkeys(a for p in spec.pairs for a in p)}  # fmt: skip
            return emb, np.arange(n_train, n)

        common = {"kind": spec.kind, "ks": spec.ks, "bootstrap": bootstrap}
        fit = {"anchors": spec.anchors, "seeds": spec.seeds, "strategy": spec.anchor_strategy}

        def control(spec: Any = spec, common: Any = common) -> Any:
            emb, test = inputs(spec)
            return lambda: [
                _stitch_unit(ru.retrieval_control, spec.name, emb[a], emb[b], test,
                             names=(a, b), **common)
                for a, b in spec.pairs
            ]  # fmt: skip

        def method(spec: Any = spec, common: Any = common, fit: Any = fit, m: str = "",
                   s: str = "", scoring: str = "cosine") -> Any:  # fmt: skip
            emb, test = inputs(spec)
            csls = {"scoring": scoring, "csls_k": spec.csls_k} if scoring == "csls" else {}
            return lambda: [
                _stitch_unit(ru.retrieval_method, spec.name, emb[a], emb[b], test, method=m,
                             scaling=s, names=(a, b), **csls, **fit, **common)
                for a, b in spec.pairs
            ]  # fmt: skip

        def asif(spec: Any = spec, common: Any = common, fit: Any = fit) -> Any:
            emb, test = inputs(spec)
            return lambda: [
                _stitch_unit(ru.retrieval_asif, spec.name, emb[a], emb[b], test, names=(a, b),
                             **asdict(spec.asif), **fit, **common)
                for a, b in spec.pairs
            ]  # fmt: skip

        stages.append(Stage(f"{spec.name}/control", spec.name, "retrieval-control", control))
        for m, s in distinct_cells(spec.methods, spec.scalings)[0]:
            for scoring in spec.scorings:
                build = lambda f=method, m=m, s=s, sc=scoring: f(m=m, s=s, scoring=sc)  # noqa: E731
                stages.append(Stage(f"{spec.name}/method {m}-{s} {scoring}", spec.name,
                                    "retrieval-method", build))  # fmt: skip
        if spec.asif is not None:
            stages.append(Stage(f"{spec.name}/asif", spec.name, "retrieval-asif", asif))
    return stages


def all_stages(scale: float, bootstrap: int | None) -> list[Stage]:
    recipe = _recipe()
    bs = recipe.bootstrap if bootstrap is None else bootstrap
    return [
        *stitch_stages(recipe, bs),
        *zeroshot_stages(recipe, bs, scale),
        *retrieval_stages(recipe, bs),
    ]


# --------------------------------------------------------------------------- measuring


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _write_outputs(outputs: list[Any], folder: Path) -> int:
    """The units' rows as CSV files (one per results file) in ``folder``; returns the rows."""
    from semalign.experiments.runner import TABLE_OF_TASK

    tables: dict[str, list[dict[str, Any]]] = {}
    for out in outputs:
        for r in out.table.to_records():
            tables.setdefault(TABLE_OF_TASK.get(r["task"], r["task"]), []).append(r)
        for k, rows in out.extras.items():
            tables.setdefault("zeroshot_scores" if k == "scores" else k, []).extend(rows)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        _write_csv(folder / f"{name}.csv", rows)
    return sum(len(o.table) for o in outputs)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})


def _summary_metric(outputs: list[Any]) -> str:
    """Mean of the first headline metric over the stage's computed rows (non-degenerate?)."""
    for metric in ("macro_auroc", "recall@1", "cka"):
        vals = []
        for out in outputs:
            for r in out.table.to_records():
                v = r.get("value")
                if r.get("metric") == metric and isinstance(v, float) and np.isfinite(v):
                    vals.append(v)
        if vals:
            return f"{metric} {np.mean(vals):.3f} (n={len(vals)})"
    return ""


def run_child(name: str, scale: float, bootstrap: int | None, folder: Path) -> dict[str, Any]:
    from semalign.threads import blas_policy

    with blas_policy() as threads:
        stage = next(s for s in all_stages(scale, bootstrap) if s.name == name)
        t0 = time.perf_counter()
        call = stage.build()
        gen = time.perf_counter() - t0
        held = _status_mb("VmRSS")
        reset = _reset_peak()
        c0, t0 = _cpu(), time.perf_counter()
        outputs = call()
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        peak = _status_mb("VmHWM")
    rows = _write_outputs(outputs, folder)
    return {"stage": name, "task": stage.task, "kind": stage.kind, "wall": wall, "cpu": cpu,
            "peak_mb": peak, "held_mb": held, "gen_s": gen, "peak_reset": reset, "rows": rows,
            "blas_threads": threads, "check": _summary_metric(outputs)}  # fmt: skip


def report_child(folder: Path, scale: float, bootstrap: int | None) -> dict[str, Any]:
    """Merge every stage's CSVs into one run folder (as the runner writes it, with the task
    metadata the report reads) and time ``write_report`` on it."""
    from semalign.experiments.grid import distinct_cells
    from semalign.experiments.report import write_report
    from semalign.experiments.runner import protocol

    recipe = _recipe()
    run = folder / "run"
    (run / "results").mkdir(parents=True, exist_ok=True)
    merged: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(folder.glob("stage-*/*.csv")):
        with f.open(encoding="utf-8") as fh:
            merged.setdefault(f.stem, []).extend(csv.DictReader(fh))
    for name, rows in merged.items():
        _write_csv(run / "results" / f"{name}.csv", rows)

    def grid(spec: Any) -> dict[str, Any]:
        notes = distinct_cells(spec.methods, spec.scalings)[1]
        head = getattr(spec, "headline", None)
        return {"coincide": notes, "headline": None if head is None else asdict(head),
                "anchors": spec.anchors, "seeds": spec.seeds, "methods": spec.methods,
                "scalings": spec.scalings}  # fmt: skip

    tasks: dict[str, dict[str, Any]] = {"stitch": {}, "zeroshot": {}, "retrieval": {}}
    for s in recipe.stitch:
        tasks["stitch"][s.name] = {
            **grid(s), "classes": s.classes, "pairs": [list(p) for p in s.pairs],
            "space_sizes": s.space_sizes, "space_repeats": s.space_repeats, "space_k": 10,
        }  # fmt: skip
    for z in recipe.zeroshot:
        tasks["zeroshot"][z.name] = {
            **grid(z), "images": z.images, "labels": z.labels, "prompts": z.prompts,
            "joint": z.joint, "split": z.split, "rule": z.rule, "scoring": z.scoring,
            "csls_k": z.csls_k, "protocol": protocol(z),
            "asif": None if z.asif is None else {**asdict(z.asif), "top_k_used": {
                str(k): min(z.asif.top_k, k) for k in z.anchors}},
        }  # fmt: skip
    for t in recipe.retrieval:
        tasks["retrieval"][t.name] = {
            **grid(t), "kind": t.kind, "ks": t.ks, "scorings": t.scorings, "csls_k": t.csls_k,
            "pairs": [list(p) for p in t.pairs], "n_test": RETRIEVAL_TEST,
            "asif": None if t.asif is None else asdict(t.asif), "unpaired": None,
        }  # fmt: skip
    payload = {
        "format": 1,
        "recipe": {"name": recipe.name, "title": recipe.title, "notes": recipe.notes,
                   "bootstrap": recipe.bootstrap if bootstrap is None else bootstrap},
        "tasks": tasks,
        "files": sorted(p.name for p in (run / "results").glob("*.csv")),
        "timings": {"seconds": 0.0, "tasks": [], "steps": []},
    }  # fmt: skip
    (run / "results.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    held = _status_mb("VmRSS")
    reset = _reset_peak()
    c0, t0 = _cpu(), time.perf_counter()
    write_report(run)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    size = sum(len(r) for r in merged.values())
    return {"stage": "report (write_report)", "task": "report", "kind": "report", "wall": wall,
            "cpu": cpu, "peak_mb": _status_mb("VmHWM"), "held_mb": held, "gen_s": 0.0,
            "peak_reset": reset, "rows": size, "blas_threads": None,
            "check": f"{size} CSV rows read"}  # fmt: skip


def measure(argv: list[str]) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                          env=env)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{argv}: failed ({proc.returncode})\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(results: list[dict[str, Any]], scale: float, pool: int) -> None:
    total = sum(r["wall"] for r in results)
    peak = max(r["peak_mb"] for r in results)
    print()
    print("| stage | wall s | cpu s | peak MB | held MB | share | check |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in sorted(results, key=lambda r: -r["wall"]):
        print(f"| {r['stage']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_mb']:.0f} | "
              f"{r['held_mb']:.0f} | {100 * r['wall'] / total:.1f}% | {r['check']} |")  # fmt: skip
    by_task: dict[str, float] = {}
    for r in results:
        by_task[r["task"]] = by_task.get(r["task"], 0.0) + r["wall"]
    print()
    print("per task: " + "; ".join(f"{t} {s:.1f} s" for t, s in
                                   sorted(by_task.items(), key=lambda kv: -kv[1])))  # fmt: skip
    print(
        f"scale {scale} (MIMIC-CXR anchor pool {pool:,} pairs); total wall {total:.1f} s "
        f"({total / 60:.1f} min; goal < 10 min), cpu {sum(r['cpu'] for r in results):.1f} s, "
        f"peak RSS {peak:.0f} MB (goal < 8,192 MB)"
    )
    for jobs in (2, 4):
        span, top = with_workers(results, jobs)
        print(f"with --jobs {jobs} (estimated from these stages, see with_workers): wall "
              f"{span:.1f} s ({span / 60:.1f} min), peak {top:.0f} MB")  # fmt: skip
    if scale != 1.0:
        print(f"scaled run: the anchor pool and RSNA at {scale} of their size (not full-size)")


def with_workers(results: list[dict[str, Any]], jobs: int) -> tuple[float, float]:
    """Estimated wall time and peak (MB) of the run with ``jobs`` unit workers, from the
    stages measured one at a time: the stages go, in order, to the first free worker (as the
    runner's pool takes its units), at the speed measured alone (the demo's units ran 2.0x
    faster with 2 workers on this 2-core machine); the peak is the largest sum of the
    concurrent stages' peaks, plus what the run's own process holds meanwhile: every task's
    inputs at once (each task's largest ``held`` above the smallest, an interpreter's), since
    the runner keeps every unit until the last embedding is done. The report runs after."""
    units = [r for r in results if r["kind"] != "report"]
    report = [r for r in results if r["kind"] == "report"]
    base = min(r["held_mb"] for r in units)
    inputs: dict[str, float] = {}
    for r in units:
        inputs[r["task"]] = max(inputs.get(r["task"], 0.0), r["held_mb"] - base)
    free = [0.0] * jobs
    spans = []
    for r in units:
        w = min(range(jobs), key=lambda i: free[i])
        spans.append((free[w], free[w] + r["wall"], r["peak_mb"]))
        free[w] += r["wall"]
    top = max(sum(p for a, b, p in spans if a <= t < b) for t, _, _ in spans)
    end = max(free)
    for r in report:
        end += r["wall"]
        top = max(top, r["peak_mb"])
    return end, top + sum(inputs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the MIMIC-CXR anchor pool and RSNA (1.0: full size)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=None, help="bootstrap resamples (default: the recipe's)"
    )
    parser.add_argument("--only", default=None, help="run stages whose name contains this")
    parser.add_argument("--no-report", action="store_true", help="skip the report stage")
    parser.add_argument("--keep", type=Path, default=None, help="keep the rows and report here")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_child(args.child, args.scale, args.bootstrap, args.folder)))
        return
    if args.report_child:
        print(json.dumps(report_child(args.folder, args.scale, args.bootstrap)))
        return
    stages = all_stages(args.scale, args.bootstrap)
    if args.list:
        for s in stages:
            print(s.name)
        return
    if args.only:
        stages = [s for s in stages if args.only in s.name]
    pool = anchor_pool_size(_recipe(), args.scale)
    common = ["--scale", str(args.scale)]
    if args.bootstrap is not None:
        common += ["--bootstrap", str(args.bootstrap)]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as tmp:
        base = args.keep or Path(tmp)
        for i, s in enumerate(stages):
            r = measure(["--child", s.name, "--folder", str(base / f"stage-{i:02d}"), *common])
            results.append(r)
            print(f"{r['stage']}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s cpu, peak "
                  f"{r['peak_mb']:.0f} MB (held {r['held_mb']:.0f}), inputs {r['gen_s']:.1f} s;"
                  f" {r['check']}", flush=True)  # fmt: skip
        if not args.no_report:
            r = measure(["--report-child", "--folder", str(base), *common])
            results.append(r)
            print(f"{r['stage']}: {r['wall']:.1f} s, peak {r['peak_mb']:.0f} MB", flush=True)
    print_table(results, args.scale, pool)
    if args.json:
        args.json.write_text(json.dumps({"scale": args.scale, "pool": pool,
                                         "stages": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
