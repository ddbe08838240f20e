"""The Model Registry: versions and aliases, and the search's front registered under one name, each
version described (task, input, classes, mIoU at its fidelity, latency on which CPU, which search)
and given an input example."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import mlflow
from mlflow import MlflowClient

from nas.config import Config, TrainingConfig
from nas.data.format import LABELS
from nas.evaluation.objectives import Objective, objectives_for
from nas.search.candidates import Candidate
from nas.search.pareto import aliased, dominates
from nas.search.promotion import promotion_training
from nas.tracking import runs
from nas.tracking.runs import TAG_ARCHID, TAG_STUDY

MODEL_DESCRIPTION = (
    "Stacked-hourglass face segmentation networks (Archai's search space) as ONNX models for "
    "the CPU: input 'image' float32 N x 3 x S x S, RGB / 255; output 'logits' float32 "
    "N x C x S x S, whose argmax over C is the Face Synthetics label of each pixel. S and C, "
    "the validation mIoU and the CPU latency of each version are in its description and tags."
)
MODEL_TAGS = {
    "task": "semantic segmentation of faces",
    "format": "onnx",
    "labels": "Face Synthetics (" + ", ".join(LABELS) + ")",
}


def register_version(
    client: MlflowClient, model_uri: str, name: str, tags: dict[str, Any], description: str = ""
) -> str:
    """Register `model_uri` under `name` (created and described if missing, tagged with what it
    is) with `tags` and `description`; returns the version."""
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description=MODEL_DESCRIPTION)
    for key, value in MODEL_TAGS.items():
        client.set_registered_model_tag(name, key, value)
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    if description:
        client.update_model_version(name, version.version, description=description)
    return str(version.version)


def describe_version(tags: dict[str, Any], miou_at: str, found_by: str) -> str:
    """A version's description from its tags: what it is, how good, how fast and where from."""
    return (
        f"Face segmentation, input {tags['nas.image_size']} x {tags['nas.image_size']} RGB, "
        f"{tags['nas.num_classes']} classes. Validation mIoU {float(tags['val_miou']):.4f} "
        f"{miou_at}. Latency {float(tags['latency_ms']):.3f} ms (median of single-image runs, "
        f"ONNX Runtime {tags['nas.ort_version']}, {tags['nas.latency_threads']} thread(s)) on "
        f"{tags['nas.cpu_model']}. "
        f"{int(tags['num_params']):,} parameters. Architecture {tags[TAG_ARCHID]}; {found_by}."
    )


def registered_versions(client: MlflowClient, name: str) -> list:
    try:
        return list(client.search_model_versions(f"name = '{name}'", max_results=10000))
    except mlflow.exceptions.MlflowException:
        return []


def set_aliases(client: MlflowClient, name: str, aliases: dict[str, str]) -> None:
    for alias, version in aliases.items():
        client.set_registered_model_alias(name, alias, version)


def _version_tags(
    client: MlflowClient, c: Candidate, config: Config, search_run_id: str
) -> dict[str, Any]:
    """The tags of a front member's registered version; the CPU and ONNX Runtime that timed it
    come from its candidate run."""
    measured_on = client.get_run(c.run_id).data.tags if c.run_id else {}
    tags = {
        TAG_ARCHID: c.archid,
        TAG_STUDY: config.search.study_name,
        "nas.search_run_id": search_run_id,
        "val_miou": f"{c.val_miou:.6f}",
        "latency_ms": f"{c.latency_ms:.4f}",
        "latency_p90_ms": f"{c.latency_p90_ms:.4f}",
        "num_params": c.num_params,
        "nas.candidate_run_id": c.run_id,
        "nas.fidelity": c.fidelity,
        "val_miou_f0": f"{c.val_miou_f0:.6f}",
        "nas.image_size": config.model.image_size,
        "nas.num_classes": config.model.num_classes,
        "nas.cpu_model": measured_on.get("nas.cpu_model", "an unrecorded CPU"),
        "nas.ort_version": measured_on.get("nas.ort_version", "(unrecorded)"),
        "nas.latency_threads": config.latency.num_threads,
    }
    for o in objectives_for(config):  # every objective's value, so later searches can compare
        tags.setdefault(o.name, getattr(c, o.name))
    for key, value in sorted(c.measures.items()):  # every deployment target's measures
        if not key.startswith(("val_miou_f0.", "latency_p90_ms.")):
            tags[key] = f"{value:.6f}"
    tags["nas.precision"] = deployed_precision(config)
    tags["nas.fp32_model_uri"] = c.model_uri
    if c.int8_model_uri:
        tags["nas.int8_model_uri"] = c.int8_model_uri
    if config.targets:  # how each target deploys and runs the model, for `select --measure`
        targets = {name: dataclasses.asdict(t) for name, t in config.targets.items()}
        tags["nas.targets"] = json.dumps(targets, sort_keys=True)
    return tags


