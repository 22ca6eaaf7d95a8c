"""Soak of the embedding store under many writers, gc and kill -9 (local only, bounded in time).

One store, for ``--minutes``: up to ``--jobs`` concurrent ``semalign embed`` processes (text
manifests that overlap, with e5-small and MiniLM; two overlapping image manifests with
EfficientNet-Lite0, whose chunks are written before the entry is planned) and ``semalign run``
processes (the demo recipe cut to one small stitch task), all on the offline packaged models;
``semalign store gc --yes`` in a loop; and every ``--kill-every`` seconds on average a ``kill -9``
of a random live process (a job, or a gc), at a random moment.

Afterwards:
  1. ``semalign store verify`` is clean;
  2. every job re-run to completion (one at a time) gives byte-identical arrays (embed: the
     entry's ids and float32 rows) and results files (run: ``results/*.csv``) to an undisturbed
     run of the same job into a fresh store, made before the soak;
  3. no usage record lost an entry: every job that finished during the soak is still recorded
     (its entry's ``usage.json`` names ``embed`` / the recipe; the recipe's record exists);
  4. no job failed other than by being killed.

Usage: nice python benchmarks/bench_store_soak.py [--minutes 3] [--jobs 3] [--kill-every 4]
       [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semalign.experiments import recipe_path
from semalign.store import open_store

FINDINGS = [
    "Small left pleural effusion.",
    "Heart size is normal.",
    "No acute cardiopulmonary process.",
    "Right lower lobe consolidation concerning for pneumonia.",
    "Mild pulmonary edema with cephalization.",
    "Small right apical pneumothorax.",
]


@dataclass
class Job:
    name: str
    args: list[str]  # after `semalign`, without the store / out options
    kind: str  # "embed" | "run"


@dataclass
class Tally:
    started: dict[str, int] = field(default_factory=dict)
    finished: dict[str, int] = field(default_factory=dict)
    killed: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    gc_runs: int = 0
    gc_killed: int = 0
    gc_deleted: int = 0
    # what finished jobs recorded: entry folder -> commands/recipes that must stay in usage.json
    recorded: dict[str, set[str]] = field(default_factory=dict)
    recipes_run: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _semalign(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "semalign", *map(str, args)]


def make_inputs(work: Path) -> list[Job]:
    texts = [f"{FINDINGS[i % len(FINDINGS)]} Study {i}." for i in range(360)]
    edited = list(texts)
    for i in range(0, 360, 45):
        edited[i] = f"Edited report {i}: stable appearance."

    def manifest(name: str, rows: list[tuple[str, str]]) -> Path:
        path = work / name
        with path.open("w", encoding="utf-8") as fh:
            for i, t in rows:
                fh.write(json.dumps({"id": i, "report": t}) + "\n")
        return path

    t1 = manifest("t1.jsonl", [(f"r{i:04d}", texts[i]) for i in range(0, 240)])
    t2 = manifest("t2.jsonl", [(f"r{i:04d}", texts[i]) for i in range(120, 360)])
    t3 = manifest("t3.jsonl", [(f"r{i:04d}", edited[i]) for i in range(0, 360)])
    from PIL import Image

    img = work / "img"
    img.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (48, 40), dtype=np.uint8)).save(img / f"x{i}.png")

    def images(name: str, idx: range) -> Path:
        path = img / name
        path.write_text("id,image\n" + "".join(f"x{i},x{i}.png\n" for i in idx))
        return path

    i1, i2 = images("i1.csv", range(0, 16)), images("i2.csv", range(8, 24))
    recipe = work / "soak.toml"
    recipe.write_text(small_recipe(), encoding="utf-8")
    text = ["--chunk-size", "16", "-q"]
    image = ["--chunk-size", "4", "--device", "cpu", "--num-workers", "0", "-q"]
    return [
        Job("embed-e5-t1", ["embed", "-e", "e5-small", "-i", str(t1), *text], "embed"),
        Job("embed-e5-t2", ["embed", "-e", "e5-small", "-i", str(t2), *text], "embed"),
        Job(
            "embed-minilm-t3",
            ["embed", "-e", "minilm", "-i", str(t3), "--device", "cpu", *text],
            "embed",
        ),
        Job(
            "embed-effnet-i1", ["embed", "-e", "efficientnet-lite0", "-i", str(i1), *image], "embed"
        ),
        Job(
            "embed-effnet-i2", ["embed", "-e", "efficientnet-lite0", "-i", str(i2), *image], "embed"
        ),
        Job("run-soak", ["run", str(recipe)], "run"),
    ]


def small_recipe() -> str:
    """The demo recipe's text stitch task alone, at a few seconds' size."""
    text = recipe_path("demo").read_text(encoding="utf-8")
    text = text[: text.index("[[zeroshot]]")]
    for pattern, repl in [
        (r'name = "demo"', 'name = "soak"'),
        (r"bootstrap = 500", "bootstrap = 20"),
        (r"max_per_class = 600", "max_per_class = 20"),
        (r"anchors = \[16, 32, 64, 128, 256, 512\]", "anchors = [8, 24]"),
        (r"seeds = \[0, 1, 2\]", "seeds = [0]"),
        (r'methods = \["orthogonal", "affine", "linear"\]', 'methods = ["orthogonal"]'),
        (r'pairs = \[\["minilm", "e5"\], \["e5", "minilm"\]\]', 'pairs = [["minilm", "e5"]]'),
        (r"anchors = 512 \}", "anchors = 24 }"),
        (r"space_sizes = \[64, 128, 256, 512\]", "space_sizes = [16, 32]"),
    ]:
        text, n = re.subn(pattern, repl, text)
        assert n >= 1, f"demo recipe no longer contains {pattern!r}: update small_recipe"
    return text


#: A job with a fresh manifest each time (see ``churn_job``), whose entries gc then removes.
CHURN = Job("embed-e5-churn", [], "embed")


def churn_job(work: Path, tag: str, rng: random.Random) -> Job:
    rows = (work / "t1.jsonl").read_text(encoding="utf-8").splitlines()
    k = rng.randrange(len(rows))
    row = json.loads(rows[k])
    rows[k] = json.dumps({"id": row["id"], "report": f"Churn {tag}: {row['report']}"})
    path = work / "churn" / f"{tag}.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Job(CHURN.name, ["embed", "-e", "e5-small", "-i", str(path), "--chunk-size", "16",
                            "-q"], "embed")  # fmt: skip


def job_argv(job: Job, store: Path, out: Path) -> list[str]:
    if job.kind == "embed":
        return _semalign(*job.args, "-o", store)
    return _semalign(*job.args, "--store", store, "--out", out)


def outcome(job: Job, stdout: str, out: Path) -> dict[str, bytes]:
    """What a finished job produced, as bytes to compare: the entry's ids and rows, or the
    run's results tables."""
    if job.kind == "embed":
        entry = Path(stdout.splitlines()[0])
        ids, x = open_store(entry, verify=True).read()
        arr = np.ascontiguousarray(x, dtype=np.float32)
        return {"ids": "\n".join(ids).encode(), "rows": arr.tobytes(), "entry": entry.name.encode()}
    return {p.name: p.read_bytes() for p in sorted((out / "results").glob("*.csv"))}


