"""The search as MLflow sees it: one child run per candidate, per-generation metrics and files on
the parent run, and the final Pareto front in the Model Registry with aliases."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from nas.config import Config
from nas.data.format import LABELS
from nas.evaluation.job import Outcome
from nas.evaluation.objectives import objectives_for, reference_point
from nas.search.candidates import Candidate, front_pool
from nas.search.pareto import best, hypervolume, pareto_front
from nas.search.promotion import rank_correlation
from nas.tracking import runs
from nas.tracking.plots import write_plots
from nas.tracking.registry import register_front
from nas.tracking.report import state_table, write_generation_files
from nas.tracking.runs import TAG_ARCHID, TAG_KIND, TAG_STUDY

log = logging.getLogger(__name__)
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
FAILED = RunStatus.to_string(RunStatus.FAILED)


def closest_parents(candidates: Sequence[Candidate], params: dict[int, dict]) -> dict[int, str]:
    """For each candidate after generation 0: the archid of the earlier candidate sharing the
    most genes with it (a proxy, since Optuna does not record NSGA-II parents)."""
    parents: dict[int, str] = {}
    for c in candidates:
        earlier = [e for e in candidates if e.generation < c.generation and e.state != "duplicate"]
        mine = params.get(c.trial_number, {})
        if not earlier or not mine:
            continue
        best = max(
            earlier,
            key=lambda e: sum(params.get(e.trial_number, {}).get(k) == v for k, v in mine.items()),
        )
        parents[c.trial_number] = best.archid
    return parents


class SearchTracker:
    """The search's events (nas.search.events.SearchListener) recorded in MLflow, and its front
    registered at the end; only the driver process uses it."""

    def __init__(self, config: Config, experiment_id: str, parent_run_id: str, output_dir: Path):
        self.client = MlflowClient()
        self.config, self.experiment_id = config, experiment_id
        self.parent_run_id, self.output_dir = parent_run_id, output_dir
        self.study = config.search.study_name
        self.objectives = objectives_for(config)
        self.fronts: list[list[Candidate]] = []
        self.start_time = runs.now()

    def _tags(self, c: Candidate) -> dict[str, str]:
        return {
            "mlflow.parentRunId": self.parent_run_id,
            TAG_STUDY: self.study,
            TAG_KIND: "candidate",
            TAG_ARCHID: c.archid,
            "nas.generation": str(c.generation),
            "nas.trial": str(c.trial_number),
        }

    def _create_run(self, c: Candidate, suffix: str = "") -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=(f"g{c.generation:02d}-{c.archid[:8]}{suffix}"),
            tags=self._tags(c),
        )
        return run.info.run_id

    def candidate_started(self, c: Candidate, params: dict, latency: dict[str, Any]) -> None:
        c.run_id = self._create_run(c)
        runs.log_params(self.client, c.run_id, {**params, "archid": c.archid})
        numbers = {k: v for k, v in latency.items() if isinstance(v, (int, float))}
        runs.log_metrics(
            self.client, c.run_id, {**numbers, "num_params": c.num_params, "macs": c.macs}
        )
        for key in ("ort_version", "cpu_model"):
            if key in latency:
                self.client.set_tag(c.run_id, f"nas.{key}", str(latency[key]))
        self.client.log_text(c.run_id, c.arch_json, f"{c.archid}.json")

    def candidate_finished(
        self, c: Candidate, outcome: Outcome | None = None, original: Candidate | None = None
    ) -> None:
        if c.state == "duplicate" or original is not None:
            return self._log_duplicate(c, original)
        self.client.set_tag(c.run_id, "nas.feasible", str(c.state != "infeasible").lower())
        self.client.set_tag(c.run_id, "nas.state", c.state)
        if c.state == "failed":
            self.client.set_tag(c.run_id, "nas.error", c.error[:5000])
            self.client.log_text(c.run_id, c.error, "error.txt")
            self.client.set_terminated(c.run_id, FAILED)
            return None
        if c.state == "complete":
            self._log_trained(c, outcome)
        self.client.set_terminated(c.run_id, FINISHED)
        return None

    def _log_trained(self, c: Candidate, outcome: Outcome, fidelity: int = 0) -> str:
        """Metrics at step = fidelity and the trained ONNX model; returns the model's URI."""
        names = LABELS[: len(outcome.per_class_iou)]
        per_class = {f"val_iou_{n}": v for n, v in zip(names, outcome.per_class_iou, strict=True)}
        runs.log_metrics(self.client, c.run_id, {**outcome.metrics, **per_class}, step=fidelity)
        self.client.set_tag(c.run_id, "nas.worker", outcome.worker)
        self.client.set_tag(c.run_id, "nas.fidelity", str(c.fidelity))
        with mlflow.start_run(run_id=c.run_id, nested=True):
            c.model_uri = runs.log_onnx_model(
                outcome.onnx_model, self.config.model.image_size, self.config.model.num_classes
            )
        return c.model_uri

    def candidate_promoted(self, c: Candidate, fidelity: int, outcome: Outcome) -> str:
        """The promoted training's metrics at step `fidelity` on the candidate's run, its model,
        and `nas.fidelity` (the fidelity whose score stands for the candidate)."""
        if not outcome.ok:
            self.client.set_tag(c.run_id, "nas.promotion_error", outcome.error[:5000])
            return ""
        return self._log_trained(c, outcome, fidelity)

    def _log_duplicate(self, c: Candidate, original: Candidate) -> None:
        c.run_id = self._create_run(c, "-dup")
        tags = {
            "nas.duplicate_of": original.run_id,
            "nas.duplicate_of_trial": str(original.trial_number),
            "nas.state": c.state,
            "nas.feasible": str(c.state == "duplicate").lower(),
        }
        for key, value in tags.items():
            self.client.set_tag(c.run_id, key, value)
        runs.log_params(self.client, c.run_id, {"archid": c.archid})
        runs.log_metrics(
            self.client,
            c.run_id,
            {
                k: getattr(c, k)
                for k in ("val_miou", "latency_ms", "latency_p90_ms", "num_params", "macs")
            },
        )
        self.client.set_terminated(c.run_id, FINISHED if c.state != "failed" else FAILED)

    def generation_finished(
        self, generation: int, candidates: list[Candidate], params: dict[int, dict]
    ) -> None:
        front = pareto_front(front_pool(candidates), self.objectives)
        self.fronts.append(front)
        metrics = self._front_metrics(front)
        promoted = [c for c in candidates if c.state == "complete" and c.fidelity > 0]
        metrics["num_promoted"] = len(promoted)
        metrics["proxy_spearman"] = rank_correlation(
            [c.val_miou_f0 for c in promoted], [c.val_miou for c in promoted]
        )
        for state in ("complete", "infeasible", "failed", "duplicate"):
            metrics[f"num_{state}"] = sum(c.state == state for c in candidates)
        runs.log_metrics(self.client, self.parent_run_id, metrics, step=generation)
        log.info(
            "generation %d done: front of %d, hypervolume %.4f, best mIoU %.4f",
            generation,
            len(front),
            metrics["hypervolume"],
            metrics.get("best_miou", math.nan),
        )
        hours = (runs.now() - self.start_time) / 3600
        table = state_table(candidates, front, closest_parents(candidates, params), hours)
        paths = write_generation_files(self.output_dir, generation, table, front)
        paths += write_plots(self.output_dir, candidates, self.fronts, self.objectives)
        runs.log_files(self.client, self.parent_run_id, paths)

    def _front_metrics(self, front: list[Candidate]) -> dict[str, float]:
        """The front's hypervolume and size, and its best value of each objective."""
        reference = reference_point(self.config, self.objectives)
        metrics = {
            "hypervolume": hypervolume(front, *reference, objectives=self.objectives),
            "front_size": len(front),
        }
        for o in self.objectives:
            metrics[o.front_metric] = getattr(best(front, o), o.name) if front else math.nan
        return metrics

    def register(self, candidates: list[Candidate]) -> dict[str, Any]:
        """At the end: tag front membership on every candidate run, register the front, set
        the aliases."""
        front = pareto_front(front_pool(candidates), self.objectives)
        front_ids = {c.archid for c in front}
        for c in candidates:
            if c.run_id:
                self.client.set_tag(c.run_id, "nas.pareto", str(c.archid in front_ids).lower())
        return register_front(self.client, self.config, front, self.parent_run_id)
