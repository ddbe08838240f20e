"""Does the search beat random search? Its sampler (the quickstart's TPE, or NSGA-II, ...) and
Optuna's RandomSampler each run the same search (same space, latency budget, executor and
promotion) with several seeds; each run's front over its first N trained candidates is
re-scored with an independent training seed, so that a search that exploits training noise does
not win, and its hypervolume is computed against one fixed reference point
(`search.hv_ref.latency_ms`, mIoU 0). It also prints, per generation, how far
above what their latency predicts the candidates scored (`lift_by_generation`): whether the
sampler learns, apart from how lucky one front is; and the headroom (`headroom`): the front over
every candidate the runs trained, against the baseline's fronts, which bounds how far any
sampler could have beaten it with the architectures the runs found.

    python -m benchmarks.bench_search_quality [--config benchmarks/quality.yaml] [--seeds 3]
        [--first-seed 0]
        [--methods tpe random] [--set section.key=value ...] [--keep DIR]

A method is a sampler (`nsga2`, `nsga3`, `tpe`, `random`), optionally with its own settings:
`nsga2:search.mutation_prob=0` (several joined by `,`). The last method is the baseline every
other one is compared with; the JSON keys name the first one and the baseline. By default the
config's own sampler (`search.sampler`; the quickstart's is `tpe`) against `random`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np

from benchmarks.figures import print_figures
from nas.commands import search as driver
from nas.config import Config, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.job import Job, job_template
from nas.search.candidates import Candidate, front_pool, unique_trained
from nas.search.executors import RayExecutor
from nas.search.pareto import hypervolume, pareto_front
from nas.search.promotion import promotion_training

ROOT = Path(__file__).resolve().parent.parent
RESCORE_SEED_OFFSET = 1000  # far from every seed the search itself trains with


def label(method: str) -> str:
    """A method's name in the output: `nsga2:search.mutation_prob=0` -> `nsga2-mutation_prob0`."""
    sampler, _, settings = method.partition(":")
    keys = [item.split("=", 1) for item in settings.split(",") if item]
    return "-".join([sampler, *(k.rsplit(".", 1)[-1] + v for k, v in keys)])


def method_config(base: list[Path], sets: list[str], method: str) -> Config:
    """The config of one method: the files, the --set overrides, then the method's own."""
    sampler, _, settings = method.partition(":")
    own = [item for item in settings.split(",") if item]
    return load_config(base, parse_overrides([*sets, f"search.sampler={sampler}", *own]))