def run_once(job: Job, store: Path, out: Path) -> dict[str, bytes]:
    proc = subprocess.run(job_argv(job, store, out), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{job.name} failed undisturbed: {proc.stderr[-2000:]}")
    return outcome(job, proc.stdout, out)


def gc_loop(store: Path, stop: threading.Event, tally: Tally, live: dict[int, str]) -> None:
    rounds = 0
    while not stop.is_set():
        rounds += 1  # every other gc also removes entries unused since 2002 (the churn's)
        since = ["--unused-since", "2002-01-01"] if rounds % 2 else []
        proc = subprocess.Popen(_semalign("store", "gc", "--store", store, "--yes", "--json",
                                          *since),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
        with tally.lock:
            live[proc.pid] = "gc"
        out, err = proc.communicate()
        with tally.lock:
            live.pop(proc.pid, None)
            tally.gc_runs += 1
            if proc.returncode == -signal.SIGKILL:
                tally.gc_killed += 1
            elif proc.returncode != 0:
                tally.failures.append(f"gc exited {proc.returncode}: {err.strip()[-500:]}")
            else:
                tally.gc_deleted += len(json.loads(out)["files"])


def job_loop(jobs: list[Job], store: Path, work: Path, stop: threading.Event, tally: Tally,
             live: dict[int, str], rng: random.Random, slot: int) -> None:  # fmt: skip
    count = 0
    order = [*jobs, CHURN]
    rng.shuffle(order)
    while not stop.is_set():
        job = order[count % len(order)]
        count += 1
        out = work / "outs" / f"{job.name}-{slot}-{count}"
        if job is CHURN:  # a manifest of its own: t1 with one report edited
            job = churn_job(work, f"{slot}-{count}", rng)
        proc = subprocess.Popen(job_argv(job, store, out), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
        with tally.lock:
            live[proc.pid] = job.name
            tally.started[job.name] = tally.started.get(job.name, 0) + 1
        stdout, stderr = proc.communicate()
        with tally.lock:
            live.pop(proc.pid, None)
            if proc.returncode == -signal.SIGKILL:
                tally.killed[job.name] = tally.killed.get(job.name, 0) + 1
            elif proc.returncode != 0:
                tally.failures.append(f"{job.name} exited {proc.returncode}: "
                                      f"{stderr.strip()[-800:]}")  # fmt: skip
            else:
                tally.finished[job.name] = tally.finished.get(job.name, 0) + 1
                if job.name == CHURN.name:  # an entry nobody wants: old, so gc removes it
                    entry = Path(stdout.splitlines()[0])
                    old = {"created": "2001-01-01T00:00:00Z", "last_used": "2001-01-01T00:00:00Z"}
                    (entry / "usage.json").write_text(json.dumps(old))
                elif job.kind == "embed":
                    entry = Path(stdout.splitlines()[0]).name
                    tally.recorded.setdefault(entry, set()).add("command:embed")
                else:
                    tally.recipes_run.add("soak")


def killer(stop: threading.Event, tally: Tally, live: dict[int, str], rng: random.Random,
           every: float, kills: list[str]) -> None:  # fmt: skip
    while not stop.wait(rng.uniform(0.1, 2 * every)):
        with tally.lock:
            if not live:
                continue
            pid = rng.choice(sorted(live))
            name = live[pid]
        try:
            os.killpg(pid, signal.SIGKILL)  # the job and anything it started
        except ProcessLookupError:
            continue
        kills.append(name)


def check_usage(store: Path, tally: Tally) -> list[str]:
    lost = []
    for entry, needs in sorted(tally.recorded.items()):
        usage = json.loads((store / entry / "usage.json").read_text())
        have = {f"command:{c}" for c in usage.get("commands", [])}
        have |= {f"recipe:{r}" for r in usage.get("recipes", [])}
        lost += [f"{entry}: {n}" for n in sorted(needs - have)]
    for recipe in sorted(tally.recipes_run):
        record = store / "recipes" / f"{recipe}.json"
        if not record.is_file():
            lost.append(f"recipes/{recipe}.json")
            continue
        for entry in json.loads(record.read_text())["entries"]:
            usage = json.loads((store / entry / "usage.json").read_text())
            if recipe not in usage.get("recipes", []) or "run" not in usage.get("commands", []):
                lost.append(f"{entry}: recipe:{recipe}")
    return lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--jobs", type=int, default=3, help="concurrent job processes")
    ap.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between kills")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep the files")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        soak(work, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def soak(work: Path, args: argparse.Namespace) -> None:
    jobs = make_inputs(work)
    t0 = time.perf_counter()
    reference = {j.name: run_once(j, work / "reference", work / "ref-out" / j.name) for j in jobs}
    print(f"reference: {len(jobs)} jobs undisturbed in {time.perf_counter() - t0:.0f} s")

    store = work / "store"
    store.mkdir()
    rng = random.Random(args.seed)
    tally, live, kills = Tally(), {}, []  # type: ignore[var-annotated]
    stop = threading.Event()
    threads = [threading.Thread(target=gc_loop, args=(store, stop, tally, live))]
    threads += [
        threading.Thread(target=job_loop, args=(jobs, store, work, stop, tally, live,
                                                random.Random(args.seed * 100 + k), k))
        for k in range(args.jobs)
    ]  # fmt: skip
    threads.append(threading.Thread(target=killer, args=(stop, tally, live, rng,
                                                         args.kill_every, kills)))  # fmt: skip
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(args.minutes * 60)
    stop.set()
    for t in threads:
        t.join()
    minutes = (time.perf_counter() - t0) / 60
    started = sum(tally.started.values())
    print(f"soak: {minutes:.1f} min, {started} job processes ({args.jobs} at a time) + "
          f"{tally.gc_runs} gc runs ({tally.gc_deleted} files deleted), {len(kills)} kill -9 "
          f"({sum(1 for k in kills if k == 'gc')} of gc)")  # fmt: skip
    for name in sorted(tally.started):
        print(f"  {name}: started {tally.started[name]}, finished "
              f"{tally.finished.get(name, 0)}, killed {tally.killed.get(name, 0)}")  # fmt: skip

    problems = [f"failed: {f}" for f in tally.failures]
    verify = subprocess.run(_semalign("store", "verify", "--store", store), capture_output=True,
                            text=True)  # fmt: skip
    if verify.returncode != 0:
        problems.append(f"verify after the soak: {verify.stdout.strip()[-1500:]}")
    last = (verify.stdout.strip() or verify.stderr.strip() or "no output").splitlines()[-1]
    print(f"verify after the soak: {last}")
    lost = check_usage(store, tally)
    problems += [f"usage record lost {x}" for x in lost]
    print(f"usage records: {len(tally.recorded)} entries and {len(tally.recipes_run)} recipe(s) "
          f"checked, {len(lost)} lost name(s)")  # fmt: skip
    differ = []
    for j in jobs:
        got = run_once(j, store, work / "final-out" / j.name)
        if got != reference[j.name]:
            differ.append(j.name)
    problems += [f"re-run differs from the undisturbed run: {d}" for d in differ]
    print(f"re-runs: {len(jobs) - len(differ)} of {len(jobs)} byte-identical to undisturbed runs")
    verify = subprocess.run(_semalign("store", "verify", "--store", store), capture_output=True,
                            text=True)  # fmt: skip
    if verify.returncode != 0:
        problems.append(f"verify after the re-runs: {verify.stdout.strip()[-1500:]}")
    problems += [f"usage record lost {x}" for x in check_usage(store, tally)]
    for p in problems:
        print(f"PROBLEM: {p}")
    print("soak: clean" if not problems else f"soak: {len(problems)} problem(s)")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
