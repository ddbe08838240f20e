"""A candidate's record, kept in its Optuna trial (the search's durable state) and in MLflow."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

RECORD_ATTR = "nas"

# One name per metric, shared by MLflow, the CSV files and Optuna user attributes.
METRIC_KEYS = (
    "val_miou",
    "val_miou_f0",
    "latency_ms",
    "latency_p90_ms",
    "latency_iqr_ms",
    "num_params",
    "macs",
    "train_seconds",
)
STATES = ("running", "complete", "infeasible", "failed", "duplicate")


@dataclass
class Candidate:
    """What the search knows of one trial; `state` is one of STATES. `val_miou` is the score at
    `fidelity` (0: the partial training; 1: the promoted, longer one), `val_miou_f0` the partial
    training's score, the one Optuna is told."""

    trial_number: int
    generation: int
    archid: str
    arch_json: str
    state: str = "running"
    val_miou: float = math.nan
    latency_ms: float = math.nan
    latency_p90_ms: float = math.nan
    latency_iqr_ms: float = math.nan
    num_params: int = 0
    macs: int = 0
    train_seconds: float = math.nan
    run_id: str = ""
    model_uri: str = ""
    duplicate_of: int = -1
    error: str = ""
    fidelity: int = 0
    val_miou_f0: float = math.nan
    int8_model_uri: str = ""  # the trained model quantized to INT8, where a target deploys it
    # per deployment target T (nas.evaluation.objectives): latency_ms.T, latency_p90_ms.T,
    # val_miou.T and val_miou_f0.T, read as attributes like the fields above
    measures: dict[str, float] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str) -> float:
        """A target's measure (`getattr(c, "latency_ms.int8")`), NaN where it has none yet."""
        if name.startswith("_") or "." not in name:
            raise AttributeError(name)
        return self.__dict__.get("measures", {}).get(name, math.nan)

    @property
    def feasible(self) -> bool:
        return self.state in ("complete", "duplicate") and math.isfinite(self.val_miou)

    @property
    def finished(self) -> bool:
        return self.state != "running"

    def as_attr(self) -> dict[str, Any]:
        """JSON-safe dict for Optuna storage (NaN becomes None, and is left out of measures)."""
        record = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }
        record["measures"] = {k: v for k, v in self.measures.items() if math.isfinite(v)}
        return record

    @classmethod
    def from_attr(cls, attr: dict[str, Any]) -> Candidate:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {
            k: (math.nan if v is None and fields[k].type == "float" else v)
            for k, v in attr.items()
            if k in fields
        }
        return cls(**values)


def save_candidate(trial: optuna.Trial, candidate: Candidate) -> None:
    """Persist the record in the (running) trial, before it is told."""
    trial.set_user_attr(RECORD_ATTR, candidate.as_attr())


def stored_candidate(trial: FrozenTrial) -> Candidate | None:
    """The record as saved, whatever the trial's state: a RUNNING trial with a finished record
    was killed between its record and its tell."""
    attr = trial.user_attrs.get(RECORD_ATTR)
    if attr is None:
        return None
    return Candidate.from_attr(attr)


def load_candidate(trial: FrozenTrial) -> Candidate | None:
    """The record, `running` while its trial is (its saved state is not told yet)."""
    candidate = stored_candidate(trial)
    if candidate is not None and trial.state == TrialState.RUNNING:
        candidate.state = "running"
    return candidate


def unique_trained(candidates: list[Candidate]) -> list[Candidate]:
    """Feasible, trained candidates, one per archid (duplicates point at their original)."""
    return [c for c in candidates if c.state == "complete" and math.isfinite(c.val_miou)]


def front_pool(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates the front is chosen from: trained ones at the highest fidelity that any
    of them reached, so that no score is compared with one of a longer training."""
    trained = unique_trained(candidates)
    top = max((c.fidelity for c in trained), default=0)
    return [c for c in trained if c.fidelity == top]
