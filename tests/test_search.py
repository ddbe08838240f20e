"""The search loop with a stub executor: dedup, constraint gating, failures, generation counts."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest

from nas.arch.archjson import parse_arch
from nas.arch.model import StackedHourglass
from nas.commands import search as driver
from nas.config import Config, load_config
from nas.evaluation.job import Job, Outcome
from nas.evaluation.latency import export_onnx
from nas.evaluation.targets import calibration_sample, quantize_int8
from nas.search.checks import SearchError
from tests.conftest import ROOT, sqlite_store

TINY = ROOT / "confs" / "tiny.yaml"


def stub_miou(archid: str, seed: int = 0) -> float:
    """A fixed, distinct 'mIoU' per architecture and training seed (another seed reads other
    digits of the archid, so the ranking changes with it)."""
    return 0.2 + 0.6 * int(archid[6 * seed : 6 * seed + 6], 16) / 0xFFFFFF


class StubExecutor:
    """Scores each job by its archid instead of training; the ONNX model is the untrained net
    (where the job asks for the INT8 model too, that net quantized, scored a little lower)."""

    description = "stub"

    def __init__(self, fail_trials: tuple[int, ...] = ()):
        self.seen: list[str] = []
        self.trainings: list[tuple[str, int, float]] = []  # (archid, seed, epochs) of every job
        self.fail_trials = set(fail_trials)

    def run(self, jobs: list[Job]):
        for job in jobs:
            self.trainings.append((job.archid, job.training.seed, job.training.epochs))
            if job.training.seed != 0:  # a promotion
                miou = stub_miou(job.archid, job.training.seed)
                yield Outcome(
                    job.trial_number,
                    job.archid,
                    True,
                    metrics={"val_miou": miou, "train_seconds": 0.0},
                    per_class_iou=[miou] * job.num_classes,
                    onnx_model=self.onnx(job),
                )
                continue
            self.seen.append(job.archid)
            if job.trial_number in self.fail_trials:
                yield Outcome(job.trial_number, job.archid, False, "RuntimeError: boom\n...")
                continue
            miou = stub_miou(job.archid)
            onnx_model = self.onnx(job)
            outcome = Outcome(
                job.trial_number,
                job.archid,
                True,
                metrics={"val_miou": miou, "train_seconds": 0.0},
                per_class_iou=[miou] * job.num_classes,
                onnx_model=onnx_model,
            )
            if job.quantization is not None:
                images = np.random.default_rng(0).integers(0, 255, (4, *[job.image_size] * 2, 3))
                sample = calibration_sample(images.astype(np.uint8), job.quantization)
                outcome.int8_model = quantize_int8(onnx_model, sample, job.quantization)
                outcome.metrics["val_miou_int8"] = miou - 0.01
            yield outcome

    @staticmethod
    def onnx(job: Job) -> bytes:
        genome = parse_arch(json.loads(job.arch_json), "stub")
        return export_onnx(
            StackedHourglass(genome, job.num_classes), job.image_size, job.opset, job.exporter
        )

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    uri = sqlite_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    return tmp_path


def tiny_config(cache: Path, **overrides: object) -> Config:
    return load_config([TINY], {"data.cache_dir": str(cache), **overrides})


def run_with(executor: StubExecutor, config: Config, out: Path, monkeypatch) -> dict:
    monkeypatch.setattr(driver, "make_executor", lambda search: executor)
    return driver.run(config, out)


def searched_in(store: Path, executor: StubExecutor, config: Config) -> tuple[dict, str]:
    """A stub search in a fresh store in `store`, for a module's tests to share: its summary
    and the store's URI (MLflow's environment restored afterwards)."""
    uri = sqlite_store(store)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        mlflow.set_tracking_uri(uri)
        return run_with(executor, config, store / "out", patch), uri


def _study(store: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{store / 'optuna.db'}")


def _child_runs(name: str):
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=(f"tags.`nas.study` = '{name}' and tags.`nas.kind` = 'candidate'"),
    )
    return runs


NARROW = {
    "space.base_channels": "[4]",
    "space.ch_factors": "[1.0]",
    "space.ops": "[conv3x3]",
    "space.max_down_layers": 1,
    "space.max_up_layers": 1,
    "search.population_size": 8,
    "search.generations": 3,
    "search.study_name": "narrow",
}


def test_duplicates_are_never_trained_twice(store, data_cache, monkeypatch) -> None:
    executor = StubExecutor()
    summary = run_with(executor, tiny_config(data_cache, **NARROW), store / "out", monkeypatch)
    trials = _study(store, "narrow").get_trials()
    assert len(trials) == 24  # 3 generations of 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    records = [t.user_attrs["nas"] for t in trials]
    assert len(executor.seen) == len(set(executor.seen)) == len({r["archid"] for r in records})
    duplicates = [r for r in records if r["state"] == "duplicate"]
    assert duplicates, "a 16-genome space with 24 trials must repeat itself"
    for r, t in zip(records, trials, strict=True):
        assert math.isclose(t.values[0], stub_miou(r["archid"]))
    runs = _child_runs("narrow")
    assert (runs["tags.nas.duplicate_of"].notna()).sum() == len(duplicates)
    assert len(summary["versions"]) >= 1


def test_over_budget_candidates_are_logged_but_not_trained(store, data_cache, monkeypatch) -> None:
    executor = StubExecutor()
    config = tiny_config(
        data_cache,
        **{"budgets.max_params": 10000, "search.study_name": "budget", "search.generations": 3},
    )
    run_with(executor, config, store / "out", monkeypatch)
    trials = _study(store, "budget").get_trials()
    infeasible = [t for t in trials if t.user_attrs["nas"]["state"] == "infeasible"]
    assert infeasible and len(infeasible) < len(trials)
    for t in infeasible:
        assert t.user_attrs["nas"]["num_params"] > 10000
        assert t.user_attrs["nas"]["archid"] not in executor.seen
        assert t.system_attrs["constraints:num_params"] > 0
    runs = _child_runs("budget")
    assert (runs["tags.nas.feasible"] == "false").sum() == len(infeasible)
    assert set(runs.loc[runs["tags.nas.feasible"] == "false", "status"]) == {"FINISHED"}


def test_failing_candidate_is_told_fail_and_search_goes_on(store, data_cache, monkeypatch) -> None:
    executor = StubExecutor(fail_trials=(1,))
    summary = run_with(
        executor,
        tiny_config(data_cache, **{"search.study_name": "failing"}),
        store / "out",
        monkeypatch,
    )
    trials = _study(store, "failing").get_trials()
    assert trials[1].state == optuna.trial.TrialState.FAIL
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) >= 7
    failed = _child_runs("failing").query("status == 'FAILED'")
    assert len(failed) == 1 and failed["tags.nas.error"].iloc[0].startswith("RuntimeError: boom")
    assert summary["versions"]


def test_every_candidate_failing_ends_with_a_clear_error(store, data_cache, monkeypatch) -> None:
    executor = StubExecutor(fail_trials=tuple(range(100)))
    config = tiny_config(data_cache, **{"search.study_name": "allfail", "search.generations": 1})
    with pytest.raises(SearchError, match="no candidate was trained successfully"):
        run_with(executor, config, store / "out", monkeypatch)


def test_generation_files_and_parent_metrics(store, data_cache, monkeypatch) -> None:
    summary = run_with(
        StubExecutor(),
        tiny_config(data_cache, **{"search.study_name": "files"}),
        store / "out",
        monkeypatch,
    )
    out = store / "out"
    for k in (0, 1):
        assert (out / f"search_state_{k}.csv").is_file()
        assert any((out / f"pareto_models_iter_{k}").glob("*.json"))
    assert (out / "pareto_evolution.png").stat().st_size > 1000
    history = mlflow.MlflowClient().get_metric_history(summary["run_id"], "hypervolume")
    assert [m.step for m in history] == [0, 1]
    assert history[1].value >= history[0].value > 0


def test_unbuildable_candidate_fails_alone(store, data_cache, monkeypatch) -> None:
    # base 3 with factor 0.8 shrinks to 3, 2, 1, 0 channels and cannot be built; base 8 can
    config = tiny_config(
        data_cache,
        **{
            "space.base_channels": "[3, 8]",
            "space.ch_factors": "[0.8]",
            "search.study_name": "shrink",
            "search.population_size": 8,
            "search.generations": 1,
            "search.seed": 3,
        },
    )
    executor = StubExecutor()
    run_with(executor, config, store / "out", monkeypatch)
    trials = _study(store, "shrink").get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and len(failed) < len(trials)
    assert all("channel factors shrink" in t.user_attrs["nas"]["error"] for t in failed)
    runs = _child_runs("shrink")
    assert (runs["status"] == "FAILED").sum() == len(failed)


def test_registration_tags_versions_the_new_front_dominates(store, data_cache, monkeypatch) -> None:
    from nas.search.candidates import Candidate
    from nas.tracking.registry import register_front
    from nas.tracking.runs import log_onnx_model

    config = tiny_config(data_cache, **{"search.study_name": "new"})
    genome = parse_arch(
        json.loads(
            (ROOT / "archs" / ("be543f6a3d1eadc9a42496f0b40871d82d4931df.json")).read_text()
        ),
        "x",
    )
    onnx_model = export_onnx(StackedHourglass(genome), 64, 18, "torchscript")
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        uri = log_onnx_model(onnx_model, 64, 19)
    client = mlflow.MlflowClient()
    old = {"old-slow": (0.30, 9.0), "old-better": (0.90, 9.0)}
    for name, (miou, latency) in old.items():
        register_front(
            client,
            dataclasses.replace(config, search=dataclasses.replace(config.search, study_name=name)),
            [Candidate(0, 0, name, "", "complete", miou, latency, model_uri=uri)],
            run.info.run_id,
        )
    front = [
        Candidate(1, 0, "fast", "", "complete", 0.50, 1.0, model_uri=uri),
        Candidate(2, 0, "good", "", "complete", 0.60, 5.0, model_uri=uri),
    ]
    summary = register_front(client, config, front, "search-run")
    assert summary["aliases"] == {
        "pareto-best-iou": summary["versions"]["good"],
        "pareto-fastest": summary["versions"]["fast"],
        "pareto-knee": summary["versions"]["fast"],
    }  # mIoU per ms
    tags = {
        v.tags["nas.archid"]: v.tags
        for v in client.search_model_versions("name = 'face-seg-hourglass'")
    }
    assert tags["old-slow"]["nas.dominated_by"].startswith("version ")
    assert "nas.dominated_by" not in tags["old-better"]
    again = register_front(client, config, front, "search-run")  # a resumed search
    assert again["versions"] == summary["versions"]


def test_pareto_front_hypervolume_and_knee() -> None:
    from nas.search.candidates import Candidate
    from nas.search.pareto import hypervolume, knee, pareto_front

    points = [
        Candidate(i, 0, str(i), "", "complete", miou, lat)
        for i, (miou, lat) in enumerate(
            [(0.2, 1.0), (0.5, 2.0), (0.4, 3.0), (0.6, 4.0), (0.61, 10.0)]
        )
    ]
    front = pareto_front(points)
    assert [c.archid for c in front] == ["0", "1", "3", "4"]  # (0.4, 3 ms) is dominated
    # boxes to the reference (10 ms, mIoU 0): 1*0.2 + 2*0.5 + 6*0.6 + 0*0.61
    assert hypervolume(points, 10.0, 0.0) == pytest.approx(0.2 + 1.0 + 3.6)
    # scaled to [0, 1]: (0, 0), (.11, .73), (.33, .98), (1, 1); farthest from the diagonal: 3
    assert knee(front).archid == "3"
