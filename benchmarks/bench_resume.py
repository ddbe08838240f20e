"""Kill anywhere, resume: the tiny search (serial trainings, 6 generations of 4, objectives mIoU
and parameters, which unlike a measured latency are the same in every run) is SIGKILLed at
--kills seeded random moments, each time run again with the same command, until it finishes;
then its stores are checked against one uninterrupted run with the same seed.

Invariants (each broken one is counted):
  no_run_left_running      0 MLflow runs RUNNING
  one_run_per_trial        every COMPLETE trial has exactly one FINISHED candidate run, with its
                           val_miou and its model
  no_double_training       no architecture's training completed twice (a result lost between
                           the training and the tell)
  no_duplicate_versions    no architecture registered twice by the study
  same_archids             the same architectures evaluated as the uninterrupted run
  same_trials              every trial with the genes and state of the uninterrupted run's
  same_front               the same registered front as the uninterrupted run

The moment of each kill is classified by the driver's last log line (data, measuring, training,
promotion, registration) to show what the kills covered.

    python -m benchmarks.bench_resume [--kills 26] [--seed 0]

Half the kill points are moments of the search, whichever process gets there: its start,
distinct "n trials told" drawn at random, taken in order, each followed by up to 0.5 s, so they
land during data preparation and resume, while a candidate is measured, trained, logged or told,
and between generations (a run of the command is killed when it reaches the next one; a point
passed before it: at its first progress). The other half, taken in turn with them, are exact
places in the code (tools/kill_driver.py), each the n-th time a run gets there, n drawn at
random: in the middle of an ask, a candidate's run created, an outcome received and not logged,
a candidate recorded and not told, told, after a generation; then after the last generation
and during registration. A search that finishes before its remaining points ends the benchmark
with the kills it had.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import mlflow
import optuna

from benchmarks.figures import print_figures
from tools.tiny_search import tiny_search

ROOT = Path(__file__).resolve().parent.parent
STUDY = "resume-bench"
MODEL = "face-seg-hourglass"
TRAINED = re.compile(r"trial \d+ ([0-9a-f]{8}) trained:")


EXACT = ("mid-ask", "measured", "outcome", "recorded", "after-tell", "generation")
SELF_KILLED = (*EXACT, "registered")  # the places tools/kill_driver.py kills at


def command(folder: Path, cache: Path, point: tuple[str, int] | None = None) -> list[str]:
    """The search command; with `point` (name, n), killed the n-th time it gets there."""
    return tiny_search(
        folder / "out",
        cache,
        "--search.generations",
        "6",
        "--search.study_name",
        STUDY,
        "--search.objectives",
        "[val_miou, num_params]",
        kill=point,
    )


def env(folder: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NAS_"))}
    return {
        **base,
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "PYTHONPATH": str(ROOT),
        "RAY_AUTH_MODE": "disabled",
    }


PROGRESS = re.compile(
    r"generation \d+ trial \d+ |trained:|promoted:|generation \d+ done|Created version|"
    r"over budget|duplicate of"
)


def progress(log: str) -> list[str]:
    """The driver's progress lines: measured, trained, promoted, generation done, registered."""
    return [line for line in log.splitlines() if PROGRESS.search(line)]


def phase(log: str) -> str:
    """What the driver was doing when it was killed, from its last progress line."""
    lines = progress(log)
    last = lines[-1] if lines else ""
    if not last:
        return "startup, data, resume"
    if "Created version" in last:
        return "registration"
    if "done" in last:
        return "between generations (front, files, ask)"
    if "promoted:" in last:
        return "promotion"
    if "trained:" in last:
        return "training, logging, tell"
    return "measuring latency, creating runs"


def reached(folder: Path) -> dict[str, int]:
    """How far the search in `folder` is, whatever process got it there: trials told COMPLETE
    and model versions registered."""
    counts = {"start": 0, "told": 0, "versions": 0}
    queries = {
        "told": (folder / "optuna.db", "select count(*) from trials where state = 'COMPLETE'"),
        "versions": (folder / "mlflow.db", "select count(*) from model_versions"),
    }
    for key, (db, query) in queries.items():
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as conn:
                    counts[key] = conn.execute(query).fetchone()[0]
            except sqlite3.Error:
                pass
    return counts


def run_once(
    folder: Path, cache: Path, kill_at: tuple[str, int] | None, delay: float
) -> tuple[int | None, str]:
    """One run of the command, SIGKILLed `delay` seconds after the search reaches `kill_at`
    (("told", 5): 5 trials told; ("start", 0): at once; a point reached before this run: its
    first progress; (name, n) with a name in SELF_KILLED: by itself, the n-th time it
    gets there) unless it ends first. Returns its exit code (None when killed) and its log."""
    log_path = folder / "driver.log"
    exact = kill_at if kill_at is not None and kill_at[0] in SELF_KILLED else None
    if exact is not None:
        kill_at = None
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command(folder, cache, exact), cwd=folder, env=env(folder), stdout=log, stderr=log
        )
        begun = reached(folder)
        while kill_at is not None and proc.poll() is None:
            now = reached(folder)
            moved = now["told"] > begun["told"] or now["versions"] > begun["versions"]
            # a point this search had passed before this run counts from its first progress
            if kill_at[0] == "start" or (
                now[kill_at[0]] >= kill_at[1] and (moved or kill_at[1] > begun[kill_at[0]])
            ):
                time.sleep(delay)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return None, log_path.read_text()
            time.sleep(0.05)
        proc.wait()
    if proc.returncode == -signal.SIGKILL:  # killed itself at an exact point
        return None, log_path.read_text()
    return proc.returncode, log_path.read_text()


