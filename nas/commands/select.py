"""The `select` command: the registered versions that meet a latency, mIoU and size budget, best
first, and optionally an alias on the best; with `measure`, each one's latency re-timed on this
machine (and tagged on the version) before the budget is applied. With a deployment target, the
budgets and the ranking read that target's latency and mIoU, and `measure` times the model as
that target deploys and runs it."""

from __future__ import annotations

import json
import math
import re
import socket
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any

import mlflow
import onnx
from mlflow import MlflowClient

from nas.config import LatencyConfig, TargetConfig
from nas.errors import UserError
from nas.evaluation.targets import time_target
from nas.redact import redact_url
from nas.tracking import registry, runs
from nas.tracking.runs import TAG_ARCHID

MEASURED_TAG = "nas.latency_ms_on."  # + the CPU's name: a latency `select --measure` took there
RANKINGS = ("val_miou", "latency_ms", "num_params")


@dataclass(frozen=True)
class Budgets:
    """What a model must meet; 0 means no budget."""

    max_latency_ms: float = 0.0
    min_miou: float = 0.0
    max_params: int = 0

    def best_by(self) -> str:
        """The most accurate model within a cost budget; the fastest above an mIoU floor alone."""
        only_floor = self.min_miou > 0 and not (self.max_latency_ms or self.max_params)
        return "latency_ms" if only_floor else "val_miou"


@dataclass
class Choice:
    """One registered version with the values its tags record."""

    name: str
    version: str
    archid: str
    val_miou: float
    latency_ms: float
    num_params: int
    fidelity: str
    cpu: str
    aliases: list[str] = field(default_factory=list)
    measured: bool = False
    tags: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def meets(self, budgets: Budgets) -> bool:
        return (
            (not budgets.max_latency_ms or self.latency_ms <= budgets.max_latency_ms)
            and self.val_miou >= budgets.min_miou
            and (not budgets.max_params or self.num_params <= budgets.max_params)
        )


def _number(tags: dict[str, str], key: str) -> float:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return math.nan


def read_versions(
    client: MlflowClient, name: str, target: str = "", asked_as: str = ""
) -> list[Choice]:
    """Every version of `name` whose tags give its mIoU and latency (on deployment target
    `target`, where one is named); a clear error when the model does not exist or holds
    none. `asked_as`: the parameter and value the error names (select's model_name else)."""
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        known = [m.name for m in client.search_registered_models(max_results=100)]
        asked = asked_as or f"model_name {name!r}"
        fix = f"-P {asked.split()[0]}=..." if asked_as else "--model-name (-P model_name=...)"
        raise UserError(
            f"{asked}: no such registered model in {redact_url(runs.tracking_uri())}"
            f" (registered models there: {', '.join(known) or 'none'}). Run a search first, "
            f"or pass {fix} with one of those."
        ) from None
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    choices, on = [], f".{target}" if target else ""
    for v in registry.registered_versions(client, name):
        tags = v.tags
        choice = Choice(
            name,
            str(v.version),
            tags.get(TAG_ARCHID, ""),
            _number(tags, f"val_miou{on}"),
            _number(tags, f"latency_ms{on}"),
            int(_number(tags, "num_params")) if "num_params" in tags else 0,
            tags.get("nas.fidelity", "full" if "test_miou" in tags else "?"),
            tags.get("nas.cpu_model", "?"),
            sorted(aliases.get(str(v.version), [])),
            tags=dict(tags),
        )
        if math.isfinite(choice.val_miou) and math.isfinite(choice.latency_ms):
            choices.append(choice)
    if not choices:
        raise UserError(
            f"registered model {name!r} holds no version with 'val_miou{on}' and "
            f"'latency_ms{on}' tags; register models with this project's search or train first"
            + (f", with the deployment target {target!r} in its config." if target else ".")
        )
    return choices


def _cpu_key(cpu: str) -> str:
    return MEASURED_TAG + re.sub(r"[^\w.\- ]", "_", cpu).strip()


def _definition(c: Choice, target: str, given: dict[str, TargetConfig]) -> TargetConfig:
    """How `target` deploys and runs a model: as given on the command line, else as the search
    that registered the version had it."""
    if target in given:
        return given[target]
    recorded = json.loads(c.tags.get("nas.targets", "{}")).get(target)
    if recorded is None:
        raise UserError(
            f"target {target!r}: version {c.version} of {c.name!r} was not searched with it, and "
            f"no targets.{target}.* settings were given; pass them (e.g. "
            f"--targets.{target}.precision int8) to time it."
        )
    return TargetConfig(**recorded)


