"""Per-generation files in Archai's shape: search_state_{k}.csv, pareto_models_iter_{k}/, and the
Pareto-evolution plot as PNG and as an interactive HTML page."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from nas.search.candidates import Candidate  # noqa: E402

ARCHAI_COLUMNS = [
    "archid",
    "val_miou",
    "latency_ms",
    "parent",
    "parents",
    "iteration_num",
    "search_walltime_hours",
    "is_pareto",
]
OUR_COLUMNS = [
    "trial_number",
    "state",
    "feasible",
    "fidelity",
    "val_miou_f0",
    "latency_p90_ms",
    "latency_iqr_ms",
    "num_params",
    "macs",
    "train_seconds",
    "duplicate_of",
    "run_id",
    "error",
]
PLOT_NAME = "pareto_evolution"


def state_table(
    candidates: Sequence[Candidate],
    front: Sequence[Candidate],
    parents: dict[int, str],
    walltime_hours: float,
) -> pd.DataFrame:
    """One row per candidate so far. `parent` is the previous generations' candidate with the
    most genes in common (Optuna does not record NSGA-II parents)."""
    front_ids = {c.archid for c in front}
    rows = [
        {
            "archid": c.archid,
            "val_miou": c.val_miou,
            "latency_ms": c.latency_ms,
            "parent": parents.get(c.trial_number, ""),
            "parents": "",
            "iteration_num": c.generation,
            "search_walltime_hours": walltime_hours,
            "is_pareto": c.archid in front_ids and c.state == "complete",
            "trial_number": c.trial_number,
            "state": c.state,
            "feasible": c.feasible,
            "fidelity": c.fidelity,
            "val_miou_f0": c.val_miou_f0,
            "latency_p90_ms": c.latency_p90_ms,
            "latency_iqr_ms": c.latency_iqr_ms,
            "num_params": c.num_params,
            "macs": c.macs,
            "train_seconds": c.train_seconds,
            "duplicate_of": c.duplicate_of,
            "run_id": c.run_id,
            "error": c.error.splitlines()[0] if c.error else "",
        }
        for c in candidates
    ]
    return pd.DataFrame(rows, columns=ARCHAI_COLUMNS + OUR_COLUMNS)


def write_generation_files(
    out: Path, generation: int, table: pd.DataFrame, front: Sequence[Candidate]
) -> list[Path]:
    """search_state_{k}.csv and pareto_models_iter_{k}/{archid}.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"search_state_{generation}.csv"
    table.to_csv(csv_path, index=False)
    folder = out / f"pareto_models_iter_{generation}"
    folder.mkdir(exist_ok=True)
    for c in front:
        (folder / f"{c.archid}.json").write_text(c.arch_json)
    return [csv_path, folder]


def _fronts_by_generation(fronts: Sequence[Sequence[Candidate]]):
    for generation, front in enumerate(fronts):
        points = [(c.latency_ms, c.val_miou, c.archid) for c in front]
        yield generation, sorted(points)


def plot_png(
    path: Path, candidates: Sequence[Candidate], fronts: Sequence[Sequence[Candidate]]
) -> Path:
    """x = latency, y = mIoU; grey dots: all trained candidates; lines: the front per generation."""
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    trained = [c for c in candidates if c.state == "complete"]
    ax.scatter(
        [c.latency_ms for c in trained],
        [c.val_miou for c in trained],
        s=12,
        c="lightgrey",
        label="candidates",
    )
    cmap = plt.get_cmap("viridis")
    for generation, points in _fronts_by_generation(fronts):
        if not points:
            continue
        colour = cmap(generation / max(len(fronts) - 1, 1))
        xs, ys, _ = zip(*points, strict=True)
        ax.plot(
            xs,
            ys,
            "o-",
            color=colour,
            markersize=4,
            drawstyle="steps-post",
            label=f"front after generation {generation}",
        )
    ax.set_xscale(
        "log"
    )  # latencies span orders of magnitude: one slow model must not squeeze the rest
    ax.set_xlabel("ONNX Runtime CPU latency (ms, median, log scale)")
    ax.set_ylabel("validation mIoU after partial training")
    ax.set_title("Pareto front evolution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_html(
    path: Path, candidates: Sequence[Candidate], fronts: Sequence[Sequence[Candidate]]
) -> Path:
    """A self-contained SVG page (no network): hover a point for its archid, mIoU and latency."""
    trained = [c for c in candidates if c.state == "complete"]
    lat = [c.latency_ms for c in trained] or [0.0, 1.0]
    iou = [c.val_miou for c in trained] or [0.0, 1.0]
    x0, x1 = min(lat), max(lat) if max(lat) > min(lat) else min(lat) + 1
    y0, y1 = min(iou), max(iou) if max(iou) > min(iou) else min(iou) + 0.01
    sx = lambda v: 60 + 700 * (v - x0) / (x1 - x0)  # noqa: E731
    sy = lambda v: 440 - 400 * (v - y0) / (y1 - y0)  # noqa: E731
    parts = []
    for c in trained:
        tip = html.escape(
            f"{c.archid} gen {c.generation}: mIoU {c.val_miou:.4f}, "
            f"{c.latency_ms:.2f} ms, {c.num_params:,} params"
        )
        parts.append(
            f'<circle cx="{sx(c.latency_ms):.1f}" cy="{sy(c.val_miou):.1f}" r="3" '
            f'fill="#bbb"><title>{tip}</title></circle>'
        )
    for generation, points in _fronts_by_generation(fronts):
        hue = int(260 * (1 - generation / max(len(fronts) - 1, 1)))
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in points)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="hsl({hue},70%,45%)" '
            f'stroke-width="1.5"><title>front after generation {generation}'
            f"</title></polyline>"
        )
    axes = (
        f'<text x="400" y="490" text-anchor="middle">latency (ms): {x0:.2f} .. {x1:.2f}'
        f'</text><text x="15" y="250" transform="rotate(-90 15 250)" '
        f'text-anchor="middle">mIoU: {y0:.4f} .. {y1:.4f}</text>'
    )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Pareto front evolution</title>"
        "<h3>Pareto front evolution (hover for details)</h3>"
        f'<svg width="800" height="500" style="border:1px solid #ddd">{axes}'
        + "".join(parts)
        + "</svg>"
        + f"<script>const candidates = {json.dumps(_points_json(trained))};</script>"
    )
    path.write_text(page)
    return path


def _points_json(candidates: Sequence[Candidate]) -> list[dict]:
    return [
        {
            "archid": c.archid,
            "generation": c.generation,
            "val_miou": c.val_miou,
            "latency_ms": c.latency_ms,
        }
        for c in candidates
        if math.isfinite(c.val_miou) and math.isfinite(c.latency_ms)
    ]


def write_plots(
    out: Path, candidates: Sequence[Candidate], fronts: Sequence[Sequence[Candidate]]
) -> list[Path]:
    return [
        plot_png(out / f"{PLOT_NAME}.png", candidates, fronts),
        plot_html(out / f"{PLOT_NAME}.html", candidates, fronts),
    ]