def state(folder: Path) -> dict:
    """What the stores hold after the search: trials, runs, registered versions."""
    storage = f"sqlite:///{folder / 'optuna.db'}"
    study = optuna.load_study(study_name=STUDY, storage=storage)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(search_all_experiments=True)
    versions = client.search_model_versions(f"name = '{MODEL}'")
    mine = [v for v in versions if v.tags.get("nas.study") == STUDY]
    complete = [
        t
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.user_attrs.get("nas", {}).get("state") == "complete"
    ]
    return {
        "complete": complete,
        "runs": runs,
        "archids": {t.user_attrs["nas"]["archid"] for t in complete},
        "trials": [(t.params, t.state) for t in study.trials],
        "front": sorted(v.tags.get("nas.archid", "") for v in mine),
        "versions": Counter(v.tags.get("nas.archid", "") for v in mine),
    }


def check(result: dict, reference: dict, logs: list[str]) -> dict[str, bool]:
    runs = result["runs"]
    candidates = runs[runs["tags.nas.kind"] == "candidate"]
    one_run = True
    for trial in result["complete"]:
        mine = candidates[
            (candidates["tags.nas.trial"] == str(trial.number))
            & (candidates["status"] == "FINISHED")
        ]
        if len(mine) != 1 or mine["metrics.val_miou"].isna().any():
            one_run = False
    models = [m for run_id in candidates["run_id"] for m in _models(run_id)]
    trained = Counter(m for log in logs for m in TRAINED.findall(log))
    return {
        "no_run_left_running": "RUNNING" not in set(runs["status"]),
        "one_run_per_trial": one_run and len(models) >= len(result["complete"]),
        "no_double_training": all(n == 1 for n in trained.values()),
        "no_duplicate_versions": all(n == 1 for n in result["versions"].values()),
        "same_archids": result["archids"] == reference["archids"],
        "same_trials": result["trials"] == reference["trials"],
        "same_front": result["front"] == reference["front"],
    }


def _models(run_id: str) -> list[str]:
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    return [o.model_id for o in (run.outputs.model_outputs if run.outputs else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=26)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        ref_folder, folder = Path(tmp) / "reference", Path(tmp) / "killed"
        ref_folder.mkdir()
        folder.mkdir()
        t0 = time.perf_counter()
        code, log = run_once(ref_folder, cache, None, 0.0)
        if code != 0:
            raise SystemExit(f"the uninterrupted search failed:\n{log[-3000:]}")
        full = time.perf_counter() - t0
        reference = state(ref_folder)
        events = len(progress(log))
        print(
            f"uninterrupted: {full:.0f} s, {len(reference['archids'])} trained architectures, "
            f"{events} progress lines"
        )
        final = reached(ref_folder)
        told = [("told", n) for n in range(1, final["told"] - 3)]  # room for the exact ones
        # the kill points, taken in order: the start (data, resume); moments "n trials told"
        # drawn at random (each followed by up to 0.5 s, so they land while the next candidate
        # is measured, trained, logged or told, or between generations) in turn with exact
        # places; after the last generation; during registration
        timed = sorted(rng.sample(told, min(len(told), max(args.kills - 3, 0) // 2)))
        exact = [(EXACT[i % len(EXACT)], rng.randint(1, 2)) for i in range(len(timed))]
        exact = [("mid-ask", rng.randint(1, 100)) if p == "mid-ask" else (p, n) for p, n in exact]
        turns = [point for pair in zip(timed, exact, strict=True) for point in pair]
        last = ("generation", 6)  # the 6th generation_finished of any run: after the last
        targets = [("start", 0), *turns, last, ("registered", rng.randint(1, 2))][: args.kills]
        phases: Counter[str] = Counter()
        logs: list[str] = []
        kills = runs = 0
        while True:
            if targets:
                code, log = run_once(folder, cache, targets[0], rng.uniform(0, 0.5))
            else:
                code, log = run_once(folder, cache, None, 0.0)
            logs.append(log)
            runs += 1
            if code is None:
                kills += 1
                point = targets.pop(0)
                phases[f"at {point[0]}" if point[0] in SELF_KILLED else phase(log)] += 1
                continue
            if code != 0:
                raise SystemExit(f"a resumed search failed (exit {code}):\n{log[-3000:]}")
            break
        result = state(folder)
        invariants = check(result, reference, logs)
    broken = [name for name, held in invariants.items() if not held]
    print(f"{kills} kills over {runs} runs of the command; kill moments: {dict(phases)}")
    for name, held in invariants.items():
        print(f"  {name:<24} {'held' if held else 'BROKEN'}")
    print_figures(
        {
            "kills": kills,
            "broken": len(broken),
            "broken_invariants": broken,
            "phases": dict(phases),
            "seconds": time.perf_counter() - started,
        }
    )


if __name__ == "__main__":
    main()
