"""The search's plots as PNG files: the Pareto front of every generation (one panel per cheap
objective against the trained one, the registered models and the knee marked) and the front's
hypervolume per generation. nas.tracking.plots_html draws the same as an interactive page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib import ticker
from matplotlib.figure import Figure

from nas.evaluation.objectives import Objective, axes
from nas.search.candidates import Candidate

PLOT_NAME = "pareto_evolution"
HV_PLOT_NAME = "hypervolume"
Panel = tuple[Objective, Objective]  # x, y
Marks = dict[str, str]  # archid -> its label on the plot (aliases, registered version)


def panels(objectives: Sequence[Objective]) -> list[Panel]:
    """y is the first objective that needs training (else the last axis); x each other one."""
    order = axes(objectives)
    y = next((o for o in order if not o.cheap), order[-1])
    return [(x, y) for x in order if x is not y]


def front_points(front: Sequence[Candidate], x: Objective, y: Objective) -> list[tuple]:
    return sorted((getattr(c, x.name), getattr(c, y.name)) for c in front)


def log_ticks(values: Sequence[float]) -> list[float]:
    """Ticks for a log axis over `values` (> 0) read as plain numbers (0.3, 0.5, 1, 2 ms): every
    step of 1 to 9 times a power of ten within a decade, 1-2-5 over a wider span, one tick
    beyond either end."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return []
    low, high = min(positive), max(positive)
    mantissas = range(1, 10) if high / low < 10 else (1, 2, 5) if high / low < 1000 else (1,)
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = sorted(float(f"{m * 10.0**p:.12g}") for p in powers for m in mantissas)
    below = [t for t in ticks if t < low][-1:]
    above = [t for t in ticks if t > high][:1]
    return below + [t for t in ticks if low <= t <= high] + above


def generation_colour(generation: int, generations: int) -> tuple:
    """Viridis from the first generation (purple) to the last (yellow), as RGBA in [0, 1]."""
    return matplotlib.colormaps["viridis"](generation / max(generations - 1, 1))


def _mark(ax, panel: Panel, marked: list[Candidate], marks: Marks) -> None:
    """Stars on the registered (or, during the search, the aliased) models, with their labels."""
    x, y = panel
    for c in marked:
        at = (getattr(c, x.name), getattr(c, y.name))
        ax.scatter(*at, s=140, marker="*", c="crimson", edgecolors="black", zorder=5)
        ax.annotate(marks[c.archid], at, textcoords="offset points", xytext=(6, -12), fontsize=7)


def _draw_panel(
    ax, panel: Panel, trained: list[Candidate], fronts, staircase: bool, marks: Marks
) -> None:
    x, y = panel
    ax.scatter(
        [getattr(c, x.name) for c in trained],
        [getattr(c, y.name) for c in trained],
        s=12,
        c="lightgrey",
        label="candidates",
    )
    for generation, front in enumerate(fronts):
        if not front:
            continue
        xs, ys = zip(*front_points(front, x, y), strict=True)
        ax.plot(
            xs,
            ys,
            "o-" if staircase else "o",
            color=generation_colour(generation, len(fronts)),
            markersize=4,
            drawstyle="steps-post",
            label=f"front after generation {generation}",
        )
    latest = {c.archid: c for c in (fronts[-1] if fronts else [])}
    _mark(ax, panel, [latest[a] for a in marks if a in latest], marks)
    if x.cheap:  # costs span orders of magnitude: one slow model must not squeeze the rest
        ax.set_xscale("log")
        ticks = log_ticks([getattr(c, x.name) for c in trained])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(f"{x.label}{', log scale' if x.cheap else ''}")
    ax.set_ylabel(y.label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def plot_png(
    path: Path,
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
    marks: Marks | None = None,
) -> Path:
    """Grey dots: all trained candidates; coloured: the front after each generation (a
    staircase for two objectives, the projected points for more); stars: `marks`."""
    shown = panels(objectives)
    fig = Figure(figsize=(8 * len(shown), 5.5), dpi=110)
    trained = [c for c in candidates if c.state == "complete"]
    for ax, panel in zip(fig.subplots(1, len(shown), squeeze=False)[0], shown, strict=True):
        _draw_panel(ax, panel, trained, fronts, len(objectives) == 2, marks or {})
    fig.suptitle("Pareto front evolution (stars: the models the registry aliases)")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_hypervolume_png(path: Path, hypervolumes: Sequence[float], reference: str) -> Path:
    """The front's hypervolume after each generation."""
    fig = Figure(figsize=(6, 4), dpi=110)
    ax = fig.subplots()
    ax.plot(range(len(hypervolumes)), hypervolumes, "o-", color="tab:blue")
    ax.set_xlabel("generation")
    ax.set_ylabel(f"hypervolume (reference {reference})")
    ax.set_xticks(range(len(hypervolumes)))
    ax.grid(alpha=0.3)
    ax.set_title("Hypervolume of the Pareto front per generation")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_partial_final_png(path: Path, rows: list[dict]) -> Path:
    """Each trained front member's final validation mIoU against its partial (search) score,
    labelled by archid, with the line where the two are equal."""
    fig = Figure(figsize=(6.5, 5.5), dpi=110)
    ax = fig.subplots()
    partial = [r["partial_miou"] for r in rows]
    final = [r["val_miou"] for r in rows]
    ax.scatter(partial, final, s=30, c="tab:blue", zorder=3)
    for r in rows:
        at = (r["partial_miou"], r["val_miou"])
        ax.annotate(r["archid"][:8], at, textcoords="offset points", xytext=(4, 4), fontsize=7)
    if rows:
        low, high = min(partial + final), max(partial + final)
        ax.plot([low, high], [low, high], ":", color="grey", label="final = partial")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("validation mIoU after the search's training")
    ax.set_ylabel("validation mIoU after the final training")
    ax.grid(alpha=0.3)
    ax.set_title("The front: partial against final score")
    fig.tight_layout()
    fig.savefig(path)
    return path
