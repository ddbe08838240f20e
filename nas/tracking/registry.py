"""The Model Registry: versions and aliases, and the search's front registered under one name."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow import MlflowClient

from nas.config import Config
from nas.search.candidates import Candidate
from nas.search.pareto import dominates, knee
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


def register_front(
    client: MlflowClient, config: Config, front: list[Candidate], search_run_id: str
) -> dict[str, Any]:
    """Register each front member once (a resumed search reuses versions), set the three
    aliases, and tag earlier searches' versions that the new front dominates."""
    name, study = config.tracking.registered_model, config.search.study_name
    existing = registered_versions(client, name)
    mine = {v.tags.get(TAG_ARCHID): v for v in existing if v.tags.get(TAG_STUDY) == study}
    versions: dict[str, str] = {}
    for c in front:
        if c.archid in mine:
            versions[c.archid] = str(mine[c.archid].version)
            continue
        versions[c.archid] = register_version(
            client,
            c.model_uri,
            name,
            {
                TAG_ARCHID: c.archid,
                TAG_STUDY: study,
                "nas.search_run_id": search_run_id,
                "val_miou": f"{c.val_miou:.6f}",
                "latency_ms": f"{c.latency_ms:.4f}",
                "num_params": c.num_params,
                "nas.candidate_run_id": c.run_id,
                "nas.fidelity": c.fidelity,
                "val_miou_f0": f"{c.val_miou_f0:.6f}",
            },
        )
    aliases = {
        "pareto-best-iou": max(front, key=lambda c: c.val_miou),
        "pareto-fastest": min(front, key=lambda c: c.latency_ms),
        "pareto-knee": knee(front),
    }
    set_aliases(client, name, {a: versions[c.archid] for a, c in aliases.items()})
    _tag_dominated(client, name, existing, front, versions, search_run_id, study)
    return {
        "model_name": name,
        "versions": versions,
        "aliases": {a: versions[c.archid] for a, c in aliases.items()},
    }


def _tag_dominated(
    client: MlflowClient,
    name: str,
    existing: list,
    front: list[Candidate],
    versions: dict[str, str],
    search_run_id: str,
    study: str,
) -> None:
    for v in existing:
        if v.tags.get(TAG_STUDY) == study or "val_miou" not in v.tags:
            continue
        old = Candidate(
            0,
            0,
            v.tags.get(TAG_ARCHID, ""),
            "",
            "complete",
            float(v.tags["val_miou"]),
            float(v.tags.get("latency_ms", "inf")),
        )
        better = next((c for c in front if dominates(c, old)), None)
        if better is not None:
            client.set_model_version_tag(
                name,
                str(v.version),
                "nas.dominated_by",
                f"version {versions[better.archid]} (search run {search_run_id})",
            )
