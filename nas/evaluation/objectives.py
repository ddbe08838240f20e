"""The objectives table: every quantity a search can optimise, declared once. The study's
directions, the Pareto front and its hypervolume, the registry aliases, the parent run's metrics,
the CSV files and the plots all read it; `search.objectives` picks which entries a search uses.
Each deployment target T (`targets.T`) adds two entries: `latency_ms.T`, the latency of the model
T deploys as T runs it (measured before training), and `val_miou.T`, that model's validation
mIoU (after training; for an FP32 target, `val_miou` itself)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas.config import Config, TargetConfig, flatten_config
from nas.errors import UserError


@dataclass(frozen=True)
class Objective:
    """One objective. `name` is also the Candidate attribute, the MLflow metric and the CSV
    column; a cheap one is measured on the untrained network, the others need a training."""

    name: str
    direction: str  # "maximize" or "minimize"
    cheap: bool
    alias: str  # the registry alias of the front member best at it
    front_metric: str  # the parent run's metric: the front's best value, per generation
    label: str  # axis label of the plots
    hv_ref_keys: tuple[str, ...]  # the hypervolume reference: the first key set (non-zero)...
    budget_key: str = ""  # config key of a budget: candidates over it are not trained (0: none)
    told: str = ""  # the Candidate attribute Optuna is told, where it is not `name`
    untrained: float = 0.0  # what Optuna is told of an untrained candidate (expensive ones)
    target: str = ""  # the deployment target it measures ("": the default measurement)

    @property
    def sign(self) -> int:
        """+1 where lower is better, -1 where higher is: sign * value is a cost."""
        return 1 if self.direction == "minimize" else -1


_TABLE = (
    # Optuna is told the partial training's (fidelity-0) score: nas.search.promotion says why
    Objective("val_miou", "maximize", cheap=False, alias="pareto-best-iou",
              front_metric="best_miou", label="validation mIoU (promoted score if any)",
              hv_ref_keys=("search.hv_ref.val_miou",), told="val_miou_f0"),
    Objective("latency_ms", "minimize", cheap=True, alias="pareto-fastest",
              front_metric="lowest_latency_ms", budget_key="budgets.max_latency_ms",
              label="ONNX Runtime CPU latency (ms, median)",
              hv_ref_keys=("search.hv_ref.latency_ms",)),
    Objective("num_params", "minimize", cheap=True, alias="pareto-smallest",
              front_metric="lowest_num_params", label="parameters",
              hv_ref_keys=("budgets.max_params", "search.hv_ref.num_params"),
              budget_key="budgets.max_params"),
    Objective("macs", "minimize", cheap=True, alias="pareto-fewest-macs",
              label="multiply-accumulates per image", front_metric="lowest_macs",
              hv_ref_keys=("search.hv_ref.macs",)),
)  # fmt: skip
OBJECTIVES: dict[str, Objective] = {o.name: o for o in _TABLE}
KNEE_ALIAS = "pareto-knee"  # the front member farthest from the line (plane) through its ends


def target_objectives(name: str, target: TargetConfig) -> tuple[Objective, Objective]:
    """The two entries a deployment target adds: its latency and its model's mIoU."""
    run_as = f"{target.precision}, {target.threads} thread(s)"
    latency = Objective(
        f"latency_ms.{name}", "minimize", cheap=True, alias=f"{name}-fastest",
        front_metric=f"lowest_latency_ms.{name}", label=f"latency on {name} ({run_as}; ms)",
        hv_ref_keys=(f"targets.{name}.hv_ref_ms", "search.hv_ref.latency_ms"),
        budget_key=f"targets.{name}.max_latency_ms", target=name,
    )  # fmt: skip
    miou = Objective(
        f"val_miou.{name}", "maximize", cheap=False, alias=f"{name}-best-iou",
        front_metric=f"best_miou.{name}", label=f"validation mIoU of the {target.precision} model",
        hv_ref_keys=("search.hv_ref.val_miou",), told=f"val_miou_f0.{name}", target=name,
    )  # fmt: skip
    return latency, miou


def objective_table(config: Config) -> dict[str, Objective]:
    """Every objective a search with this config can optimise, by name."""
    table = dict(OBJECTIVES)
    for name, target in config.targets.items():
        table.update({o.name: o for o in target_objectives(name, target)})
    return table


def objectives_for(config: Config) -> tuple[Objective, ...]:
    """The objectives `search.objectives` names, in its order (Optuna's values follow it)."""
    names, table = config.search.objectives, objective_table(config)
    unknown = [name for name in names if name not in table]
    if unknown or len(set(names)) != len(names) or len(names) < 2:
        raise UserError(
            f"search.objectives = {list(names)}: expected two or more different names of "
            f"{list(table)} (nas/evaluation/objectives.py; a name with a dot needs its target "
            "under targets)."
        )
    return tuple(table[name] for name in names)


def knee_alias(objectives: Sequence[Objective]) -> str:
    """`pareto-knee`, or `T-knee` where the objectives measure deployment target T alone."""
    targets = {o.target for o in objectives if o.target or o.name in ("val_miou", "latency_ms")}
    return f"{targets.pop()}-knee" if len(targets) == 1 and "" not in targets else KNEE_ALIAS


DEFAULT_OBJECTIVES = objectives_for(Config())


def axes(objectives: Sequence[Objective]) -> tuple[Objective, ...]:
    """The objectives in the order of a front's axes: the cheap ones first (the plots' x axes,
    and the order a front is sorted in), then those that need training."""
    return tuple(sorted(objectives, key=lambda o: not o.cheap))


def _setting(config: Config, key: str) -> Any:
    return flatten_config(config)[key]


def reference_settings(
    config: Config, objectives: Sequence[Objective]
) -> list[tuple[Objective, str, float]]:
    """Per axis (see `axes`): the objective, the config key its hypervolume reference comes
    from (the first of `hv_ref_keys` that is set, i.e. non-zero, else the last) and its value."""
    settings = []
    for o in axes(objectives):
        key = next((k for k in o.hv_ref_keys if _setting(config, k)), o.hv_ref_keys[-1])
        settings.append((o, key, float(_setting(config, key))))
    return settings


def reference_point(config: Config, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """The hypervolume reference point, one value per axis."""
    return tuple(value for _, _, value in reference_settings(config, objectives))


def budgeted(config: Config) -> tuple[Objective, ...]:
    """The objectives whose budgets gate training: the parameter budget always; of the latency
    budgets, those of the latencies the search optimises, or the default one where it optimises
    none (so an FP32 budget does not hold back a model that its INT8 target searched runs
    within budget)."""
    searched = [o for o in objectives_for(config) if o.name.startswith("latency_ms")]
    gated = [o for o in _TABLE if o.budget_key and not o.name.startswith("latency_ms")]
    return (*gated, *(searched or [OBJECTIVES["latency_ms"]]))


def constraints(config: Config, measured: Any) -> dict[str, float]:
    """Optuna constraints (<= 0 is feasible) of the budgeted objectives: how far `measured` is
    over each budget (a value not measured counts as over it); a budget of 0 means none."""
    out = {}
    for o in budgeted(config):
        budget, value = _setting(config, o.budget_key), float(getattr(measured, o.name))
        over = value - budget if math.isfinite(value) else 1e9
        out[o.name] = over if budget > 0 else 0.0
    return out
