"""The search as MLflow sees it: one child run per candidate, per-generation metrics and files on
the parent run, and the final Pareto front in the Model Registry with aliases."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import RunStatus

from nas.config import Config, TargetConfig
from nas.data.format import LABELS
from nas.evaluation.job import Outcome
from nas.evaluation.objectives import (
    Objective,
    objectives_for,
    reference_point,
    reference_settings,
)
from nas.evaluation.targets import TargetLatency
from nas.search.candidates import Candidate, front_pool
from nas.search.pareto import aliased, best, hypervolume, pareto_front
from nas.search.promotion import rank_correlation
from nas.tracking import runs, ui
from nas.tracking.plots import HV_PLOT_NAME, PLOT_NAME, Marks, plot_hypervolume_png, plot_png
from nas.tracking.plots_html import plot_html
from nas.tracking.registry import register_front
from nas.tracking.report import state_table, write_generation_files
from nas.tracking.runs import TAG_ARCHID, TAG_KIND, TAG_STUDY

log = logging.getLogger(__name__)
MODEL_METRICS = ("latency_ms", "latency_p90_ms", "num_params", "macs")  # measured untrained
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
FAILED = RunStatus.to_string(RunStatus.FAILED)


def closest_parents(
    candidates: Sequence[Candidate], params: dict[int, dict], known: dict[int, str] | None = None
) -> dict[int, str]:
    """For each candidate after generation 0: the archid of the earlier candidate sharing the
    most genes with it (a proxy, since Optuna does not record NSGA-II parents). Parents in
    `known` are kept; the others are found with one array comparison per generation."""
    parents = dict(known or {})
    codes: dict[tuple[str, Any], int] = {}
    genes = sorted({k for c in candidates for k in params.get(c.trial_number, {})})

    def encode(c: Candidate) -> list[int]:
        mine = params.get(c.trial_number, {})
        return [codes.setdefault((k, repr(mine.get(k))), len(codes)) for k in genes]

    pending = [c for c in candidates if c.trial_number not in parents and c.generation > 0]
    for generation in sorted({c.generation for c in pending}):
        earlier = [e for e in candidates if e.generation < generation and e.state != "duplicate"]
        new = [c for c in pending if c.generation == generation and params.get(c.trial_number)]
        if not earlier or not new:
            continue
        table = np.array([encode(e) for e in earlier])
        shared = (np.array([encode(c) for c in new])[:, None, :] == table[None]).sum(axis=2)
        for c, row in zip(new, shared, strict=True):
            parents[c.trial_number] = earlier[int(row.argmax())].archid  # the first best
    return parents


def run_name(c: Candidate, suffix: str = "") -> str:
    """gNN-<archid[:8]>: the generation and the architecture."""
    return f"g{c.generation:02d}-{c.archid[:8]}{suffix}"


def model_name(c: Candidate, fidelity: int) -> str:
    """The candidate's run name, with -f<fidelity> for a promoted (longer) training's model."""
    return run_name(c, f"-f{fidelity}" if fidelity else "")


def target_tags(name: str, target: TargetConfig, timed: TargetLatency) -> dict[str, str]:
    """A candidate run's tags of one deployment target's measurement: how and where it was
    timed, or why it could not be."""
    if timed.latency is None:
        return {f"nas.target_error.{name}": timed.error[:5000]}
    where = f"{timed.latency.cpu_model} ({timed.host}" + (
        f", Ray node {timed.node})" if timed.node else ")"
    )
    tags = {
        f"nas.target.{name}": (
            f"{target.precision}, {target.threads} thread(s), {target.provider}, ONNX Runtime "
            f"{timed.latency.ort_version}, on {where}"
        )
    }
    if timed.node:
        tags[f"nas.target_node.{name}"] = timed.node
    return tags


def alias_marks(
    front: list[Candidate], objectives: Sequence[Objective], versions: dict[str, str] | None = None
) -> Marks:
    """archid -> its aliases (and registered version) for the plots."""
    names: dict[str, list[str]] = {}
    for alias, c in aliased(front, objectives).items():
        names.setdefault(c.archid, []).append(alias)
    prefix = {a: f"v{v} " for a, v in (versions or {}).items()}
    return {a: prefix.get(a, "") + ", ".join(labels) for a, labels in names.items()}


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
        self.hypervolumes: list[float] = []
        self.parents: dict[int, str] = {}  # trial number -> closest earlier archid
        self.start_time = runs.now()
        # every child run shows the search's source, user and data set
        self.context_tags, self.datasets = runs.run_context(self.client, parent_run_id)
        self.ui_base = ui.ui_base()

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
            run_name=run_name(c, suffix),
            tags={**self.context_tags, **self._tags(c)},
        )
        if self.datasets:
            self.client.log_inputs(run.info.run_id, datasets=self.datasets)
        return run.info.run_id

    def candidate_started(
        self,
        c: Candidate,
        params: dict,
        latency: dict[str, Any],
        targets: dict[str, TargetLatency] | None = None,
    ) -> None:
        c.run_id = self._create_run(c)
        runs.log_params(self.client, c.run_id, {**params, "archid": c.archid})
        numbers = {k: v for k, v in latency.items() if isinstance(v, (int, float))}
        runs.log_metrics(
            self.client,
            c.run_id,
            {**numbers, **c.measures, "num_params": c.num_params, "macs": c.macs},
        )
        for key in ("ort_version", "cpu_model"):
            if key in latency:
                self.client.set_tag(c.run_id, f"nas.{key}", str(latency[key]))
        for name, timed in (targets or {}).items():
            for key, value in target_tags(name, self.config.targets[name], timed).items():
                self.client.set_tag(c.run_id, key, value)
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
            return None
        if c.state == "complete":
            self._log_trained(c, outcome)
        return None

    def candidate_closed(self, c: Candidate) -> None:
        """The candidate's record is in the study: its run ends (again, where a killed search
        had logged it all and the resumed one marked it KILLED)."""
        if c.run_id:
            self.client.set_terminated(c.run_id, FAILED if c.state == "failed" else FINISHED)

    def _log_trained(self, c: Candidate, outcome: Outcome, fidelity: int = 0) -> str:
        """Metrics at step = fidelity and the trained ONNX model, a LoggedModel linked to them
        (a promoted model also to the untrained measures, logged again at its step); returns
        the model's URI."""
        names = LABELS[: len(outcome.per_class_iou)]
        per_class = {f"val_iou_{n}": v for n, v in zip(names, outcome.per_class_iou, strict=True)}
        measured = {k: getattr(c, k) for k in MODEL_METRICS} if fidelity else {}
        scores = {k: v for k, v in c.measures.items() if k.startswith("val_miou.")}
        drops = {f"val_miou_drop.{k[9:]}": c.val_miou - v for k, v in scores.items()}
        metrics = {**outcome.metrics, **per_class, **measured, **scores, **drops}
        runs.log_metrics(self.client, c.run_id, metrics, step=fidelity)
        if outcome.int8_error:
            self.client.set_tag(c.run_id, "nas.int8_error", outcome.int8_error[:5000])
        self.client.set_tag(c.run_id, "nas.worker", outcome.worker)
        if outcome.node:  # the Ray node that trained it
            self.client.set_tag(c.run_id, "nas.node", outcome.node)
        self.client.set_tag(c.run_id, "nas.fidelity", str(c.fidelity))
        tags = {
            TAG_ARCHID: c.archid,
            TAG_STUDY: self.study,
            "nas.fidelity": fidelity,
            "nas.generation": c.generation,
            "nas.search_run_id": self.parent_run_id,
        }
        with mlflow.start_run(run_id=c.run_id, nested=True):
            size, classes = self.config.model.image_size, self.config.model.num_classes
            c.model_uri = runs.log_onnx_model(
                outcome.onnx_model, size, classes, model_name(c, fidelity), tags, fidelity
            )
            if outcome.int8_model:  # what the int8 targets deploy, to register and serve
                int8_tags = {**tags, "nas.precision": "int8"}
                c.int8_model_uri = runs.log_onnx_model(
                    outcome.int8_model, size, classes, f"{model_name(c, fidelity)}-int8",
                    int8_tags, fidelity,
                )  # fmt: skip
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
        self.hypervolumes.append(metrics["hypervolume"])
        log.info(
            "generation %d done: front of %d, hypervolume %.4f, best mIoU %.4f",
            generation,
            len(front),
            metrics["hypervolume"],
            metrics.get("best_miou", math.nan),
        )
        hours = (runs.now() - self.start_time) / 3600
        self.parents = closest_parents(candidates, params, self.parents)
        table = state_table(candidates, front, self.parents, hours)
        paths = write_generation_files(self.output_dir, generation, table, front)
        marks = alias_marks(front, self.objectives) if front else {}
        paths += self._write_plots(candidates, marks)
        runs.log_files(self.client, self.parent_run_id, paths)

    def _write_plots(self, candidates: list[Candidate], marks: Marks) -> list[Path]:
        """pareto_evolution.png/.html and hypervolume.png under output_dir."""
        out = self.output_dir
        reference = ", ".join(
            f"{o.name} {value:g}"
            for o, _, value in reference_settings(self.config, self.objectives)
        )
        links = {
            c.run_id: ui.run_url(self.experiment_id, c.run_id, self.ui_base)
            for c in candidates
            if c.run_id
        }
        return [
            plot_png(out / f"{PLOT_NAME}.png", candidates, self.fronts, self.objectives, marks),
            plot_html(
                out / f"{PLOT_NAME}.html",
                candidates,
                self.fronts,
                self.objectives,
                marks,
                links,
                self.hypervolumes,
                reference,
            ),
            plot_hypervolume_png(out / f"{HV_PLOT_NAME}.png", self.hypervolumes, reference),
        ]

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
        the aliases, and mark the registered versions on the plots."""
        front = pareto_front(front_pool(candidates), self.objectives)
        front_ids = {c.archid for c in front}
        for c in candidates:
            if c.run_id:
                self.client.set_tag(c.run_id, "nas.pareto", str(c.archid in front_ids).lower())
        summary = register_front(self.client, self.config, front, self.parent_run_id)
        if self.fronts:
            marks = alias_marks(front, self.objectives, summary["versions"])
            runs.log_files(self.client, self.parent_run_id, self._write_plots(candidates, marks))
        return summary
