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
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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
    return proc.returncode
