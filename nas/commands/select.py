"""The `select` command: the registered versions that meet a latency, mIoU and size budget, best
first, and optionally an alias on the best; with `measure`, each one's latency re-timed on this
machine (and tagged on the version) before the budget is applied."""

from __future__ import annotations

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

from nas.config import LatencyConfig
from nas.errors import UserError
from nas.evaluation.latency import measure_onnx_latency
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


def read_versions(client: MlflowClient, name: str) -> list[Choice]:
    """Every version of `name` whose tags give its mIoU and latency; a clear error when the
    model does not exist or holds none."""
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        known = [m.name for m in client.search_registered_models(max_results=100)]
        raise UserError(
            f"model_name {name!r}: no such registered model in {redact_url(runs.tracking_uri())}"
            f" (registered models there: {', '.join(known) or 'none'}). Run a search first, "
            "or pass --model-name (-P model_name=...) with one of those."
        ) from None
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    choices = []
    for v in registry.registered_versions(client, name):
        tags = v.tags
        choice = Choice(
            name,
            str(v.version),
            tags.get(TAG_ARCHID, ""),
            _number(tags, "val_miou"),
            _number(tags, "latency_ms"),
            int(_number(tags, "num_params")) if "num_params" in tags else 0,
            tags.get("nas.fidelity", "full" if "test_miou" in tags else "?"),
            tags.get("nas.cpu_model", "?"),
            sorted(aliases.get(str(v.version), [])),
        )
        if math.isfinite(choice.val_miou) and math.isfinite(choice.latency_ms):
            choices.append(choice)
    if not choices:
        raise UserError(
            f"registered model {name!r} holds no version with 'val_miou' and 'latency_ms' tags; "
            "register models with this project's search or train first."
        )
    return choices


def _cpu_key(cpu: str) -> str:
    return MEASURED_TAG + re.sub(r"[^\w.\- ]", "_", cpu).strip()


def measure(client: MlflowClient, choices: list[Choice], cfg: LatencyConfig) -> list[Choice]:
    """Each version's ONNX model timed here as the search times candidates; the result replaces
    its latency and is tagged on the version under this CPU's name."""
    measured = []
    for c in choices:
        with tempfile.TemporaryDirectory() as tmp:
            model = runs.download_version_file(
                c.name,
                c.version,
                lambda c=c, tmp=tmp: mlflow.artifacts.download_artifacts(c.uri, dst_path=tmp),
                "ONNX model",
                inside="model.onnx",
            ).read_bytes()
        size = onnx.load_from_string(model).graph.input[0].type.tensor_type.shape.dim[2].dim_value
        latency = measure_onnx_latency(model, size, cfg)
        note = (
            f"{latency.latency_ms:.4f} ms (p90 {latency.latency_p90_ms:.4f}), ONNX Runtime "
            f"{latency.ort_version}, {latency.latency_threads} thread(s), host "
            f"{socket.gethostname()}, {time.strftime('%Y-%m-%d')}"
        )
        client.set_model_version_tag(c.name, c.version, _cpu_key(latency.cpu_model), note)
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
) -> dict[str, Any]:
    """Select, measuring first when `latency` is given; with `alias`, point it at the best."""
    client = MlflowClient()
    choices = read_versions(client, name)
    if latency is not None:  # only the versions the other budgets let through are timed
        loose = replace(budgets, max_latency_ms=0.0)
        choices = measure(client, [c for c in choices if c.meets(loose)], latency)
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
