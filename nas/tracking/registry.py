"""The Model Registry: versions and aliases, and the search's front registered under one name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mlflow
from mlflow import MlflowClient

from nas.config import Config
from nas.evaluation.objectives import KNEE_ALIAS, Objective, objectives_for
from nas.search.candidates import Candidate
from nas.search.pareto import best, dominates, knee
from nas.tracking.runs import TAG_ARCHID, TAG_STUDY


def register_version(client: MlflowClient, model_uri: str, name: str, tags: dict[str, Any]) -> str:
    """Register `model_uri` under `name` (created if missing); returns the version."""
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(
            name,
            description=(
                "Stacked-hourglass face segmentation networks (ONNX, input 'image' float32 "
                "N x 3 x S x S in [0, 1], output 'logits' N x C x S x S) found by the NAS search."
            ),
        )
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return str(version.version)


def registered_versions(client: MlflowClient, name: str) -> list:
    try:
        return list(client.search_model_versions(f"name = '{name}'", max_results=10000))
    except mlflow.exceptions.MlflowException:
        return []


def set_aliases(client: MlflowClient, name: str, aliases: dict[str, str]) -> None:
    for alias, version in aliases.items():
        client.set_registered_model_alias(name, alias, version)


def _version_tags(
    c: Candidate, study: str, search_run_id: str, objectives: Sequence[Objective]
) -> dict[str, Any]:
    """The tags of a front member's registered version."""
    tags = {
        TAG_ARCHID: c.archid,
        TAG_STUDY: study,
        "nas.search_run_id": search_run_id,
        "val_miou": f"{c.val_miou:.6f}",
        "latency_ms": f"{c.latency_ms:.4f}",
        "num_params": c.num_params,
        "nas.candidate_run_id": c.run_id,
        "nas.fidelity": c.fidelity,
        "val_miou_f0": f"{c.val_miou_f0:.6f}",
    }
    for o in objectives:  # every objective's value, so later searches can compare with it
        tags.setdefault(o.name, getattr(c, o.name))
    return tags


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
            tags = _version_tags(c, study, search_run_id, objectives)
            versions[c.archid] = register_version(client, c.model_uri, name, tags)
    chosen = {o.alias: best(front, o) for o in objectives}
    chosen[KNEE_ALIAS] = knee(front, objectives)
    aliases = {alias: versions[c.archid] for alias, c in chosen.items()}
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
