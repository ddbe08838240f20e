"""The Pareto-evolution plot, as a PNG and as a self-contained interactive HTML page: one panel
per cheap objective (x) against the trained one (y), the front of every generation drawn on it."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from nas.evaluation.objectives import Objective, axes
from nas.search.candidates import Candidate

PLOT_NAME = "pareto_evolution"
Panel = tuple[Objective, Objective]  # x, y


def panels(objectives: Sequence[Objective]) -> list[Panel]:
    """y is the first objective that needs training (else the last axis); x each other one."""
    order = axes(objectives)
    y = next((o for o in order if not o.cheap), order[-1])
    return [(x, y) for x in order if x is not y]


def _front_points(front: Sequence[Candidate], x: Objective, y: Objective) -> list[tuple]:
    return sorted((getattr(c, x.name), getattr(c, y.name)) for c in front)


def _draw_panel(ax, panel: Panel, trained: list[Candidate], fronts, staircase: bool) -> None:
    x, y = panel
    ax.scatter(
        [getattr(c, x.name) for c in trained],
        [getattr(c, y.name) for c in trained],
        s=12,
        c="lightgrey",
        label="candidates",
    )
    cmap = matplotlib.colormaps["viridis"]
    for generation, front in enumerate(fronts):
        if not front:
            continue
        xs, ys = zip(*_front_points(front, x, y), strict=True)
        ax.plot(
            xs,
            ys,
            "o-" if staircase else "o",
            color=cmap(generation / max(len(fronts) - 1, 1)),
            markersize=4,
            drawstyle="steps-post",
            label=f"front after generation {generation}",
        )
    if x.cheap:  # costs span orders of magnitude: one slow model must not squeeze the rest
        ax.set_xscale("log")
    ax.set_xlabel(f"{x.label}{', log scale' if x.cheap else ''}")
    ax.set_ylabel(y.label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def plot_png(
    path: Path,
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
) -> Path:
    """Grey dots: all trained candidates; coloured: the front after each generation (a
    staircase for two objectives, the projected points for more)."""
    shown = panels(objectives)
    fig = Figure(figsize=(8 * len(shown), 5.5), dpi=110)
    trained = [c for c in candidates if c.state == "complete"]
    for ax, panel in zip(fig.subplots(1, len(shown), squeeze=False)[0], shown, strict=True):
        _draw_panel(ax, panel, trained, fronts, staircase=len(objectives) == 2)
    fig.suptitle("Pareto front evolution")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _svg(panel: Panel, trained: list[Candidate], fronts: Sequence[Sequence[Candidate]]) -> str:
    """One 800 x 500 panel; hover a point for its archid and measures."""
    x, y = panel
    xv = [getattr(c, x.name) for c in trained] or [0.0, 1.0]
    yv = [getattr(c, y.name) for c in trained] or [0.0, 1.0]
    x0, x1 = min(xv), max(xv) if max(xv) > min(xv) else min(xv) + 1
    y0, y1 = min(yv), max(yv) if max(yv) > min(yv) else min(yv) + 0.01

    def at(c_x: float, c_y: float) -> str:
        return f"{60 + 700 * (c_x - x0) / (x1 - x0):.1f},{440 - 400 * (c_y - y0) / (y1 - y0):.1f}"

    parts = []
    for c in trained:
        cx, cy = at(getattr(c, x.name), getattr(c, y.name)).split(",")
        tip = html.escape(
            f"{c.archid} gen {c.generation}: mIoU {c.val_miou:.4f}, {c.latency_ms:.2f} "
            f"ms, {c.num_params:,} params, {c.macs:,} MACs"
        )
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="#bbb"><title>{tip}</title></circle>')
    for generation, front in enumerate(fronts):
        hue = int(260 * (1 - generation / max(len(fronts) - 1, 1)))
        coords = " ".join(at(px, py) for px, py in _front_points(front, x, y))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="hsl({hue},70%,45%)" '
            f'stroke-width="1.5"><title>front after generation {generation}'
            "</title></polyline>"
        )
    labels = (
        f'<text x="400" y="490" text-anchor="middle">{x.name}: {x0:.4g} .. {x1:.4g}</text>'
        f'<text x="15" y="250" transform="rotate(-90 15 250)" text-anchor="middle">'
        f"{y.name}: {y0:.4f} .. {y1:.4f}</text>"
    )
    frame = 'width="800" height="500" style="border:1px solid #ddd"'
    return f"<svg {frame}>{labels}{''.join(parts)}</svg>"


def plot_html(
    path: Path,
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
) -> Path:
    """A self-contained page (no network) with one SVG per panel and the points as JSON."""
    trained = [c for c in candidates if c.state == "complete"]
    points = [
        {
            "archid": c.archid,
            "generation": c.generation,
            **{o.name: getattr(c, o.name) for o in objectives},
        }
        for c in trained
        if all(math.isfinite(getattr(c, o.name)) for o in objectives)
    ]
    page = (
        "<!doctype html><meta charset='utf-8'><title>Pareto front evolution</title>"
        "<h3>Pareto front evolution (hover for details)</h3>"
        + "".join(_svg(panel, trained, fronts) for panel in panels(objectives))
        + f"<script>const candidates = {json.dumps(points)};</script>"
    )
    path.write_text(page)
    return path


def write_plots(
    out: Path,
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
) -> list[Path]:
    return [
        plot_png(out / f"{PLOT_NAME}.png", candidates, fronts, objectives),
        plot_html(out / f"{PLOT_NAME}.html", candidates, fronts, objectives),
    ]