def run_search(config: Config, method: str, seed: int, tmp: Path) -> list[Candidate]:
    """One whole search in its own MLflow store and Optuna study; returns every candidate."""
    name = f"{label(method)}-{seed}"
    search = dataclasses.replace(
        config.search,
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
    trained = sorted(unique_trained(candidates), key=lambda c: c.trial_number)[:count]
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


def lift_by_generation(
    runs: dict[tuple[str, int], list[Candidate]], methods: list[str]
) -> dict[str, list[float]]:
    """How far above what its latency predicts each generation's trained candidates scored: the
    search's own partial score against a * log(latency) + b, fitted over every trained candidate
    of every run; {method: [mean over its runs' candidates, per generation]}. A sampler that
    learns which architectures train well climbs; random search stays flat."""
    trained = {key: unique_trained(cands) for key, cands in runs.items()}
    everyone = [c for cands in trained.values() for c in cands]
    slope, intercept = np.polyfit(
        [math.log(c.latency_ms) for c in everyone], [c.val_miou_f0 for c in everyone], 1
    )
    residuals: dict[str, dict[int, list[float]]] = {method: {} for method in methods}
    for (method, _), cands in trained.items():
        for c in cands:
            expected = slope * math.log(c.latency_ms) + intercept
            residuals[method].setdefault(c.generation, []).append(c.val_miou_f0 - expected)
    return {m: [statistics.mean(r[g]) for g in sorted(r)] for m, r in residuals.items()}


def times(value: float, base: float) -> float:
    """value / base; infinite for a baseline of 0 (a method whose fronts are all empty)."""
    return value / base if base else float("inf")


@dataclasses.dataclass
class Point:
    val_miou: float
    latency_ms: float


def partial_hypervolume(candidates: list[Candidate], ref: float) -> float:
    """The hypervolume of the candidates' front at the search's own partial scores (before
    re-scoring)."""
    return hypervolume([Point(c.val_miou_f0, c.latency_ms) for c in candidates], ref, 0.0)


def headroom(
    runs: dict[tuple[str, int], list[Candidate]],
    fronts: dict[tuple[str, int], list[Candidate]],
    ref: float,
) -> tuple[int, float, dict[str, float]]:
    """How much room this landscape leaves a sampler at this budget: the partial-score
    hypervolume of the front over every candidate any run trained (the best front the
    benchmark knows of: it holds every run's front, and is picked on one noisy score, so it
    bounds what the runs could have found from above), and each method's mean partial-score
    hypervolume; returns (architectures pooled, pooled hypervolume, {method: mean}). No
    sampler's front of `count` candidates beats the baseline by more than pooled / baseline
    without finding architectures that none of the runs trained."""
    pool = [c for cands in runs.values() for c in unique_trained(cands)]
    by_method: dict[str, list[float]] = {}
    for (method, _), front in fronts.items():
        by_method.setdefault(method, []).append(partial_hypervolume(front, ref))
    means = {m: statistics.mean(v) for m, v in by_method.items()}
    return len({c.archid for c in pool}), partial_hypervolume(pool, ref), means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "benchmarks" / "quality.yaml"))
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    parser.add_argument(
        "--methods", nargs="+", help="samplers to compare (default: the config's, then random)"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep every run's MLflow and Optuna stores in DIR, a new folder (default: deleted)",
    )
    args = parser.parse_args()
    files = [ROOT / "confs" / "quickstart.yaml", Path(args.config)]
    if args.methods is None:
        args.methods = [load_config(files, parse_overrides(args.set)).search.sampler, "random"]
    if len(args.methods) < 2:
        parser.error("--methods needs at least two methods: the last one is the baseline")
    if args.keep and Path(args.keep).exists():
        parser.error(f"--keep {args.keep}: that path exists; give a folder that does not")
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    configs = {label(m): method_config(files, args.set, m) for m in args.methods}
    methods = list(configs)
    config = configs[methods[-1]]  # the re-scoring recipe: the same in every method
    runs: dict[tuple[str, int], list[Candidate]] = {}
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(args.keep)
            tmp.mkdir(parents=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for seed in seeds:
            for method in methods:
                runs[method, seed] = run_search(configs[method], method, seed, tmp)
    count = min(len(unique_trained(cands)) for cands in runs.values())
    fronts = {key: first_front(cands, count) for key, cands in runs.items()}
    rescored = rescore(config, fronts)
    ref = config.search.hv_ref["latency_ms"]
    width = max(10, *(len(m) for m in methods))
    hv = {
        key: hypervolume([Point(m, lat) for lat, m in points], ref, 0.0)
        for key, points in rescored.items()
    }
    lifts = lift_by_generation(runs, methods)
    print("mean partial mIoU above what the latency predicts, by generation:")
    print(f"{'gen':>4} " + " ".join(f"{m:>{width}}" for m in methods))
    for generation in range(max(len(v) for v in lifts.values())):
        print(
            f"{generation:>4} "
            + " ".join(
                f"{v[generation]:>+{width}.4f}" if generation < len(v) else " " * width
                for v in lifts.values()
            )
        )
    late = {m: statistics.mean(v[len(v) // 2 :]) for m, v in lifts.items()}
    print(
        f"{count} trained candidates per run; front re-scored with an independent seed; "
        f"hypervolume against ({ref:g} ms, mIoU 0)"
    )
    print(f"{'seed':>4} " + " ".join(f"{m:>{width}}" for m in methods))
    for seed in seeds:
        print(f"{seed:>4} " + " ".join(f"{hv[m, seed]:>{width}.4f}" for m in methods))
    mean = {m: statistics.mean(hv[m, s] for s in seeds) for m in methods}
    std = {m: statistics.pstdev(hv[m, s] for s in seeds) for m in methods}
    base = methods[-1]
    for method in methods[:-1]:
        gap = min(hv[method, s] - hv[base, s] for s in seeds)
        print(
            f"{method} / {base} mean hypervolume: {times(mean[method], mean[base]):.3f} (target >= "
            f"1.1); worst seed pair {gap:+.4f} against a spread of "
            f"{max(std[method], std[base]):.4f}"
        )
    pooled_count, pooled, partial = headroom(runs, fronts, ref)
    room = times(pooled, partial[base])
    print(
        f"headroom: the front over all {pooled_count} architectures the runs trained has a "
        f"partial-score hypervolume of {pooled:.4f}, {room:.3f}x the mean of "
        f"{base}'s fronts ({partial[base]:.4f}); "
        + ", ".join(
            f"{m}'s {partial[m]:.4f} ({times(partial[m], partial[base]):.3f}x)"
            for m in methods[:-1]
        )
    )
    ours = methods[0]
    worst_gap = min(hv[ours, s] - hv[base, s] for s in seeds)
    ratio = times(mean[ours], mean[base])
    others = {f"{m}_hv_mean": mean[m] for m in methods[1:-1]}
    figures = {
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "trained_per_run": count,
        f"{ours}_hv_mean": mean[ours],
        f"{ours}_hv_std": std[ours],
        f"{base}_hv_mean": mean[base],
        f"{base}_hv_std": std[base],
        "ratio": ratio,
        "worst_pair_gap": worst_gap,
        f"{ours}_late_lift": late[ours],
        f"{base}_late_lift": late[base],
        f"{ours}_partial_hv_mean": partial[ours],
        f"{base}_partial_hv_mean": partial[base],
        "pooled_hv": pooled,
        "headroom": room,
        **others,
        "seconds": time.perf_counter() - started,
    }
    print_figures(figures)


if __name__ == "__main__":
    main()
