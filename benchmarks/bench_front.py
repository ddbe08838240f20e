"""The search's last step on the embedded default: the quickstart search (in a fresh store, as
`make search` runs it), then its front trained to the end by `train -P arch=models:/NAME`: with a
short final recipe on Ray's 2 workers, the same serially (the speed-up of parallel training,
target >= 1.8x on 2 cores), and with a longer recipe on Ray. For each: whether the partial ranking
held (Spearman and Kendall of partial against final mIoU), the members kept on the final front,
and the wall time.

    python -m benchmarks.bench_front [--short-epochs 16] [--long-epochs 32 (0: none)] [--store DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import mlflow

from benchmarks.figures import print_figures
from nas.commands import front
from nas.commands import search as driver
from nas.commands.select import Budgets
from nas.config import load_config
from nas.paths import PROJECT_ROOT

NAME = "face-seg-hourglass"


def quickstart_search(store: Path) -> None:
    """The quickstart search into `store` (the time `make search` takes is bench_search's)."""
    config = load_config([PROJECT_ROOT / "confs" / "quickstart.yaml"])
    driver.run(config, store / "search")


def train_front(store: Path, label: str, epochs: int, executor: str) -> dict[str, float]:
    """The front trained with `epochs` of the final recipe on `executor`; its figures."""
    overrides = {
        "final_training.epochs": str(epochs),
        "search.executor": executor,
        "tracking.trained_model": f"{NAME}-{label}",  # each run's own versions and aliases
    }
    started = time.perf_counter()
    summary = front.run(NAME, [], overrides, store / label, Budgets())
    wall = time.perf_counter() - started
    run = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.`nas.kind` = 'train-front'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    ).iloc[0]
    print(f"{label}: {epochs} epochs on {executor}, {wall:.0f} s\n{summary['text']}")
    return {
        f"{label}_spearman": summary["partial_final_spearman"],
        f"{label}_kendall": summary["partial_final_kendall"],
        f"{label}_front_kept": summary["front_kept"],
        f"{label}_seconds": wall,
        f"{label}_training_seconds": float(run["metrics.training_wall_seconds"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-epochs", type=int, default=16)
    parser.add_argument("--long-epochs", type=int, default=32, help="0: no long recipe")
    parser.add_argument("--store", default="", help="reuse this folder's search (else a new one)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store or tmp)
        uri = f"sqlite:///{store / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)
        if not (store / "mlflow.db").exists():
            quickstart_search(store)
        figures = {
            "front_size": len(front.front_members(mlflow.MlflowClient(), NAME, Budgets())[1])
        }
        figures.update(train_front(store, "short", args.short_epochs, "ray"))
        figures.update(train_front(store, "serial", args.short_epochs, "serial"))
        if args.long_epochs:
            figures.update(train_front(store, "long", args.long_epochs, "ray"))
    figures["parallel_speedup"] = (
        figures["serial_training_seconds"] / figures["short_training_seconds"]
    )
    # what 2 workers can give n equal trainings at most: n / ceil(n / 2) (1.5x for 3)
    figures["parallel_bound"] = figures["front_size"] / math.ceil(figures["front_size"] / 2)
    figures["short_epochs"], figures["long_epochs"] = args.short_epochs, args.long_epochs
    figures["seconds"] = time.perf_counter() - started
    print(
        f"parallel / serial training of the same front: {figures['parallel_speedup']:.2f}x "
        f"(at most {figures['parallel_bound']:.2f}x for {figures['front_size']} equal trainings)"
    )
    print_figures(figures)


if __name__ == "__main__":
    main()
