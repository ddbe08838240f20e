"""Multi-fidelity promotion with a stub executor: once per front member, the registry and the
front take the promoted score, resume and duplicates never repeat a promotion; the sampler
setting."""

from __future__ import annotations

import math
from collections import Counter

import mlflow
import pytest

from nas.config import PromotionConfig, TrainingConfig
from nas.search.candidates import Candidate
from nas.search.promotion import choose, near_front, promotion_training, rank_correlation
from nas.search.study import make_sampler
from tests.test_search import (
    NARROW,
    StubExecutor,
    _child_runs,
    _study,
    run_with,
    store,
    stub_miou,
    tiny_config,
)

__all__ = ["store"]  # the fixture, imported for these tests
PROMOTE = {"promotion.enabled": "true", "promotion.epochs_factor": 4}


def _candidate(number: int, miou: float, latency: float) -> Candidate:
    return Candidate(number, 0, f"a{number}", "", "complete", miou, latency, val_miou_f0=miou)


def test_near_front_and_choice() -> None:
    pool = [
        _candidate(0, 0.2, 1.0),
        _candidate(1, 0.5, 2.0),
        _candidate(2, 0.48, 3.0),
        _candidate(3, 0.3, 4.0),
    ]
    assert [c.archid for c in near_front(pool, 0.0)] == ["a0", "a1"]
    assert [c.archid for c in near_front(pool, 0.05)] == ["a0", "a1", "a2"]  # 0.48 + 0.05 > 0.5
    cfg = PromotionConfig(enabled=True, miou_slack=0.05, max_per_generation=2)
    assert [c.archid for c in choose(pool, set(), cfg)] == ["a1", "a0"]  # the front first
    assert [c.archid for c in choose(pool, {"a1"}, cfg)] == ["a0", "a2"]


def test_promotion_training_is_longer_with_another_seed() -> None:
    partial = TrainingConfig(epochs=1.0, max_steps=30, seed=3, lr_schedule="cosine")
    promoted = promotion_training(partial, PromotionConfig(epochs_factor=4, seed_offset=1))
    assert (promoted.epochs, promoted.max_steps, promoted.seed) == (4.0, 120, 4)
    assert promoted.lr_schedule == "cosine" and promoted.lr == partial.lr


def test_rank_correlation() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 2], [1, 2]))


def test_front_members_are_promoted_once_and_registered_with_the_higher_score(
    store, data_cache, monkeypatch
) -> None:
    executor = StubExecutor()
    config = tiny_config(data_cache, **{**NARROW, **PROMOTE, "search.study_name": "promo"})
    summary = run_with(executor, config, store / "out", monkeypatch)
    promotions = [(a, e) for a, seed, e in executor.trainings if seed == 1]
    assert promotions, "the front of every generation is promoted"
    assert len(promotions) == len({a for a, _ in promotions})  # once per archid
    assert {e for _, e in promotions} == {config.partial_training.epochs * 4}
    study = _study(store, "promo")
    records = {
        k.split(":", 1)[1]: v for k, v in study.user_attrs.items() if k.startswith("promotion:")
    }
    assert set(records) == {a for a, _ in promotions}
    for trial in study.get_trials():  # Optuna keeps the partial (fidelity-0) score
        if trial.user_attrs["nas"]["state"] in ("complete", "duplicate"):
            assert trial.values[0] == pytest.approx(stub_miou(trial.user_attrs["nas"]["archid"]))

    client = mlflow.MlflowClient()
    versions = client.search_model_versions("name = 'face-seg-hourglass'")
    assert {v.tags["nas.archid"] for v in versions} <= set(records)
    for v in versions:  # the registry holds promoted models and their promoted scores
        archid = v.tags["nas.archid"]
        assert v.tags["nas.fidelity"] == "1"
        assert float(v.tags["val_miou"]) == pytest.approx(stub_miou(archid, 1), abs=1e-6)
        assert float(v.tags["val_miou_f0"]) == pytest.approx(stub_miou(archid), abs=1e-6)
        assert v.source == records[archid]["model_uri"]
    best = client.get_model_version_by_alias("face-seg-hourglass", "pareto-best-iou")
    assert float(best.tags["val_miou"]) == max(float(v.tags["val_miou"]) for v in versions)

    runs = _child_runs("promo")
    promoted_runs = runs[runs["tags.nas.fidelity"] == "1"]
    assert len(promoted_runs) == len(records)
    run_id = promoted_runs["run_id"].iloc[0]
    steps = [m.step for m in client.get_metric_history(run_id, "val_miou")]
    assert sorted(steps) == [0, 1]
    parent = summary["run_id"]
    assert [m.value for m in client.get_metric_history(parent, "num_promoted")][-1] == len(records)
    if len(records) >= 3:
        history = client.get_metric_history(parent, "proxy_spearman")
        low = [stub_miou(a) for a in records]
        high = [stub_miou(a, 1) for a in records]
        assert history[-1].value == pytest.approx(rank_correlation(low, high))


def test_resume_and_duplicates_never_repeat_a_promotion(store, data_cache, monkeypatch) -> None:
    overrides = {**NARROW, **PROMOTE, "search.study_name": "promo-resume", "search.generations": 2}
    first = StubExecutor()
    run_with(first, tiny_config(data_cache, **overrides), store / "out", monkeypatch)
    again = StubExecutor()
    run_with(again, tiny_config(data_cache, **overrides), store / "out", monkeypatch)
    assert again.trainings == []  # a finished study is only re-reported
    more = StubExecutor()
    overrides["search.generations"] = 4
    run_with(more, tiny_config(data_cache, **overrides), store / "out", monkeypatch)
    counts = Counter((a, seed) for a, seed, _ in first.trainings + more.trainings)
    assert max(counts.values()) == 1  # no archid trained twice at the same fidelity
    study = _study(store, "promo-resume")
    assert len(study.get_trials()) == 4 * 8


@pytest.mark.parametrize("sampler", ["random", "nsga2", "tpe", "nsga3"])
def test_samplers_run_the_tiny_search(sampler, store, data_cache, monkeypatch) -> None:
    name = f"sampler-{sampler}"
    config = tiny_config(data_cache, **{"search.sampler": sampler, "search.study_name": name})
    summary = run_with(StubExecutor(), config, store / "out", monkeypatch)
    trials = _study(store, name).get_trials()
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    assert summary["versions"]
    expected = {
        "random": "RandomSampler",
        "nsga2": "NSGAIISampler",
        "tpe": "TPESampler",
        "nsga3": "NSGAIIISampler",
    }[sampler]
    assert type(make_sampler(config).sampler).__name__ == expected