def deployed_precision(config: Config) -> str:
    """The precision of the model a search registers: int8 where it searches an int8 target."""
    searched = {o.target for o in objectives_for(config) if o.target}
    return "int8" if any(config.targets[t].precision == "int8" for t in searched) else "fp32"


def _targets_text(tags: dict[str, Any]) -> str:
    """The deployment targets' figures of a version, in words ('' where there are none)."""
    names = sorted({k.split(".", 1)[1] for k in tags if k.startswith("latency_ms.")})
    parts = [
        f"{n}: {float(tags[f'latency_ms.{n}']):.3f} ms"
        + (f", mIoU {float(tags[f'val_miou.{n}']):.4f}" if f"val_miou.{n}" in tags else "")
        for n in names
    ]
    return f" Deployment targets: {'; '.join(parts)}." if parts else ""


def _training(cfg: TrainingConfig) -> str:
    steps = f", at most {cfg.max_steps} steps" if cfg.max_steps else ""
    return f"{cfg.epochs:g} epoch(s){steps}"


def _miou_at(c: Candidate, config: Config) -> str:
    """Which training the mIoU is measured after."""
    partial = config.partial_training
    if c.fidelity == 0:
        return f"after the search's partial training ({_training(partial)})"
    promoted = promotion_training(partial, config.promotion)
    return (
        f"after the promoted training ({_training(promoted)}; {c.val_miou_f0:.4f} after the "
        f"partial training of {_training(partial)})"
    )


def _register_member(client: MlflowClient, config: Config, c: Candidate, search_run_id: str) -> str:
    """Register one front member, with its input example, tags and description."""
    tags = _version_tags(client, c, config, search_run_id)
    found_by = (
        f"found by the search '{config.search.study_name}' (run {search_run_id}) in generation "
        f"{c.generation}, candidate run {c.run_id}"
    )
    model_uri = c.int8_model_uri if tags["nas.precision"] == "int8" else c.model_uri
    if not model_uri:  # an INT8 model that could not be made: the FP32 one, said so
        model_uri, tags["nas.precision"] = c.model_uri, "fp32"
    runs.add_input_example(client, model_uri, config.model.image_size)
    description = describe_version(tags, _miou_at(c, config), found_by) + _targets_text(tags)
    if tags["nas.precision"] == "int8":
        description += " This version is the INT8 model (static QDQ quantization)."
    return register_version(client, model_uri, config.tracking.registered_model, tags, description)


def register_front(
    client: MlflowClient, config: Config, front: list[Candidate], search_run_id: str
) -> dict[str, Any]:
    """Register each front member once (a resumed search reuses versions), alias the best
    member of each objective and the knee, and tag earlier searches' versions that the new
    front dominates."""
    name, study = config.tracking.registered_model, config.search.study_name
    objectives = objectives_for(config)
    existing = registered_versions(client, name)
    mine = {v.tags.get(TAG_ARCHID): v for v in existing if v.tags.get(TAG_STUDY) == study}
    versions: dict[str, str] = {}
    for c in front:
        if c.archid in mine:
            versions[c.archid] = str(mine[c.archid].version)
        else:
            versions[c.archid] = _register_member(client, config, c, search_run_id)
    aliases = {alias: versions[c.archid] for alias, c in aliased(front, objectives).items()}
    set_aliases(client, name, aliases)
    _tag_dominated(client, name, existing, front, versions, search_run_id, study, objectives)
    return {"model_name": name, "versions": versions, "aliases": aliases}


def _from_tags(tags: dict[str, str], objectives: Sequence[Objective]) -> Candidate | None:
    """An earlier search's registered version as a Candidate with the objectives' values; None
    where a trained objective's value is missing, the worst value where a cheap one is."""
    old = Candidate(0, 0, tags.get(TAG_ARCHID, ""), "", "complete")
    for o in objectives:
        if o.name not in tags and not o.cheap:
            return None
        setattr(old, o.name, float(tags.get(o.name, o.sign * math.inf)))
    return old


def _tag_dominated(
    client: MlflowClient,
    name: str,
    existing: list,
    front: list[Candidate],
    versions: dict[str, str],
    search_run_id: str,
    study: str,
    objectives: Sequence[Objective],
) -> None:
    for v in existing:
        old = _from_tags(v.tags, objectives) if v.tags.get(TAG_STUDY) != study else None
        better = next((c for c in front if old and dominates(c, old, objectives)), None)
        if better is not None:
            client.set_model_version_tag(
                name,
                str(v.version),
                "nas.dominated_by",
                f"version {versions[better.archid]} (search run {search_run_id})",
            )
