"""The paper's protocol end to end: ``recipes/paper.toml``, unmodified, on miniature trees.

``python -m rehearsal [--out .rehearsal]`` writes, under OUT:

    data/mimic-cxr-jpg/      MIMIC-CXR-JPG 2.x tables, images and the MIMIC-CXR reports tree
    data/CheXpert-v1.0-small/ train.csv, valid.csv, groundtruth.csv and their images
    data/rsna-pneumonia/     RSNA stage 2 labels, class info and DICOM files
    hf/hub/                  tiny random models under the real hub ids (an offline HF cache)
    store/                   the embedding store of the run
    paper/                   the run's results/, results.json, report.md, report.html

then runs ``semalign run recipes/paper.toml --root mimic=... --root chexpert=... --root rsna=...``
in a subprocess with ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` on the planted cache, as a user's
machine with the datasets and a downloaded cache would. The exit status is the run's.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "paper.toml"


@dataclass(frozen=True)
class Sizes:
    """How much each miniature tree holds: small enough for minutes on two cores, large enough
    that every task of the recipe computes real rows (the rest are skipped, with the reason)."""

    mimic_studies: int = 1600
    chexpert_per_class: int = 215  # 5x200 needs 200 frontal images positive for one class only
    chexpert_test: int = 120
    rsna_patients: int = 240


@dataclass(frozen=True)
class Layout:
    out: Path
    mimic: Path
    chexpert: Path
    rsna: Path
    hub: Path
    store: Path
    paper: Path


def layout(out: Path) -> Layout:
    data = out / "data"
    return Layout(
        out,
        data / "mimic-cxr-jpg",
        data / "CheXpert-v1.0-small",
        data / "rsna-pneumonia",
        out / "hf" / "hub",
        out / "store",
        out / "paper",
    )


def build(out: Path, sizes: Sizes = Sizes(), seed: int = 0) -> Layout:
    """Write the three trees and the model cache afresh under ``out``."""
    from rehearsal.data import build_chexpert, build_mimic, build_rsna, report_words
    from rehearsal.models import plant_models

    where = layout(out)
    for folder in (where.mimic, where.chexpert, where.rsna, where.hub):
        shutil.rmtree(folder, ignore_errors=True)
    build_mimic(where.mimic, n_studies=sizes.mimic_studies, seed=seed)
    build_chexpert(
        where.chexpert, per_class=sizes.chexpert_per_class, n_test=sizes.chexpert_test, seed=seed
    )
    build_rsna(where.rsna, n_patients=sizes.rsna_patients, seed=seed)
    plant_models(where.hub, words=[*report_words(), *prompt_words()], seed=seed)
    return where


def prompt_words() -> list[str]:
    """Every text of the packaged prompt sets, so that prompts tokenise into words too."""
    from semalign.tasks.prompts import list_prompt_sets, load_prompt_set

    texts: list[str] = []
    for name in list_prompt_sets():
        ps = load_prompt_set(name)
        for c in ps.classes:
            texts += ps.positive[c] + ps.negative.get(c, [])
    return texts


def environment(where: Layout) -> dict[str, str]:
    """The process environment of the run: offline, the planted cache, nothing else changed."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_CACHE=str(where.hub))
    env.pop("HF_HOME", None)
    return env


def command(where: Layout, *extra: str) -> list[str]:
    """``semalign run`` of the unmodified paper recipe on the miniature roots."""
    return [
        sys.executable, "-m", "semalign", "run", str(RECIPE), "--out", str(where.paper),
        "--store", str(where.store), "--root", f"mimic={where.mimic}",
        "--root", f"chexpert={where.chexpert}", "--root", f"rsna={where.rsna}", *extra,
    ]  # fmt: skip


def on_ray(where: Layout) -> Layout:
    """The layout of the same run on a local Ray: the same trees and models, its own results
    folder and store (so that Ray computes every embedding)."""
    return replace(where, store=where.out / "store-ray", paper=where.out / "paper-ray")


