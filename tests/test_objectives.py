"""The objectives table: an N-objective front, hypervolume and knee on known points, the tiny
search with a third objective end to end, the executor registry and the renamed config key."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import optuna
import pandas as pd
import pytest

from nas.config import HV_REF, load_config
from nas.errors import UserError
from nas.evaluation.objectives import OBJECTIVES, objectives_for, reference_point
from nas.search.candidates import Candidate
from nas.search.executors import EXECUTORS, SerialExecutor, make_executor, register_executor
from nas.search.pareto import hypervolume, knee, pareto_front
from tests.test_search import StubExecutor, _study, run_with, store, stub_miou, tiny_config

__all__ = ["store"]  # the fixture, imported for these tests
THREE = [OBJECTIVES[name] for name in ("val_miou", "latency_ms", "num_params")]


@dataclass
class Point:
    archid: str
    val_miou: float
    latency_ms: float
    num_params: int


POINTS = [
    Point("a", 0.5, 1.0, 300),
    Point("b", 0.6, 2.0, 100),
    Point("c", 0.4, 3.0, 200),
    Point("d", 0.7, 4.0, 400),
]


def test_three_objective_front_and_hypervolume() -> None:
    # c is dominated by b (better mIoU, latency and parameters); the rest trade off
    assert [p.archid for p in pareto_front(POINTS, THREE)] == ["a", "b", "d"]
    # reference (5 ms, 500 params, mIoU 0), sliced along latency: [1, 2) holds a's box 200 x 0.5;
    # [2, 4) a and b, where b covers a: 400 x 0.6; [4, 5) b and d: 240 + 100 x (0.7 - 0.6)
    assert hypervolume(POINTS, 5.0, 500.0, 0.0, objectives=THREE) == pytest.approx(
        1 * 100 + 2 * 240 + 1 * 250
    )
    # a point beyond the reference in any objective adds nothing
    assert hypervolume(POINTS, 5.0, 250.0, 0.0, objectives=THREE) == pytest.approx(3 * 150 * 0.6)


def test_three_objective_knee() -> None:
    # a, b and d are each best in one objective and span the plane; e lies off it
    front = pareto_front([*POINTS, Point("e", 0.68, 3.0, 150)], THREE)
    assert [p.archid for p in front] == ["a", "b", "e", "d"]
    assert knee(front, THREE).archid == "e"
    # two points: the best mIoU per (ms x parameter)
    assert knee(front[:2], THREE).archid == "b"


def test_objective_names_and_reference_point() -> None:
    config = load_config([], {"search.objectives": "[val_miou, latency_ms, macs]"})
    assert [o.direction for o in objectives_for(config)] == ["maximize", "minimize", "minimize"]
    assert reference_point(config, objectives_for(config)) == (1000.0, 50e9, 0.0)
    budget = load_config(
        [], {"search.objectives": "[num_params, val_miou]", "budgets.max_params": 5000}
    )
    assert reference_point(budget, objectives_for(budget)) == (5000.0, 0.0)
    for bad in ("[val_miou, flops]", "[val_miou, val_miou]", "[val_miou]"):
        with pytest.raises(UserError, match="search.objectives"):
            objectives_for(load_config([], {"search.objectives": bad}))
    assert set(HV_REF) == set(OBJECTIVES)  # search.hv_ref holds one entry per objective


def test_a_third_objective_runs_the_tiny_search(store, data_cache, monkeypatch) -> None:
    names = ["val_miou", "latency_ms", "num_params"]
    config = tiny_config(
        data_cache, **{"search.objectives": f"[{', '.join(names)}]", "search.study_name": "three"}
    )
    summary = run_with(StubExecutor(), config, store / "out", monkeypatch)

    study = _study(store, "three")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    assert study.metric_names == names
    for trial in study.get_trials(states=[optuna.trial.TrialState.COMPLETE]):
        record = trial.user_attrs["nas"]
        assert trial.values[0] == pytest.approx(stub_miou(record["archid"]))
        assert trial.values[1:] == [record["latency_ms"], record["num_params"]]

    assert set(summary["aliases"]) == {
        "pareto-best-iou",
        "pareto-fastest",
        "pareto-smallest",
        "pareto-knee",
    }
    state = pd.read_csv(store / "out" / "search_state_1.csv")
    trained = [
        Candidate(
            int(r.trial_number),
            0,
            r.archid,
            "",
            "complete",
            r.val_miou,
            r.latency_ms,
            num_params=int(r.num_params),
        )
        for r in state.itertuples()
        if r.state == "complete"
    ]
    front = {c.archid for c in pareto_front(trained, THREE)}
    assert set(state.loc[state["is_pareto"], "archid"]) == front
    assert set(summary["versions"]) == front

    client = mlflow.MlflowClient()
    smallest = client.get_model_version_by_alias("face-seg-hourglass", "pareto-smallest")
    assert int(smallest.tags["num_params"]) == min(
        c.num_params for c in trained if c.archid in front
    )
    parent = summary["run_id"]
    assert [m.step for m in client.get_metric_history(parent, "hypervolume")] == [0, 1]
    assert client.get_metric_history(parent, "lowest_num_params")[-1].value == int(
        smallest.tags["num_params"]
    )
    page = (store / "out" / "pareto_evolution.html").read_text()
    assert '"xaxis2"' in page and '"xaxis3"' not in page  # two panels: latency, parameters

    two = tiny_config(data_cache, **{"search.study_name": "three"})
    with pytest.raises(UserError, match="objectives"):
        run_with(StubExecutor(), two, store / "out2", monkeypatch)


def test_executors_are_chosen_by_name(caplog) -> None:
    assert isinstance(
        make_executor(load_config([], {"search.executor": "serial"}).search), SerialExecutor
    )
    with pytest.raises(UserError, match="search.executor = 'dask'"):
        make_executor(load_config([], {"search.executor": "dask"}).search)

    @register_executor("inline")
    class InlineExecutor(SerialExecutor):
        description = "inline"

    try:
        config = load_config([], {"search.executor": "inline"})
        assert make_executor(config.search).description == "inline"
    finally:
        del EXECUTORS["inline"]

    with caplog.at_level(logging.WARNING, logger="nas.config"):
        config = load_config([], {"search.serial_training": "true"})
    assert config.search.executor == "serial"
    assert "search.serial_training is deprecated" in caplog.text
    assert load_config([], {"search.serial_training": "false"}).search.executor == "ray"
