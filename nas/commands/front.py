"""The `train` command on a whole Pareto front: `train -P arch=models:/NAME` trains every version
the latest search registered under NAME (or those a select-style budget picks) with the final
recipe, in parallel on the search's executor, one child run each under one parent run; times
each trained model (and its deployment targets) once every training is done; registers each under
the trained model name; and reports whether the partial ranking held (nas.tracking.front_report).
A killed front training resumes with the members not yet trained."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from nas.arch.archjson import parse_arch
from nas.arch.model import StackedHourglass, check_image_size
from nas.arch.profile import count_params
from nas.arch.space import Genome
from nas.commands import select, train
from nas.config import Config, load_config
from nas.data.dataset import load_data
from nas.data.face_synthetics import Splits
from nas.errors import UserError
from nas.evaluation.job import Outcome, job_template
from nas.search.executors import make_executor
from nas.search.lock import study_lock
from nas.search.pending import PendingOutcomes
from nas.tracking import front_report, preflight, runs
from nas.tracking.front_report import TAG_SOURCE_VERSION, TAG_TRAINED_VERSION
from nas.tracking.runs import TAG_KIND, TAG_STUDY

log = logging.getLogger(__name__)
FRONT_KIND = "train-front"  # the parent run's nas.kind
TAG_FRONT_OF = "nas.front_of"  # the search run whose front it trains
KILLED = RunStatus.to_string(RunStatus.KILLED)


def is_front(arch: str) -> bool:
    """`models:/NAME`, without a version or an alias: a registered model's latest front."""
    return arch.startswith("models:/") and not any(c in arch[len("models:/") :] for c in "@/")


@dataclass(frozen=True)
class Member:
    """A version of the search's front, to be trained with the final recipe."""

    version: str
    archid: str
    arch_json: str
    partial_miou: float  # the search's score of it (its partial or promoted training)
    run_id: str  # its candidate run

    def genome(self) -> Genome:
        return parse_arch(json.loads(self.arch_json), f"version {self.version}")


@dataclass(frozen=True)
class Front:
    """The front of one search of registered model `name`, and where its training goes."""

    name: str
    search_run: str
    members: list[Member]
    config: Config
    output_dir: Path

    @property
    def study(self) -> str:
        """The front training's name in tags, locks and kept outcomes: the same command again
        resumes it; another recipe or trained model name is another front training."""
        recipe = {
            "trained_model": self.config.tracking.trained_model,
            "final_training": dataclasses.asdict(self.config.final_training),
        }
        digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]
        return f"front-{self.search_run}-{digest}"


def front_members(
    client: MlflowClient, name: str, budgets: select.Budgets
) -> tuple[str, list[Member]]:
    """The search run that registered the newest version of `name`, and the versions it
    registered (within `budgets`): its front. An unknown or empty model is a UserError."""
    choices = select.read_versions(client, name, asked_as=f"arch 'models:/{name}'")
    newest = max(choices, key=lambda c: int(c.version))
    search_run = newest.tags.get("nas.search_run_id", "")
    mine = [c for c in choices if search_run and c.tags.get("nas.search_run_id") == search_run]
    picked = select.choose(mine, budgets) if budgets != select.Budgets() else mine
    if not picked:
        raise UserError(
            f"arch models:/{name}: no version of its newest search meets the budget "
            f"{select.describe(budgets)} (the search registered {len(mine)}; version "
            f"{newest.version} {'is' if search_run else 'is not'} from a search). Expected the "
            "name of a model a search registered its front under, and a budget it meets."
        )
    return search_run, [_member(c) for c in sorted(picked, key=lambda c: int(c.version))]


def _member(choice: select.Choice) -> Member:
    run_id = choice.tags.get("nas.candidate_run_id", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = runs.download_version_file(
            choice.name,
            choice.version,
            lambda: mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"{choice.archid}.json", dst_path=tmp
            ),
            f"architecture file {choice.archid}.json",
        )
        text = path.read_text()
    return Member(choice.version, choice.archid, text, choice.val_miou, run_id)


def front_config(
    client: MlflowClient, search_run: str, files: list[str], overrides: dict[str, Any]
) -> Config:
    """The search's own configuration (its config.yaml), then `files`, then `overrides`: the
    members are trained at the search's image size, on its data, with its targets."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            searched = yaml.safe_load(
                Path(client.download_artifacts(search_run, "config.yaml", tmp)).read_text()
            )
        except mlflow.exceptions.MlflowException:
            raise UserError(
                f"the search run {search_run} holds no config.yaml, so its front cannot be "
                "trained with the search's settings; train its versions one at a time "
                "(arch=models:/NAME/VERSION) with -P config=YOUR.yaml."
            ) from None
        searched.get("search", {}).pop("storage", None)  # as logged: without its password
        base = Path(tmp) / "search.yaml"
        base.write_text(yaml.safe_dump(searched))
        return load_config([base, *files], overrides)


def run(
    name: str,
    files: list[str],
    overrides: dict[str, Any],
    output_dir: Path,
    budgets: select.Budgets,
) -> dict[str, Any]:
    """Train the front of registered model `name`; returns the report's figures and rows."""
    preflight.check_tracking_server(runs.tracking_uri())
    preflight.explain_retries()
    client = MlflowClient()
    search_run, members = front_members(client, name, budgets)
    config = front_config(client, search_run, files, overrides)
    for m in members:
        check_image_size(m.genome(), config.model.image_size, f"version {m.version}")
    front = Front(name, search_run, members, config, output_dir)
    with study_lock(f"mlflow-front:{runs.tracking_uri()}", front.study, config.data.cache_dir):
        return _train_front(client, front)