def _model_file(c: Choice, precision: str, tmp: str) -> bytes:
    """The version's ONNX model at `precision`: its own, or the one its tags point at."""
    own = c.tags.get("nas.precision", "fp32") == precision
    uri = c.uri if own else c.tags.get(f"nas.{precision}_model_uri", "")
    if not uri:
        raise UserError(f"version {c.version} of {c.name!r} has no {precision} model to time.")
    return runs.download_version_file(
        c.name,
        c.version,
        lambda: mlflow.artifacts.download_artifacts(uri, dst_path=tmp),
        "ONNX model" if precision == "fp32" else f"{precision.upper()} ONNX model",
        inside="model.onnx",
    ).read_bytes()


def measure(
    client: MlflowClient,
    choices: list[Choice],
    cfg: LatencyConfig,
    target: str = "",
    given: dict[str, TargetConfig] | None = None,
) -> list[Choice]:
    """Each version's ONNX model timed here as the search times candidates (as deployment
    target `target` deploys and runs it, where one is named); the result replaces its latency
    and is tagged on the version under this CPU's (and the target's) name."""
    measured = []
    for c in choices:
        how = (
            _definition(c, target, given or {}) if target else TargetConfig(threads=cfg.num_threads)
        )
        with tempfile.TemporaryDirectory() as tmp:
            model = _model_file(c, how.precision, tmp)
        size = onnx.load_from_string(model).graph.input[0].type.tensor_type.shape.dim[2].dim_value
        latency = time_target(model, size, how, cfg)
        note = (
            f"{latency.latency_ms:.4f} ms (p90 {latency.latency_p90_ms:.4f}), {how.precision}, "
            f"ONNX Runtime {latency.ort_version} ({how.provider}), {latency.latency_threads} "
            f"thread(s), host {socket.gethostname()}, {time.strftime('%Y-%m-%d')}"
        )
        key = _cpu_key(latency.cpu_model) + (f".{target}" if target else "")
        client.set_model_version_tag(c.name, c.version, key, note)
        measured.append(
            replace(c, latency_ms=latency.latency_ms, cpu=latency.cpu_model, measured=True)
        )
    return measured


def choose(choices: list[Choice], budgets: Budgets, best_by: str = "") -> list[Choice]:
    """The versions within the budgets, best first (by `best_by`, else Budgets.best_by)."""
    key = best_by or budgets.best_by()
    sign = -1 if key == "val_miou" else 1
    within = [c for c in choices if c.meets(budgets)]
    return sorted(within, key=lambda c: (sign * getattr(c, key), -c.val_miou, int(c.version)))


def run(
    name: str,
    budgets: Budgets,
    best_by: str = "",
    alias: str = "",
    latency: LatencyConfig | None = None,
    target: str = "",
    given: dict[str, TargetConfig] | None = None,
) -> dict[str, Any]:
    """Select (on deployment target `target`'s measures, where one is named), measuring first
    when `latency` is given; with `alias`, point it at the best."""
    client = MlflowClient()
    choices = read_versions(client, name, target)
    if latency is not None:  # only the versions the other budgets let through are timed
        loose = replace(budgets, max_latency_ms=0.0)
        within = [c for c in choices if c.meets(loose)]
        choices = measure(client, within, latency, target, given)
    matches = choose(choices, budgets, best_by)
    if not matches:
        raise UserError(
            f"none of the {len(choices)} versions of {name!r} meets the budget "
            f"{describe(budgets)}; the closest: "
            + "; ".join(
                f"version {c.version}: mIoU {c.val_miou:.4f}, {c.latency_ms:.3f} ms, "
                f"{c.num_params:,} params"
                for c in choose(choices, Budgets())[:3]
            )
            + ". Loosen a budget."
        )
    if alias:
        registry.set_aliases(client, name, {alias: matches[0].version})
    return {"matches": matches, "best_by": best_by or budgets.best_by(), "alias": alias}


def describe(budgets: Budgets) -> str:
    parts = []
    if budgets.max_latency_ms:
        parts.append(f"latency <= {budgets.max_latency_ms:g} ms")
    if budgets.min_miou:
        parts.append(f"mIoU >= {budgets.min_miou:g}")
    if budgets.max_params:
        parts.append(f"<= {budgets.max_params:,} parameters")
    return ", ".join(parts) or "(none)"
