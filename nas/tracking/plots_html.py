"""The search's plots as one self-contained interactive page (plotly, no network needed): the Pareto
front of every generation with a hover card per candidate (archid, mIoU, latency, parameters, its
run's address; a click opens the run), the registered models and the knee, and the hypervolume per
generation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nas.evaluation.objectives import Objective
from nas.search.candidates import Candidate
from nas.tracking.plots import Marks, Panel, generation_colour, log_ticks, panels

HOVER = (
    "<b>%{customdata[0]}</b> generation %{customdata[1]}, fidelity %{customdata[2]}<br>"
    "mIoU %{customdata[3]:.4f}<br>latency %{customdata[4]:.3f} ms<br>"
    "%{customdata[5]:,} parameters<br>%{customdata[6]}<extra>%{fullData.name}</extra>"
)
OPEN_RUN = """document.getElementById('{plot_id}').on('plotly_click', function (event) {
  var url = event.points[0].customdata && event.points[0].customdata[6];
  if (url) { window.open(url, '_blank'); }
});"""


def _card(c: Candidate, links: dict[str, str]) -> list:
    return [
        c.archid,
        c.generation,
        c.fidelity,
        c.val_miou,
        c.latency_ms,
        c.num_params,
        links.get(c.run_id, ""),
    ]


def _scatter(cs: Sequence[Candidate], panel: Panel, links: dict[str, str], **style) -> go.Scatter:
    x, y = panel
    return go.Scatter(
        x=[getattr(c, x.name) for c in cs],
        y=[getattr(c, y.name) for c in cs],
        customdata=[_card(c, links) for c in cs],
        hovertemplate=HOVER,
        **style,
    )


def _panel_traces(
    panel: Panel,
    trained: list[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    marks: Marks,
    links: dict[str, str],
    staircase: bool,
) -> list[go.Scatter]:
    """Candidates in grey, each generation's front in its colour, the marked models as stars."""
    x, _ = panel
    traces = [
        _scatter(
            trained,
            panel,
            links,
            mode="markers",
            name="candidates",
            marker={"color": "lightgrey", "size": 6},
        )
    ]
    for generation, front in enumerate(fronts):
        red, green, blue, _ = (int(255 * v) for v in generation_colour(generation, len(fronts)))
        ordered = sorted(front, key=lambda c: getattr(c, x.name))
        traces.append(
            _scatter(
                ordered,
                panel,
                links,
                mode="lines+markers" if staircase else "markers",
                name=f"front after generation {generation}",
                line={"shape": "hv"},
                marker={"color": f"rgb({red},{green},{blue})", "size": 7},
            )
        )
    latest = [c for c in (fronts[-1] if fronts else []) if c.archid in marks]
    traces.append(
        _scatter(
            latest,
            panel,
            links,
            mode="markers+text",
            name="registry aliases",
            text=[marks[c.archid] for c in latest],
            textposition="bottom right",
            marker={
                "symbol": "star",
                "size": 16,
                "color": "crimson",
                "line": {"color": "black", "width": 1},
            },
        )
    )
    return traces


def pareto_figure(
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
    marks: Marks,
    links: dict[str, str],
) -> go.Figure:
    shown = panels(objectives)
    fig = make_subplots(rows=1, cols=len(shown))
    trained = [c for c in candidates if c.state == "complete"]
    for col, panel in enumerate(shown, start=1):
        for trace in _panel_traces(panel, trained, fronts, marks, links, len(objectives) == 2):
            trace.showlegend, trace.legendgroup = col == 1, trace.name
            fig.add_trace(trace, row=1, col=col)
        x, y = panel
        if x.cheap:  # a log axis, its ticks read as plain numbers in the objective's unit
            ticks = log_ticks([getattr(c, x.name) for c in trained])
            labels = [f"{t:g}" for t in ticks]
            fig.update_xaxes(type="log", tickvals=ticks, ticktext=labels, row=1, col=col)
        fig.update_xaxes(title_text=x.label, row=1, col=col)
        fig.update_yaxes(title_text=y.label, row=1, col=col)
    fig.update_layout(
        title="Pareto front evolution (hover a point for its run; click to open it)",
        height=560,
        autosize=True,  # the page's width: the frame it is shown in (MLflow's artifact viewer)
        template="plotly_white",
    )
    return fig


def hypervolume_figure(hypervolumes: Sequence[float], reference: str) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=list(range(len(hypervolumes))),
            y=list(hypervolumes),
            mode="lines+markers",
            name="hypervolume",
        )
    )
    fig.update_layout(
        title=f"Hypervolume of the Pareto front per generation (reference {reference})",
        xaxis={"title": "generation", "dtick": 1},
        yaxis={"title": "hypervolume"},
        height=380,
        autosize=True,
        template="plotly_white",
    )
    return fig


def plot_html(
    path: Path,
    candidates: Sequence[Candidate],
    fronts: Sequence[Sequence[Candidate]],
    objectives: Sequence[Objective],
    marks: Marks,
    links: dict[str, str],
    hypervolumes: Sequence[float],
    reference: str,
) -> Path:
    """One page holding plotly itself (megabytes), so it opens offline and in the MLflow UI."""
    pareto = pareto_figure(candidates, fronts, objectives, marks, links)
    fill = {"full_html": False, "default_width": "100%", "config": {"responsive": True}}
    body = pareto.to_html(include_plotlyjs=True, post_script=OPEN_RUN, **fill)
    hv = hypervolume_figure(hypervolumes, reference).to_html(include_plotlyjs=False, **fill)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Pareto front evolution</title>"
        f"</head><body>{body}{hv}</body></html>"
    )
    path.write_text(page)
    return path


def plot_partial_final_html(path: Path, rows: list[dict]) -> Path:
    """The partial-against-final plot as one interactive page (hover: archid and versions)."""
    hover = (
        "<b>%{text}</b><br>partial %{x:.4f}, final %{y:.4f}<br>search version %{customdata[0]}, "
        "trained version %{customdata[1]}<extra></extra>"
    )
    fig = go.Figure(
        go.Scatter(
            x=[r["partial_miou"] for r in rows],
            y=[r["val_miou"] for r in rows],
            text=[r["archid"][:8] for r in rows],
            customdata=[[r["version"], r.get("trained_version", "")] for r in rows],
            mode="markers+text",
            textposition="top right",
            hovertemplate=hover,
        )
    )
    fig.update_layout(
        title="The front: partial against final validation mIoU",
        xaxis={"title": "after the search's training"},
        yaxis={"title": "after the final training"},
        height=520,
        autosize=True,
        template="plotly_white",
    )
    fill = {"full_html": True, "default_width": "100%", "config": {"responsive": True}}
    path.write_text(fig.to_html(include_plotlyjs=True, **fill))
    return path