RAY = ("--executor", "ray", "--workers", "2")


#: the largest difference allowed between a local and a Ray run's numbers where their files are
#: not byte-identical: float32 rounding of an embedding computed under another thread count
#: (measured: 6.7e-8 in BiomedCLIP's prompt embeddings, 5.5e-7 in the per-image scores)
RAY_ATOL = 1e-6


def compare_results(a: Path, b: Path, atol: float = RAY_ATOL) -> tuple[list[str], dict[str, float]]:
    """Compare two runs' results files: (the problems, one line each: a file in one run only,
    other rows or columns, a text cell or a number that differs by more than ``atol``; and
    for each file that is not byte-identical, the largest difference of its numbers)."""
    names = sorted({p.name for p in (a / "results").glob("*.csv")} |
                   {p.name for p in (b / "results").glob("*.csv")})  # fmt: skip
    problems: list[str] = []
    close: dict[str, float] = {}
    for name in names:
        fa, fb = a / "results" / name, b / "results" / name
        if not fa.is_file() or not fb.is_file():
            problems.append(f"{name}: in one run only")
            continue
        if fa.read_bytes() == fb.read_bytes():
            continue
        with fa.open(encoding="utf-8") as f:
            ra = list(csv.reader(f))
        with fb.open(encoding="utf-8") as f:
            rb = list(csv.reader(f))
        if len(ra) != len(rb) or ra[:1] != rb[:1]:
            problems.append(f"{name}: other rows or columns ({len(ra)} against {len(rb)} lines)")
            continue
        worst = 0.0
        for i, (x, y) in enumerate(zip(ra, rb, strict=True)):
            for col, u, v in zip(ra[0], x, y, strict=True):
                if u == v:
                    continue
                try:
                    gap = abs(float(u) - float(v))
                except ValueError:
                    gap = math.inf
                if not gap <= atol:
                    problems.append(f"{name} line {i + 1} {col}: {u!r} against {v!r}")
                worst = max(worst, gap)
        close[name] = worst
    return problems, close


def run_paper(where: Layout, *extra: str, fresh: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the recipe (after removing the previous results and store when ``fresh``)."""
    if fresh:
        shutil.rmtree(where.paper, ignore_errors=True)
        shutil.rmtree(where.store, ignore_errors=True)
    return subprocess.run(
        command(where, *extra), env=environment(where), text=True, capture_output=True,
        check=False,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".rehearsal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-store", action="store_true", help="reuse the previous store")
    parser.add_argument(
        "--ray", action="store_true",
        help="then run it again with --executor ray (local Ray, 2 actors, a fresh store) and "
        "compare the results files (byte for byte, else every number within RAY_ATOL)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    where = build(args.out.resolve(), seed=args.seed)
    t1 = time.perf_counter()
    print(f"rehearsal: trees and models written under {where.out} in {t1 - t0:.0f} s", flush=True)
    proc = run_paper(where, fresh=not args.keep_store)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    t2 = time.perf_counter()
    state = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
    print(f"rehearsal: semalign run {state} in {t2 - t1:.0f} s; report {where.paper / 'report.md'}")
    if proc.returncode != 0 or not args.ray:
        return proc.returncode
    ray = on_ray(where)
    proc = run_paper(ray, *RAY)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    t3 = time.perf_counter()
    if proc.returncode != 0:
        print(f"rehearsal: semalign run on Ray FAILED (exit {proc.returncode}) in {t3 - t2:.0f} s")
        return proc.returncode
    problems, close = compare_results(where.paper, ray.paper)
    same = "byte-identical to the local run's" + "".join(
        f"; {n} within {v:.1e}" for n, v in close.items()
    )
    verdict = "differ from the local run's:\n  " + "\n  ".join(problems) if problems else same
    print(f"rehearsal: on Ray in {t3 - t2:.0f} s; its results files are {verdict}")
    return 1 if problems else 0
