"""The report of a front's final training, the table the system re-created here published for its
front: each member's partial score (the search's) beside its final scores, latency and size; the
rank correlations of partial and final mIoU; the front recomputed on the final scores, with the
search's role aliases on the trained model name; a plot of partial against final mIoU."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient

from nas.config import Config
from nas.evaluation.objectives import objectives_for
from nas.search.candidates import Candidate
from nas.search.pareto import aliased, pareto_front
from nas.tracking import registry, runs, ui
from nas.tracking.plots import plot_partial_final_png
from nas.tracking.plots_html import plot_partial_final_html
from nas.tracking.runs import TAG_ARCHID

TAG_SOURCE_VERSION = "nas.source_version"  # the search's version a member was trained from
TAG_TRAINED_VERSION = "nas.trained_version"  # the version its final training registered
TABLE = "front_table.csv"
COLUMNS = (
    "version", "trained_version", "archid", "partial_miou", "val_miou", "test_miou",
    "latency_ms", "num_params", "on_final_front",
)  # fmt: skip


def row_of(run: Any) -> dict[str, Any]:
    """A trained member's row, from its run: the search's version and score, and the final
    scores, latency and size (deployment targets' measures too: `latency_ms.T`, ...)."""
    tags, metrics = run.data.tags, run.data.metrics
    return {
        "state": "complete",
        "version": tags[TAG_SOURCE_VERSION],
        "trained_version": tags.get(TAG_TRAINED_VERSION, ""),
        "archid": tags.get(TAG_ARCHID, ""),
        "partial_miou": float(tags.get("nas.partial_miou", "nan")),
        **{k: v for k, v in metrics.items() if k in COLUMNS or "." in k},
    }


def failed_row(version: str, archid: str, partial_miou: float, error: str) -> dict[str, Any]:
    """The row of a member whose final training failed."""
    return {
        "state": "failed",
        "version": version,
        "archid": archid,
        "partial_miou": partial_miou,
        "error": error.splitlines()[0],
    }


def correlations(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Spearman's and Kendall's rank correlation of the partial and the final mIoU over the
    trained members (NaN for fewer than 3, or a side without two different values)."""
    pairs = [(r["partial_miou"], r["val_miou"]) for r in rows if r["state"] == "complete"]
    partial, final = [p for p, _ in pairs], [f for _, f in pairs]
    if len(pairs) < 3 or len(set(partial)) < 2 or len(set(final)) < 2:
        return {"partial_final_spearman": math.nan, "partial_final_kendall": math.nan}
    from scipy import stats  # here: importing it costs every train command a second

    return {
        "partial_final_spearman": float(stats.spearmanr(partial, final).statistic),
        "partial_final_kendall": float(stats.kendalltau(partial, final).statistic),
    }


def final_front(config: Config, rows: list[dict[str, Any]]) -> tuple[list[Candidate], dict]:
    """The front of the trained members on their final scores and timings under the search's
    objectives, and the member each of its role aliases names there."""
    objectives = objectives_for(config)
    points = []
    for row in rows:
        if row["state"] != "complete":
            continue
        c = Candidate(int(row["version"]), 0, row["archid"], "", "complete")
        c.val_miou, c.latency_ms = row.get("val_miou", math.nan), row.get("latency_ms", math.nan)
        c.num_params = int(row.get("num_params", 0))
        c.measures = {k: v for k, v in row.items() if "." in k}
        if all(math.isfinite(getattr(c, o.name)) for o in objectives):
            points.append(c)
    front = pareto_front(points, objectives)
    return front, (aliased(front, objectives) if front else {})


def table(rows: list[dict[str, Any]], front_versions: set[str]) -> pd.DataFrame:
    """One row per member, best final mIoU first."""
    frame = pd.DataFrame(
        [{**r, "on_final_front": r["version"] in front_versions} for r in rows],
        columns=[*COLUMNS, "state", "error"],
    )
    return frame.sort_values("val_miou", ascending=False, na_position="last")


def report(
    client: MlflowClient, config: Config, rows: list[dict[str, Any]], output_dir: Path
) -> dict[str, Any]:
    """In the active (parent) run: the correlations, `front_kept` of `front_size`, the table
    and the plots; the role aliases on the trained model name. Returns all of it, and the
    table as text."""
    front, chosen = final_front(config, rows)
    trained = {r["version"]: r.get("trained_version", "") for r in rows}
    aliases = {alias: trained[str(c.trial_number)] for alias, c in chosen.items()}
    registry.set_aliases(client, config.tracking.trained_model, aliases)
    complete = [r for r in rows if r["state"] == "complete"]
    figures = {
        **correlations(rows),
        "front_kept": len(front),
        "front_size": len(complete),
        "members_failed": len(rows) - len(complete),
    }
    run_id = mlflow.active_run().info.run_id
    runs.log_metrics(client, run_id, figures)
    frame = table(rows, {str(c.trial_number) for c in front})
    output_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(output_dir / TABLE, index=False)
    plots = [
        plot_partial_final_png(output_dir / "partial_vs_final.png", complete),
        plot_partial_final_html(output_dir / "partial_vs_final.html", complete),
    ]
    runs.log_files(client, run_id, [output_dir / TABLE, *plots])
    experiment_id = mlflow.active_run().info.experiment_id
    return {
        **figures,
        "rows": rows,
        "aliases": aliases,
        "text": text(frame),
        "registered_model": config.tracking.trained_model,
        "run_url": ui.run_url(experiment_id, run_id),
    }


def text(frame: pd.DataFrame) -> str:
    """The table as the command prints it."""
    shown = frame[[c for c in COLUMNS if c in frame]].copy()
    shown["archid"] = shown["archid"].str[:8]
    if "num_params" in shown:
        shown["num_params"] = shown["num_params"].astype("Int64")  # a count, not a float
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
