"""Multi-fidelity promotion: the candidates on (or near) the partial-training front are trained
again for longer, and that higher-fidelity score stands for them in the front and the registry.

Optuna's pruners refuse multi-objective studies, so fidelity is handled here. Optuna itself is
told every trial's fidelity-0 score only: it is the one score all trials have, and NSGA-II
compares trials with one another, so a promoted trial must not outrank an equal one merely for
its longer training. Each promotion is kept in the study as a user attribute named
`promotion:<archid>`, which makes it durable across resumes and unique per architecture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import optuna

from nas.config import PromotionConfig, TrainingConfig
from nas.evaluation.objectives import DEFAULT_OBJECTIVES, Objective, axes
from nas.search.candidates import Candidate, unique_trained
from nas.search.pareto import Costs, dominates_costs, nondominated

PROMOTED = 1  # the fidelity level of a promoted score; 0 is the partial training
ATTR_PREFIX = "promotion:"


def promotion_training(partial: TrainingConfig, cfg: PromotionConfig) -> TrainingConfig:
    """The partial recipe `epochs_factor` times longer (its learning-rate schedule stretched)
    with another training seed."""
    factor = cfg.epochs_factor
    return dataclasses.replace(
        partial,
        epochs=partial.epochs * factor,
        max_steps=int(round(partial.max_steps * factor)),
        seed=partial.seed + cfg.seed_offset,
    )


def _partial_costs(c: Candidate, objectives: Sequence[Objective], slack: float) -> Costs:
    """c's cost vector (nas.search.pareto) with each trained objective at its partial-training
    (fidelity-0) value, improved by `slack`."""
    return tuple(
        o.sign * getattr(c, o.name) if o.cheap else o.sign * getattr(c, o.told or o.name) - slack
        for o in axes(objectives)
    )


def near_front(
    candidates: Sequence[Candidate],
    slack: float,
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
) -> list[Candidate]:
    """Trained candidates that no other dominates by partial score once `slack` mIoU is added to
    theirs (slack 0: the partial-training Pareto front itself)."""
    scored = [(_partial_costs(c, objectives, 0.0), c) for c in unique_trained(list(candidates))]
    pool = [(costs, c) for costs, c in scored if all(math.isfinite(x) for x in costs)]
    # a vector dominated by any of the pool is dominated by one of the pool's front
    front = [pool[i][0] for i in nondominated([costs for costs, _ in pool])]
    raised = [(_partial_costs(c, objectives, slack), c) for _, c in pool]
    return [c for mine, c in raised if not any(dominates_costs(o, mine) for o in front)]


def choose(
    candidates: Sequence[Candidate],
    done: set[str],
    cfg: PromotionConfig,
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
) -> list[Candidate]:
    """The candidates to promote now: near the front and not promoted (or tried) before; with a
    cap, those on the front itself first, then by partial score."""
    chosen = [c for c in near_front(candidates, cfg.miou_slack, objectives) if c.archid not in done]
    on_front = {c.archid for c in near_front(candidates, 0.0, objectives)}
    trained = [i for i, o in enumerate(axes(objectives)) if not o.cheap]

    def order(c: Candidate) -> tuple:
        partial = _partial_costs(c, objectives, 0.0)
        return (c.archid not in on_front, [partial[i] for i in trained], c.trial_number)

    chosen.sort(key=order)
    return chosen[: cfg.max_per_generation] if cfg.max_per_generation > 0 else chosen


def load_records(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """archid -> its promotion record, as kept in the study."""
    return {
        key[len(ATTR_PREFIX) :]: value
        for key, value in study.user_attrs.items()
        if key.startswith(ATTR_PREFIX)
    }


def save_record(study: optuna.Study, archid: str, record: dict[str, Any]) -> None:
    study.set_user_attr(f"{ATTR_PREFIX}{archid}", record)


def apply_record(c: Candidate, record: dict[str, Any]) -> None:
    """Let a successful promotion's score and model stand for the candidate."""
    if record.get("ok"):
        c.val_miou, c.fidelity = float(record["val_miou"]), int(record["fidelity"])
        c.model_uri = record.get("model_uri") or c.model_uri
        c.int8_model_uri = record.get("int8_model_uri") or c.int8_model_uri
        c.measures = {**c.measures, **record.get("measures", {})}  # a copy: c's own


def rank_correlation(low: Sequence[float], high: Sequence[float]) -> float:
    """Spearman's rank correlation (NaN for fewer than 3 pairs or a constant side)."""
    if len(low) < 3 or len(set(low)) < 2 or len(set(high)) < 2:
        return math.nan
    from scipy import stats  # here: importing it costs every search command a second

    return float(stats.spearmanr(low, high).statistic)
