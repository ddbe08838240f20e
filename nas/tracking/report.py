"""Per-generation files in Archai's shape: search_state_{k}.csv and pareto_models_iter_{k}/."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nas.search.candidates import Candidate

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
# then these Candidate fields as they are (`error`: its first line)
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


def state_table(
    candidates: Sequence[Candidate],
    front: Sequence[Candidate],
    parents: dict[int, str],
    walltime_hours: float,
) -> pd.DataFrame:
    """One row per candidate so far, then a column per deployment target measure
    (`latency_ms.T`, `val_miou.T`, ...). `parent` is the previous generations' candidate with
    the most genes in common (Optuna does not record NSGA-II parents)."""
    front_ids = {c.archid for c in front}
    measures = sorted({key for c in candidates for key in c.measures})
    rows = []
    for c in candidates:
        row = {
            name: getattr(c, name) for name in ("archid", "val_miou", "latency_ms", *OUR_COLUMNS)
        }
        row.update(
            parent=parents.get(c.trial_number, ""),
            parents="",
            iteration_num=c.generation,
            search_walltime_hours=walltime_hours,
            is_pareto=c.archid in front_ids and c.state == "complete",
            error=c.error.splitlines()[0] if c.error else "",
        )
        row.update({key: getattr(c, key) for key in measures})
        rows.append(row)
    return pd.DataFrame(rows, columns=ARCHAI_COLUMNS + OUR_COLUMNS + measures)


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