def _train_front(client: MlflowClient, front: Front) -> dict[str, Any]:
    config = front.config
    splits = load_data(config.data, config.model.image_size)
    experiment_id = runs.experiment_for(config.tracking.experiment_name)
    front.output_dir.mkdir(parents=True, exist_ok=True)
    pending = PendingOutcomes(front.output_dir / ".pending", front.study)
    name = f"train-front-{front.search_run[:8]}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as parent:
        parent_id = parent.info.run_id
        mlflow.set_tags(
            {
                TAG_KIND: FRONT_KIND,
                TAG_FRONT_OF: front.search_run,
                TAG_STUDY: front.study,
                "nas.source_model": front.name,
            }
        )
        stale = runs.close_stale_runs(client, experiment_id, front.study, parent_id)
        if stale:
            log.warning("closed %d runs left RUNNING by a killed front training", len(stale))
        try:
            done = _finished_members(client, experiment_id, front.study)
            todo = [m for m in front.members if m.version not in done]
            started = time.perf_counter()
            outcomes = _train_all(config, splits, todo, pending)
            mlflow.log_metric("training_wall_seconds", time.perf_counter() - started)
            for m in todo:  # every training is done: each model is timed alone
                done[m.version] = _record(client, front, splits, m, outcomes[m.version])
                pending.drop(int(m.version))
            rows = [done[m.version] for m in front.members]
            return front_report.report(client, config, rows, front.output_dir)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: see entrypoints.cli.run_main
            runs.close_stale_runs(client, experiment_id, front.study, parent_id)
            mlflow.end_run(KILLED)
            raise


def _finished_members(
    client: MlflowClient, experiment_id: str, study: str
) -> dict[str, dict[str, Any]]:
    """version -> its report row, for the members an earlier (killed) run of this front
    training finished: their run FINISHED with a registered version."""
    done = {}
    for child in client.search_runs(
        [experiment_id],
        f"tags.`{TAG_STUDY}` = '{study}' and attributes.status = 'FINISHED'",
        max_results=5000,
    ):
        if TAG_TRAINED_VERSION in child.data.tags:
            done[child.data.tags[TAG_SOURCE_VERSION]] = front_report.row_of(child)
    return done


def _train_all(
    config: Config, splits: Splits, todo: list[Member], pending: PendingOutcomes
) -> dict[str, Outcome]:
    """The final training of every member, in parallel on the executor; an outcome is kept on
    disk as it arrives, so that a kill never trains a member twice."""
    training = config.final_training
    if training.num_threads == 0:  # as the search's trainings: a CPU slot's threads each
        training = dataclasses.replace(training, num_threads=config.search.cpus_per_job)
    template = dataclasses.replace(job_template(config, splits), training=training)
    outcomes: dict[str, Outcome] = {}
    jobs = []
    for m in sorted(todo, key=lambda m: -_size(m, config)):  # the longest first: less idle tail
        kept = pending.recover(int(m.version), m.archid)
        if kept is None:
            jobs.append(template.job(int(m.version), m.archid, m.arch_json))
        else:
            log.info("version %s was trained before the run was stopped", m.version)
            outcomes[m.version] = kept
    if jobs:
        executor = make_executor(config.search)
        log.info("training %d member(s) on %s", len(jobs), executor.description)
        try:
            for outcome in executor.run(jobs):
                pending.keep(outcome)
                outcomes[str(outcome.trial_number)] = outcome
                done = "trained" if outcome.ok else f"failed: {outcome.error.splitlines()[0]}"
                log.info("version %d %s", outcome.trial_number, done)
        finally:
            executor.close()
    return outcomes


def _size(m: Member, config: Config) -> int:
    """The member's parameters, what its training time grows with."""
    return count_params(StackedHourglass(m.genome(), config.model.num_classes))


def _record(
    client: MlflowClient, front: Front, splits: Splits, m: Member, outcome: Outcome
) -> dict[str, Any]:
    """The member's child run: its inputs, validation history, final scores, timed model and
    weights, registered under the trained model name; returns its report row."""
    with mlflow.start_run(nested=True, run_name=f"train-{m.archid[:8]}") as child:
        mlflow.set_tags(
            {
                TAG_STUDY: front.study,
                TAG_SOURCE_VERSION: m.version,
                "nas.partial_miou": f"{m.partial_miou:.6f}",
            }
        )
        train.log_inputs(front.config, m.genome(), f"models:/{front.name}/{m.version}", splits)
        if outcome.ok:
            _log_trained(front, splits, m, outcome)
        else:
            mlflow.set_tag("nas.error", outcome.error[:5000])
    if not outcome.ok:
        client.set_terminated(child.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        return front_report.failed_row(m.version, m.archid, m.partial_miou, outcome.error)
    return front_report.row_of(client.get_run(child.info.run_id))


def _log_trained(front: Front, splits: Splits, m: Member, outcome: Outcome) -> None:
    """In the member's run: its validation history, weights, final scores and timed model,
    registered under the trained model name, whose version the run's tag names."""
    for row in outcome.history:
        mlflow.log_metrics({k: v for k, v in row.items() if k != "step"}, step=int(row["step"]))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "best.pt").write_bytes(outcome.weights)
        mlflow.log_artifact(str(Path(tmp) / "best.pt"), "weights")
    tags = {
        "nas.source": f"version {m.version} of {front.name} (search run {front.search_run})",
        TAG_SOURCE_VERSION: m.version,
        "nas.source_model": front.name,
        "nas.partial_miou": f"{m.partial_miou:.6f}",
    }
    steps = int(outcome.history[-1]["step"]) if outcome.history else 0
    num_params = _size(m, front.config)
    summary = train.record_trained(
        front.config, splits, m.archid, outcome.onnx_model, outcome.metrics, steps, num_params, tags
    )
    mlflow.set_tag(TAG_TRAINED_VERSION, summary["version"])
