"""Does the search beat random search? NSGA-II and Optuna's RandomSampler each run the same search
(same space, latency budget, executor and promotion) with several seeds; each run's front over
its first N trained candidates is re-scored with an independent training seed, so that a search
that exploits training noise does not win, and its hypervolume is computed against one fixed
reference point (`search.hv_ref_latency_ms`, mIoU 0).

    python -m benchmarks.bench_search_quality [--config benchmarks/quality.yaml] [--seeds 3]
        [--methods nsga2 random] [--set section.key=value ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import mlflow

from benchmarks.figures import print_figures
from nas.commands import search as driver
from nas.config import Config, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.job import Job, job_template
from nas.search.candidates import Candidate, front_pool
from nas.search.executors import RayExecutor
from nas.search.pareto import hypervolume, pareto_front
from nas.search.promotion import promotion_training

ROOT = Path(__file__).resolve().parent.parent
RESCORE_SEED_OFFSET = 1000  # far from every seed the search itself trains with


def run_search(config: Config, method: str, seed: int, tmp: Path) -> list[Candidate]:
    """One whole search in its own MLflow store and Optuna study; returns every candidate."""
    name = f"{method}-{seed}"
    search = dataclasses.replace(
        config.search,
        sampler=method,
        seed=seed,
        study_name=name,
        storage=f"sqlite:///{tmp / name}.optuna.db",
    )
    uri = f"sqlite:///{tmp / name}.mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    summary = driver.run(dataclasses.replace(config, search=search), tmp / name)
    return summary["candidates"]


def first_front(candidates: list[Candidate], count: int) -> list[Candidate]:
    """The front over the first `count` trained candidates (by trial number)."""
    trained = sorted(
        (c for c in candidates if c.state == "complete"), key=lambda c: c.trial_number
    )[:count]
    return pareto_front(front_pool(trained))


def rescore(config: Config, fronts: dict[tuple[str, int], list[Candidate]]) -> dict:
    """Every front member trained again at its own fidelity's recipe with an independent seed;
    returns {(method, seed): [(latency_ms, new val_miou), ...]}."""
    template = job_template(config, load_data(config.data, config.model.image_size))
    partial = template["training"]
    recipes = {0: partial, 1: promotion_training(partial, config.promotion)}
    jobs, keys = [], []
    for key, front in fronts.items():
        for c in front:
            training = dataclasses.replace(
                recipes[c.fidelity], seed=recipes[c.fidelity].seed + RESCORE_SEED_OFFSET
            )
            keys.append((key, c.latency_ms))
            jobs.append(
                Job(
                    trial_number=len(jobs),
                    archid=c.archid,
                    arch_json=c.arch_json,
                    **{**template, "training": training},
                )
            )
    scores: dict = {key: [] for key in fronts}
    executor = RayExecutor(config.search)
    try:
        for outcome in executor.run(jobs):
            key, latency = keys[outcome.trial_number]
            if outcome.ok:
                scores[key].append((latency, outcome.metrics["val_miou"]))
    finally:
        executor.close()
    return scores


@dataclasses.dataclass
class Point:
    val_miou: float
    latency_ms: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "benchmarks" / "quality.yaml"))
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs=2, default=["nsga2", "random"])
    args = parser.parse_args()
    started = time.perf_counter()
    config = load_config(
        [ROOT / "confs" / "quickstart.yaml", args.config], parse_overrides(args.set)
    )
    runs: dict[tuple[str, int], list[Candidate]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for method in args.methods:
                runs[method, seed] = run_search(config, method, seed, Path(tmp))
    count = min(sum(c.state == "complete" for c in cands) for cands in runs.values())
    fronts = {key: first_front(cands, count) for key, cands in runs.items()}
    rescored = rescore(config, fronts)
    ref = config.search.hv_ref_latency_ms
    hv = {
        key: hypervolume([Point(m, lat) for lat, m in points], ref, 0.0)
        for key, points in rescored.items()
    }
    print(
        f"{count} trained candidates per run; front re-scored with an independent seed; "
        f"hypervolume against ({ref:g} ms, mIoU 0)"
    )
    print(f"{'seed':>4} " + " ".join(f"{m:>10}" for m in args.methods))
    for seed in range(args.seeds):
        print(f"{seed:>4} " + " ".join(f"{hv[m, seed]:>10.4f}" for m in args.methods))
    ours, base = args.methods
    mean = {m: statistics.mean(hv[m, s] for s in range(args.seeds)) for m in args.methods}
    std = {m: statistics.pstdev(hv[m, s] for s in range(args.seeds)) for m in args.methods}
    spread = max(std.values())
    worst_gap = min(hv[ours, s] - hv[base, s] for s in range(args.seeds))
    ratio = mean[ours] / mean[base] if mean[base] else float("inf")
    print(
        f"{ours} / {base} mean hypervolume: {ratio:.3f} (target >= 1.1); worst seed pair "
        f"{worst_gap:+.4f} against a spread of {spread:.4f}"
    )
    figures = {
        "seeds": args.seeds,
        "trained_per_run": count,
        f"{ours}_hv_mean": mean[ours],
        f"{ours}_hv_std": std[ours],
        f"{base}_hv_mean": mean[base],
        f"{base}_hv_std": std[base],
        "ratio": ratio,
        "worst_pair_gap": worst_gap,
        "seconds": time.perf_counter() - started,
    }
    print_figures(figures)


if __name__ == "__main__":
    main()
