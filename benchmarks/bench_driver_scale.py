"""The driver's cost per candidate as a study grows: a search of --candidates candidates whose
evaluation is a stub that returns at once (no training: a score from the archid, a fixed tiny
ONNX model) and whose cheap measures are fake (no export, no timing), so that what is timed is
the driver alone: Optuna ask/tell, MLflow runs and models, reports, fronts. Prints the seconds
per candidate over the first and the last 200 candidates and their ratio, per store.

    python -m benchmarks.bench_driver_scale [--candidates 2000] [--population 40]
        [--stores sqlite server]     # server: the MLflow/PostgreSQL of `make cluster-up`
        [--profile]                  # where the driver's time goes, by step
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import mlflow

from benchmarks.figures import print_figures
from nas.arch.archjson import parse_arch
from nas.commands import search as search_command
from nas.config import SearchConfig, load_config, parse_overrides
from nas.evaluation.job import Job, Outcome
from nas.evaluation.latency import Latency, export_onnx
from nas.evaluation.measure import CheapMeasures, seeded_network
from nas.search import loop
from nas.search.executors import register_executor

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 200
_ONNX: dict[str, bytes] = {}


def _score(archid: str, low: float, high: float) -> float:
    return low + (high - low) * int(archid[:6], 16) / 0xFFFFFF


def fake_measures(genome, num_classes: int, image_size: int, cfg) -> CheapMeasures:
    """Cheap measures without a build: the same numbers for the same genome."""
    from nas.arch.archjson import archid

    key = archid(genome)
    latency = _score(key[6:], 0.5, 12.0)
    return CheapMeasures(
        int(_score(key[12:], 1e3, 1e6)),
        int(_score(key[18:], 1e6, 1e9)),
        Latency(latency, latency * 1.1, 0.01, 1, 1, 0.0, cfg.opset, "stub", "stub"),
    )


@register_executor("instant")
class InstantExecutor:
    """Scores a job from its archid at once; every model is the same small ONNX file."""

    description = "instant stub (no training)"

    def __init__(self, search: SearchConfig) -> None:
        pass

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        for job in jobs:
            if "model" not in _ONNX:
                genome = parse_arch(__import__("json").loads(job.arch_json), "stub")
                network = seeded_network(genome, job.num_classes, job.image_size)
                _ONNX["model"] = export_onnx(network, job.image_size, job.opset, job.exporter)
            miou = _score(job.archid, 0.05, 0.3)
            yield Outcome(
                job.trial_number,
                job.archid,
                True,
                metrics={"val_miou": miou, "train_seconds": 0.0},
                per_class_iou=[miou] * job.num_classes,
                onnx_model=_ONNX["model"],
            )

    def close(self) -> None:
        pass


class Clock:
    """Wraps the listener's candidate_finished: the time each candidate was done."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def wrap(self, listener):
        finished = listener.candidate_finished

        def timed(*args, **kwargs):
            result = finished(*args, **kwargs)
            self.times.append(time.perf_counter())
            return result

        listener.candidate_finished = timed
        return listener


# The driver's steps per candidate: (file suffix, function) -> step
STEPS = {
    ("optuna/study/study.py", "ask"): "optuna ask",
    ("optuna/study/study.py", "tell"): "optuna tell",
    ("nas/search/candidates.py", "save_candidate"): "record in the trial",
    ("nas/tracking/search_run.py", "candidate_started"): "run created, params, measures",
    ("nas/tracking/search_run.py", "candidate_finished"): "result and ONNX model logged",
    ("nas/tracking/search_run.py", "candidate_closed"): "run closed",
    ("nas/search/pending.py", "keep"): "outcome kept on disk",
    ("nas/search/pending.py", "drop"): "outcome kept on disk",
    ("nas/tracking/search_run.py", "generation_finished"): "generation files and plots",
    ("nas/tracking/search_run.py", "register"): "registration",
}


@contextlib.contextmanager
def _profiled(on: bool):
    """With `on`, profile the block and fill the yielded dict with each driver step's share of
    the block's time (cumulative time of the functions in STEPS)."""
    shares: dict[str, float] = {}
    if not on:
        yield shares
        return
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    try:
        yield shares
    finally:
        profiler.disable()
        whole = time.perf_counter() - started
        totals: dict[str, float] = {}
        for (filename, _, function), row in pstats.Stats(profiler).stats.items():
            for (suffix, name), step in STEPS.items():
                if function == name and filename.endswith(suffix):
                    totals[step] = totals.get(step, 0.0) + row[3]
        totals["the rest"] = whole - sum(totals.values())
        shares.update(
            {k: round(v / whole, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
        )


def run_store(
    store: str, candidates: int, population: int, extra: dict, profile: bool = False
) -> dict:
    """One search of `candidates` stub candidates against a store; returns its figures."""
    generations = -(-candidates // population)
    name = f"scale-{store}-{int(time.time())}"
    overrides = {
        "search.executor": "instant",
        "search.population_size": population,
        "search.generations": generations,
        "search.study_name": name,
        "promotion.enabled": "false",
        **extra,
    }
    clock = Clock()
    original = loop.SearchState.__post_init__

    def post_init(state) -> None:
        original(state)
        clock.wrap(state.listener)

    loop.SearchState.__post_init__ = post_init
    loop.measure_cheap = fake_measures
    with tempfile.TemporaryDirectory() as tmp:
        if store == "sqlite":
            uri = f"sqlite:///{tmp}/mlflow.db"
            os.environ["MLFLOW_TRACKING_URI"] = uri
            overrides["search.storage"] = f"sqlite:///{tmp}/optuna.db"
            mlflow.set_tracking_uri(uri)
        elif not os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
            raise SystemExit('--stores server needs the stack: eval "$(make -s cluster-up)"')
        else:
            mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        overrides["data.cache_dir"] = str(ROOT / ".cache")
        config = load_config([ROOT / "confs" / "quickstart.yaml"], overrides)
        started = time.perf_counter()
        with _profiled(profile) as shares:
            search_command.run(config, Path(tmp) / "out")
        seconds = time.perf_counter() - started
    times = clock.times[:candidates]
    window = min(WINDOW, len(times) // 3)
    first = (times[window] - times[0]) / window
    last = (times[-1] - times[-1 - window]) / window
    print(
        f"{store}: {len(times)} candidates in {seconds:.0f} s; driver {1000 * first:.1f} ms "
        f"per candidate over the first {window}, {1000 * last:.1f} ms over the last "
        f"{window}: ratio {last / first:.2f} (target <= 1.5)",
        flush=True,
    )
    if shares:
        top = ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
        print(f"{store}: the driver's time by step: {top}", flush=True)
    return {
        **({"time_by_step": shares} if shares else {}),
        "candidates": len(times),
        "first_ms": 1000 * first,
        "last_ms": 1000 * last,
        "ratio": last / first,
        "seconds": seconds,
        "store": "sqlite" if store == "sqlite" else "server",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--population", type=int, default=40)
    parser.add_argument("--stores", nargs="+", default=["sqlite"], choices=["sqlite", "server"])
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--profile", action="store_true", help="the driver's time by step")
    args = parser.parse_args()
    results = [
        run_store(store, args.candidates, args.population, parse_overrides(args.set), args.profile)
        for store in args.stores
    ]
    for figures in results:  # one JSON line per store, at the end
        print_figures(figures)


if __name__ == "__main__":
    main()
