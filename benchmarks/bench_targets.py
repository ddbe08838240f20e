"""Deployment targets: FP32 against INT8 (ONNX Runtime static QDQ quantization, as the search
makes it for an int8 target) on architectures spread over the configured latency budget, each
trained with the search's partial recipe in this process. Per architecture: the latency of both
models on 1 thread and on every core, each timed twice (in two passes) for repeatability; the
INT8 model's validation mIoU through ONNX Runtime against the network's; the seconds of the
training and of the quantization, calibration and scoring. Then: how well each ranking (by
latency, by mIoU) survives quantization, and how many members of the FP32 front stay on the INT8
front.

    python -m benchmarks.bench_targets [--config confs/quickstart.yaml] [--archs 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.bench_proxy import sample_archs
from benchmarks.figures import print_figures
from nas.arch.archjson import arch_json, archid
from nas.config import Config, TargetConfig, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.job import Job, evaluate_job, job_template
from nas.evaluation.targets import has_vnni, time_target
from nas.paths import PROJECT_ROOT
from nas.search.pareto import pareto_front
from nas.search.promotion import rank_correlation


@dataclass
class Arch:
    """One architecture's figures; latencies by (precision, threads) -> [pass 1, pass 2]."""

    archid: str
    val_miou: float
    int8_miou: float
    train_seconds: float
    quantize_seconds: float
    models: dict[str, bytes]
    latency: dict[tuple[str, int], list[float]] = dataclasses.field(default_factory=dict)

    def ms(self, precision: str, threads: int) -> float:
        return float(np.mean(self.latency[precision, threads]))


def train(config: Config, count: int, seed: int) -> list[Arch]:
    """`count` architectures over the latency budget, trained with the partial recipe, each
    also quantized and scored as an int8 target's model."""
    splits = load_data(config.data, config.model.image_size)
    template = dataclasses.replace(job_template(config, splits), quantization=config.quantization)
    archs = []
    for number, (genome, _) in enumerate(sample_archs(config, count, seed)):
        job = Job(
            trial_number=number, archid=archid(genome), arch_json=arch_json(genome), **template
        )
        outcome = evaluate_job(job)
        if not outcome.ok or outcome.int8_error:
            raise SystemExit(f"error: {job.archid}: {outcome.error or outcome.int8_error}")
        m = outcome.metrics
        print(f"{job.archid[:8]} trained: mIoU {m['val_miou']:.4f}, INT8 {m['val_miou_int8']:.4f}")
        archs.append(
            Arch(
                job.archid, m["val_miou"], m["val_miou_int8"], m["train_seconds"],
                m["quantize_seconds"], {"fp32": outcome.onnx_model, "int8": outcome.int8_model},
            )
        )  # fmt: skip
    return archs


def time_all(archs: list[Arch], config: Config, thread_counts: list[int]) -> None:
    """Two passes over every (architecture, precision, threads), nothing else running."""
    for _ in range(2):
        for arch in archs:
            for precision in ("fp32", "int8"):
                for threads in thread_counts:
                    target = TargetConfig(precision=precision, threads=threads)
                    latency = time_target(
                        arch.models[precision], config.model.image_size, target, config.latency
                    )
                    arch.latency.setdefault((precision, threads), []).append(latency.latency_ms)


def repeat_rel_diff(archs: list[Arch], precision: str) -> float:
    """The median relative difference between the two passes' 1-thread latencies."""
    pairs = [a.latency[precision, 1] for a in archs]
    return float(np.median([abs(b - a) / a for a, b in pairs]))


@dataclass
class Point:
    archid: str
    val_miou: float
    latency_ms: float


def front_kept(archs: list[Arch]) -> tuple[int, int]:
    """How many of the FP32 front's members are on the INT8 front, and the FP32 front's size."""
    fp32 = pareto_front([Point(a.archid, a.val_miou, a.ms("fp32", 1)) for a in archs])
    int8 = pareto_front([Point(a.archid, a.int8_miou, a.ms("int8", 1)) for a in archs])
    return len({p.archid for p in fp32} & {p.archid for p in int8}), len(fp32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "confs" / "quickstart.yaml"))
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--archs", type=int, default=12)
    parser.add_argument("--sample-seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    config = load_config([args.config], parse_overrides(args.set))
    archs = train(config, args.archs, args.sample_seed)
    cores = os.cpu_count() or 1
    time_all(archs, config, sorted({1, cores}))
    print(f"{'archid':<10}{'mIoU':>8}{'INT8':>8}{'fp32 ms':>9}{'int8 ms':>9}{'speedup':>9}")
    for a in archs:
        speedup = a.ms("fp32", 1) / a.ms("int8", 1)
        print(
            f"{a.archid[:8]:<10}{a.val_miou:>8.4f}{a.int8_miou:>8.4f}"
            f"{a.ms('fp32', 1):>9.3f}{a.ms('int8', 1):>9.3f}{speedup:>8.2f}x"
        )
    kept, size = front_kept(archs)
    fp32_ms = [a.ms("fp32", 1) for a in archs]
    int8_ms = [a.ms("int8", 1) for a in archs]
    print(f"CPU VNNI instructions: {'yes' if has_vnni() else 'no'}; {cores} cores")
    print_figures(
        {
            "archs": len(archs),
            "fp32_ms_median": float(np.median(fp32_ms)),
            "int8_ms_median": float(np.median(int8_ms)),
            "int8_speedup_median": float(np.median(np.divide(fp32_ms, int8_ms))),
            "int8_speedup_median_all_cores": float(
                np.median([a.ms("fp32", cores) / a.ms("int8", cores) for a in archs])
            ),
            "miou_drop_median": float(np.median([a.val_miou - a.int8_miou for a in archs])),
            "latency_rank_spearman": rank_correlation(fp32_ms, int8_ms),
            "miou_rank_spearman": rank_correlation(
                [a.val_miou for a in archs], [a.int8_miou for a in archs]
            ),
            "front_kept": kept,
            "front_size": size,
            "train_seconds_median": float(np.median([a.train_seconds for a in archs])),
            "quantize_seconds_median": float(np.median([a.quantize_seconds for a in archs])),
            "quantize_share_median": float(
                np.median([a.quantize_seconds / a.train_seconds for a in archs])
            ),
            "fp32_repeat_rel_diff": repeat_rel_diff(archs, "fp32"),
            "int8_repeat_rel_diff": repeat_rel_diff(archs, "int8"),
            "vnni": has_vnni(),
            "seconds": time.perf_counter() - started,
        }
    )


if __name__ == "__main__":
    main()
