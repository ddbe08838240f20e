"""The driver's cost per candidate as a study grows: a search of --candidates candidates whose
evaluation is a stub that returns at once (no training: a score from the archid, a fixed tiny
ONNX model) and whose cheap measures are fake (no export, no timing), so that what is timed is
the driver alone: Optuna ask/tell, MLflow runs and models, reports, fronts. Prints the seconds
per candidate over the first and the last 200 candidates and their ratio, per store.

    python -m benchmarks.bench_driver_scale [--candidates 2000] [--population 40]
        [--stores sqlite server]     # server: the MLflow/PostgreSQL of `make cluster-up`
"""

from __future__ import annotations

import argparse
import os
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


def run_store(store: str, candidates: int, population: int, extra: dict) -> dict:
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
    return {
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
    args = parser.parse_args()
    results = [
        run_store(store, args.candidates, args.population, parse_overrides(args.set))
        for store in args.stores
    ]
    for figures in results:  # one JSON line per store, at the end
        print_figures(figures)


if __name__ == "__main__":
    main()
