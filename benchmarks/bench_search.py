"""What `make search` gives and how efficiently, on the quickstart configuration: (1) one whole
search as `make search` runs it (Ray, a fresh store): its wall time, the share of it that is
neither training nor latency measurement (target < 10%), its registered front (size, the best
validation mIoU and the lowest latency) and the majority-class baseline; (2) the throughput of
2 parallel CPU trainings on Ray against serial training (target >= 1.8x).

    python -m benchmarks.bench_search [--jobs 6] [--skip-search] [--set search.generations=3]
        [--plot docs/images/pareto_evolution.png]   # keep the search's Pareto plot there
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import mlflow

from benchmarks.figures import print_figures
from nas.arch.archjson import arch_json, archid
from nas.arch.space import random_genome
from nas.commands import search as driver
from nas.config import Config, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.job import Job, job_template
from nas.search.executors import RayExecutor, SerialExecutor
from nas.tracking.plots import PLOT_NAME

ROOT = Path(__file__).resolve().parent.parent


def whole_search(config: Config, plot: str) -> dict:
    """Run the whole search in a fresh MLflow store and Optuna study; its summary (the Pareto
    plot copied to `plot` if given)."""
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)
        summary = driver.run(config, Path(tmp) / "out")
        if plot:
            Path(plot).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "out" / f"{PLOT_NAME}.png", plot)
        return summary


def search_figures(summary: dict) -> dict[str, float]:
    """What the search registered and what it cost."""
    front = [c for c in summary["candidates"] if c.archid in summary["versions"]]
    return {
        "search_seconds": summary["search_seconds"],
        "overhead_share": summary["overhead_share"],
        "trained": sum(c.state == "complete" for c in summary["candidates"]),
        "front_size": len(front),
        "best_miou": max(c.val_miou for c in front),
        "lowest_latency_ms": min(c.latency_ms for c in front),
        "baseline_miou": summary["baseline_miou"],
    }


def timed(executor, jobs: list[Job]) -> float:
    started = time.perf_counter()
    outcomes = list(executor.run(jobs))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    return time.perf_counter() - started


def throughput(config: Config, count: int) -> tuple[float, float]:
    """Seconds for `count` quickstart trainings: serially, then 2 at once on Ray (1 thread each)."""
    template = job_template(config, load_data(config.data, config.model.image_size))
    genomes = [random_genome(config.space, random.Random(seed)) for seed in range(count)]
    jobs = [
        Job(trial_number=i, archid=archid(g), arch_json=arch_json(g), **template)
        for i, g in enumerate(genomes)
    ]
    serial = timed(SerialExecutor(), jobs)
    executor = RayExecutor(config.search)
    try:
        timed(executor, jobs[:2])  # start both workers and import torch in them
        parallel = timed(executor, jobs)
    finally:
        executor.close()
    return serial, parallel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "confs" / "quickstart.yaml"))
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--jobs", type=int, default=6, help="trainings for the throughput test")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--plot", default="", help="copy the search's Pareto plot (PNG) here")
    args = parser.parse_args()
    overrides = {"search.study_name": f"bench-{int(time.time())}", **parse_overrides(args.set)}
    config = load_config([args.config], overrides)
    figures: dict[str, float] = {}
    if not args.skip_search:
        t = whole_search(config, args.plot)
        figures = search_figures(t)
        print(
            f"search: {t['search_seconds']:.1f} s wall, {t['training_wall_seconds']:.1f} s "
            f"training, {t['latency_seconds']:.1f} s latency measurement"
        )
        print(
            f"share of wall time that is neither: {100 * t['overhead_share']:.1f}% (target < 10%)"
        )
        print(
            f"registered front: {figures['front_size']} models, best mIoU "
            f"{figures['best_miou']:.4f}, fastest {figures['lowest_latency_ms']:.3f} ms "
            f"(majority-class baseline mIoU {figures['baseline_miou']:.4f})"
        )
    serial, parallel = throughput(config, args.jobs)
    print(f"{args.jobs} trainings: serial {serial:.1f} s, 2 parallel on Ray {parallel:.1f} s")
    print(f"parallel / serial throughput: {serial / parallel:.2f}x (target >= 1.8x)")
    figures["parallel_speedup"] = serial / parallel
    print_figures(figures)


if __name__ == "__main__":
    main()
