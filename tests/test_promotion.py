"""Multi-fidelity promotion with a stub executor: the choice of the front, resume and duplicates
never repeat a promotion; the sampler setting. (Promotion once per front member, with the
registry and the front taking the promoted score: tests/test_tracking.py, on its search.)"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from nas.config import PromotionConfig, TrainingConfig
from nas.search.candidates import Candidate
from nas.search.promotion import choose, near_front, promotion_training, rank_correlation
from nas.search.study import make_sampler
from tests.test_search import (
    NARROW,
    StubExecutor,
    _study,
    run_with,
    store,
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
