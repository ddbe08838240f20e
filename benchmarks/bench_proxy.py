"""Is the search's score signal? Architectures spread over the configured space's latency range
are scored by the search's own partial training under two training seeds and once by a training
`--long-factor` times longer; prints how well the cheap score repeats and predicts the long one.

    python -m benchmarks.bench_proxy [--config confs/quickstart.yaml] [--archs 12]
        [--long-factor 8] [--seeds 0 1] [--serial] [--set section.key=value ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from benchmarks.figures import print_figures
from nas.arch.archjson import arch_json, archid
from nas.arch.model import StackedHourglass
from nas.arch.profile import count_macs
from nas.arch.space import Genome, random_genome
from nas.config import Config, TrainingConfig, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.job import Job, job_template
from nas.evaluation.measure import measure_genome_latency
from nas.search.executors import RayExecutor, SerialExecutor

ROOT = Path(__file__).resolve().parent.parent


def _macs(genome: Genome, config: Config) -> int | None:
    try:
        return count_macs(
            StackedHourglass(genome, config.model.num_classes), config.model.image_size
        )
    except Exception:  # noqa: BLE001 - a genome the space allows but that cannot be built
        return None


def sample_archs(config: Config, count: int, seed: int) -> list[tuple[Genome, float]]:
    """`count` distinct, buildable architectures within the latency budget, spread over the
    space's range: evenly spaced ranks by MACs (deterministic, unlike a latency measurement)
    among those whose measured latency fits. Returns (genome, latency_ms) sorted by latency."""
    rng = random.Random(seed)
    pool: dict[str, tuple[Genome, int]] = {}
    for _ in range(count * 20):
        genome = random_genome(config.space, rng)
        macs = _macs(genome, config)
        if macs is not None:
            pool.setdefault(archid(genome), (genome, macs))
    by_macs = sorted(pool.values(), key=lambda item: (item[1], archid(item[0])))
    budget = config.budgets.max_latency_ms or float("inf")
    fits = []
    for index in _spread(len(by_macs), 3 * count):
        genome = by_macs[index][0]
        latency = measure_genome_latency(
            genome, config.model.num_classes, config.model.image_size, config.latency
        ).latency_ms
        if latency <= budget:
            fits.append((genome, latency))
    chosen = [fits[index] for index in _spread(len(fits), count)]
    return sorted(chosen, key=lambda item: item[1])


def _spread(size: int, count: int) -> list[int]:
    """`count` (or all `size`) distinct indices spread evenly over range(size)."""
    return sorted({round(i) for i in np.linspace(0, size - 1, min(count, size))})


def longer(training: TrainingConfig, factor: float) -> TrainingConfig:
    """The same recipe `factor` times longer (the learning-rate schedule stretches with it)."""
    steps = int(training.max_steps * factor) if training.max_steps else 0
    return dataclasses.replace(training, epochs=training.epochs * factor, max_steps=steps)


def score(
    executor,
    template: dict,
    archs: list[tuple[Genome, float]],
    trainings: dict[str, TrainingConfig],
) -> dict[str, list[float]]:
    """val_miou of every arch under every named training; all jobs run as one batch."""
    jobs, keys = [], []
    for name, training in trainings.items():
        for i, (genome, _) in enumerate(archs):
            keys.append((name, i))
            jobs.append(
                Job(
                    trial_number=len(jobs),
                    archid=archid(genome),
                    arch_json=arch_json(genome),
                    **{**template, "training": training},
                )
            )
    # the longest jobs first, so that the last ones do not leave a worker idle
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k].training.epochs)
    scores = {name: [float("nan")] * len(archs) for name in trainings}
    for outcome in executor.run([jobs[k] for k in order]):
        name, i = keys[outcome.trial_number]
        if not outcome.ok:
            raise RuntimeError(f"{name} training of arch {i} failed: {outcome.error}")
        scores[name][i] = outcome.metrics["val_miou"]
    return scores


def kendall_tau(a: list[float], b: list[float]) -> float:
    return float(stats.kendalltau(a, b).statistic)


def spearman(a: list[float], b: list[float]) -> float:
    return float(stats.spearmanr(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "confs" / "quickstart.yaml"))
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--archs", type=int, default=12)
    parser.add_argument("--long-factor", type=float, default=8.0)
    parser.add_argument("--seeds", type=int, nargs=2, default=(0, 1))
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--serial", action="store_true", help="train in this process")
    args = parser.parse_args()
    started = time.perf_counter()
    config = load_config([args.config], parse_overrides(args.set))
    torch.set_num_threads(config.latency.num_threads)
    splits = load_data(config.data, config.model.image_size)
    archs = sample_archs(config, args.archs, args.sample_seed)
    template = job_template(config, splits)
    base = template["training"]
    trainings = {f"seed{s}": dataclasses.replace(base, seed=s) for s in args.seeds}
    if args.long_factor > 0:
        trainings["long"] = dataclasses.replace(longer(base, args.long_factor), seed=args.seeds[0])
    executor = SerialExecutor() if args.serial else RayExecutor(config.search)
    try:
        scores = score(executor, template, archs, trainings)
    finally:
        executor.close()
    first, second = (scores[f"seed{s}"] for s in args.seeds)
    partial = [(a + b) / 2 for a, b in zip(first, second, strict=True)]
    long = scores.get("long", [float("nan")] * len(archs))
    print(
        f"{len(archs)} archs, {len(splits.train.ids)} train / {len(splits.val.ids)} val images "
        f"at {config.model.image_size}px; long training = {args.long_factor:g}x the partial one"
    )
    print(
        f"{'archid':<10} {'latency ms':>10} {'seed ' + str(args.seeds[0]):>8} "
        f"{'seed ' + str(args.seeds[1]):>8} {'long':>8}"
    )
    for (genome, latency), a, b, c in zip(archs, first, second, long, strict=True):
        print(f"{archid(genome)[:8]:<10} {latency:>10.3f} {a:>8.4f} {b:>8.4f} {c:>8.4f}")
    figures = {
        "archs": len(archs),
        "seed_spearman": spearman(first, second),
        "fidelity_spearman": spearman(partial, long),
        "fidelity_kendall": kendall_tau(partial, long),
        "latency_spearman": spearman([lat for _, lat in archs], long),
        "partial_miou_mean": float(np.mean(partial)),
        "long_miou_mean": float(np.mean(long)),
        "seconds": time.perf_counter() - started,
    }
    print(
        f"seed-to-seed Spearman of the partial score: {figures['seed_spearman']:.3f} "
        "(target >= 0.8)"
    )
    print(
        f"partial (mean of 2 seeds) vs long: Spearman {figures['fidelity_spearman']:.3f} "
        f"(target >= 0.7), Kendall {figures['fidelity_kendall']:.3f}; latency alone vs long: "
        f"Spearman {figures['latency_spearman']:.3f}"
    )
    print(
        f"mean val mIoU: partial {figures['partial_miou_mean']:.4f}, long "
        f"{figures['long_miou_mean']:.4f}; {figures['seconds']:.0f} s"
    )
    print_figures(figures)


if __name__ == "__main__":
    main()
