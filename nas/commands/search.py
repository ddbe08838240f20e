"""One `search` command end to end: data, the parent MLflow run, the study, the executor, the
generation loop and the registry, wired together in the driver process."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import yaml
from mlflow.entities import RunStatus

from nas import stopping
from nas.config import Config, config_to_dict
from nas.data.dataset import load_data
from nas.data.face_synthetics import Splits
from nas.evaluation.job import job_template
from nas.evaluation.metrics import majority_baseline_miou
from nas.evaluation.targets import Deployment, calibration_sample
from nas.redact import redact_url
from nas.search.checks import SearchError, check_search_config
from nas.search.executors import Executor, make_executor
from nas.search.lock import study_lock
from nas.search.loop import SearchState, run_generations
from nas.search.pending import PendingOutcomes
from nas.search.study import open_study, resolve_storage
from nas.tracking import preflight, runs, ui
from nas.tracking.runs import TAG_KIND, TAG_STUDY
from nas.tracking.search_run import SearchTracker

log = logging.getLogger(__name__)


def _log_parent(config: Config, splits: Splits, storage: str, executor_text: str) -> float:
    """Config, data set and environment on the parent run (every setting as the value used,
    no password); returns the majority-class baseline mIoU of the validation split."""
    run_id = mlflow.active_run().info.run_id
    client = mlflow.MlflowClient()
    runs.log_new_params(client, run_id, runs.setting_params(config, splits.source, storage))
    mlflow.set_tags(
        {
            TAG_STUDY: config.search.study_name,
            TAG_KIND: "search",
            "nas.optuna_storage": redact_url(storage),
            "nas.executor": executor_text,
        }
    )
    search = dataclasses.replace(config.search, storage=redact_url(config.search.storage))
    given = config_to_dict(dataclasses.replace(config, search=search))  # as given: reusable
    mlflow.log_text(yaml.safe_dump(given, sort_keys=False), "config.yaml")
    runs.log_dataset(splits.val.images[:1], splits.source, splits.digest, "search")
    baseline = majority_baseline_miou(np.asarray(splits.val.labels), config.model.num_classes)
    mlflow.log_metric("baseline_miou", baseline)
    sizes = {f"data.num_{s}": len(getattr(splits, s).ids) for s in ("train", "val", "test")}
    runs.log_new_params(client, run_id, {**sizes, "data.digest": splits.digest})
    return baseline


def _stop(experiment_id: str, study: str, parent_id: str) -> None:
    """A stopped search: its candidates' open runs and its own are marked KILLED; the Optuna
    trials it was running stay RUNNING, which the next run of the command re-queues."""
    killed = runs.close_stale_runs(mlflow.MlflowClient(), experiment_id, study, parent_id)
    mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
    log.warning("search stopped: %d candidate run(s) and the search run marked KILLED", len(killed))


def run(config: Config, output_dir: Path) -> dict[str, Any]:
    """Run or resume the search; returns the registered front's summary."""
    check_search_config(config)
    preflight.check_tracking_server(runs.tracking_uri())
    preflight.explain_retries()
    storage = resolve_storage(config, runs.tracking_uri())
    with study_lock(storage, config.search.study_name, config.data.cache_dir):
        return _search(config, output_dir, storage)


def _run_search(
    config: Config,
    output_dir: Path,
    storage: str,
    splits: Splits,
    study: optuna.Study,
    executor: Executor,
    parent_id: str,
) -> dict[str, Any]:
    """Inside the search's parent run: log it, run the generations, register the front."""
    experiment_id = mlflow.active_run().info.experiment_id
    stale = runs.close_stale_runs(
        mlflow.MlflowClient(), experiment_id, config.search.study_name, parent_id
    )
    if stale:
        log.warning("closed %d runs left RUNNING by an earlier, killed search", len(stale))
    baseline = _log_parent(config, splits, storage, executor.description)
    tracker = SearchTracker(config, experiment_id, parent_id, output_dir)
    template = job_template(config, splits)
    pending = PendingOutcomes(output_dir / ".pending", config.search.study_name)
    state = SearchState(config, study, executor, tracker, template, pending=pending)
    state.deployment = deployment(config, splits, executor)
    candidates = run_generations(state)
    summary = tracker.register(candidates)
    timing = state.timings.as_metrics()
    mlflow.log_metrics(timing)
    (output_dir / "summary.yaml").write_text(yaml.safe_dump({**summary, **timing}))
    return {
        **summary,
        **timing,
        "run_id": parent_id,
        "run_url": ui.run_url(experiment_id, parent_id),
        "candidates": candidates,
        "baseline_miou": baseline,
    }


def deployment(config: Config, splits: Splits, executor: Executor) -> Deployment | None:
    """The search's deployment targets ready to measure candidates (None without targets): the
    calibration sample of its training images, and the executor's timer for targets bound to a
    Ray resource (each checked to be advertised by a node)."""
    if not config.targets:
        return None
    bound = {name: t for name, t in config.targets.items() if t.resource}
    remote = executor.timer(config.model.image_size, config.latency, bound) if bound else None
    if bound and remote is None:
        name, target = next(iter(bound.items()))
        raise SearchError(
            f"targets.{name}.resource = {target.resource!r} needs Ray to reach the node that "
            f"advertises it; search.executor is {config.search.executor!r}. Use "
            "search.executor=ray, or leave the resource empty to time the target here."
        )
    sample = calibration_sample(splits.train.images, config.quantization)
    int8 = any(t.precision == "int8" for t in config.targets.values())
    return Deployment(
        dict(config.targets),
        config.latency,
        config.quantization,
        config.model.image_size,
        sample if int8 else None,
        remote,
    )


def _search(config: Config, output_dir: Path, storage: str) -> dict[str, Any]:
    """The search itself, its study locked to this process."""
    splits = load_data(config.data, config.model.image_size)
    experiment_id = runs.experiment_for(config.tracking.experiment_name)
    study = open_study(config, storage)
    output_dir.mkdir(parents=True, exist_ok=True)
    executor = make_executor(config.search)
    try:
        with (
            mlflow.start_run(
                experiment_id=experiment_id, run_name=f"search-{config.search.study_name}"
            ) as parent,
            stopping.safe_points(),
        ):
            parent_id = parent.info.run_id
            try:
                return _run_search(config, output_dir, storage, splits, study, executor, parent_id)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: see entrypoints.cli.run_main
                _stop(experiment_id, config.search.study_name, parent_id)
                raise
    finally:
        executor.close()
