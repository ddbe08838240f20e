"""`select`: registered versions filtered by latency, mIoU and size budgets, best first, an alias
on the best, latency re-timed here; clear errors for an unknown model, an empty one, no match."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest

from entrypoints.select import main
from nas.arch.archjson import parse_arch
from nas.arch.model import StackedHourglass
from nas.commands.select import Budgets, run
from nas.config import LatencyConfig
from nas.errors import UserError
from nas.evaluation.latency import export_onnx
from nas.tracking.registry import register_version
from nas.tracking.runs import log_onnx_model
from tests.conftest import PUBLISHED, sqlite_store

NAME = "faces"
# version: (val_miou, latency_ms, num_params)
VERSIONS = {"1": (0.40, 1.0, 5000), "2": (0.55, 2.5, 20000), "3": (0.60, 6.0, 90000)}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    uri = sqlite_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    genome = parse_arch(json.loads(PUBLISHED[0].read_text()), "x")
    onnx_model = export_onnx(StackedHourglass(genome), 64, 18, "torchscript")
    client = mlflow.MlflowClient()
    mlflow.set_experiment("select")
    with mlflow.start_run():
        model_uri = log_onnx_model(onnx_model, 64, 19, name="probe")
    for miou, latency, params in VERSIONS.values():
        tags = {"val_miou": miou, "latency_ms": latency, "num_params": params, "nas.fidelity": 0}
        register_version(client, model_uri, NAME, {**tags, "nas.archid": f"a{params}"})
    return client


def _best(budgets: Budgets, **kwargs) -> str:
    return run(NAME, budgets, **kwargs)["matches"][0].version


def test_budgets_choose_the_best_match(registry) -> None:
    assert _best(Budgets(max_latency_ms=3)) == "2"  # most accurate under 3 ms
    assert _best(Budgets(min_miou=0.5)) == "2"  # fastest above 0.5 mIoU
    assert _best(Budgets(max_params=10000)) == "1"
    assert _best(Budgets()) == "3"
    assert _best(Budgets(min_miou=0.5), best_by="val_miou") == "3"
    matches = run(NAME, Budgets(max_latency_ms=3))["matches"]
    assert [c.version for c in matches] == ["2", "1"]


def test_alias_points_at_the_best_match(registry) -> None:
    run(NAME, Budgets(max_latency_ms=3), alias="under-3ms")
    assert str(registry.get_model_version_by_alias(NAME, "under-3ms").version) == "2"


def test_clear_errors(registry, tmp_path, monkeypatch) -> None:
    with pytest.raises(UserError, match="none of the 3 versions of 'faces' meets the budget"):
        run(NAME, Budgets(max_latency_ms=0.5))
    with pytest.raises(UserError, match="no such registered model.*faces"):
        run("face-seg-hourglass", Budgets())
    registry.create_registered_model("empty")
    with pytest.raises(UserError, match="'empty' holds no version"):
        run("empty", Budgets())


def test_command_prints_the_matches_and_measures_here(registry, capsys) -> None:
    argv = ["--model-name", NAME, "--max_latency_ms", "3", "--alias", "pick"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"models:/{NAME}/2" in out and f"models:/{NAME}/1" in out
    assert f"models:/{NAME}/3" not in out and "alias @pick -> version 2" in out
    fast = [
        "--latency.warmup_runs",
        "1",
        "--latency.min_runs",
        "3",
        "--latency.target_seconds",
        "0",
    ]
    assert main(["--model-name", NAME, "--min-miou", "0.5", "--measure", *fast]) == 0
    assert "ms here" in capsys.readouterr().out
    for version in ("2", "3"):  # the versions the mIoU floor let through were timed and tagged
        tags = registry.get_model_version(NAME, version).tags
        measured = [v for k, v in tags.items() if k.startswith("nas.latency_ms_on.")]
        assert len(measured) == 1 and " ms (p90 " in measured[0]
    assert not any(
        k.startswith("nas.latency_ms_on.") for k in registry.get_model_version(NAME, "1").tags
    )


def test_a_deployment_target_answers_from_its_own_measures(registry) -> None:
    """With --target, the budget and the ranking read the target's latency and mIoU, and
    --measure times the model as the target deploys it (the version's INT8 model here)."""
    int8 = {"1": (0.38, 0.8), "2": (0.50, 4.0), "3": (0.58, 2.0)}  # val_miou, latency_ms
    targets = json.dumps({"int8": {"precision": "int8", "threads": 1}})
    for version, (miou, latency) in int8.items():
        source = registry.get_model_version(NAME, version).source
        tags = {"val_miou.int8": miou, "latency_ms.int8": latency, "nas.targets": targets}
        for key, value in {**tags, "nas.int8_model_uri": source}.items():
            registry.set_model_version_tag(NAME, version, key, str(value))
    assert _best(Budgets(max_latency_ms=3)) == "2"  # by the default measurement
    assert _best(Budgets(max_latency_ms=3), target="int8") == "3"  # by the target's
    fast = LatencyConfig(warmup_runs=1, min_runs=3, target_seconds=0)
    run(NAME, Budgets(min_miou=0.55), latency=fast, target="int8")
    tags = registry.get_model_version(NAME, "3").tags
    timed = [
        v for k, v in tags.items() if k.startswith("nas.latency_ms_on.") and k.endswith(".int8")
    ]
    assert len(timed) == 1 and ", int8, " in timed[0]
    with pytest.raises(UserError, match=r"no version with 'val_miou\.arm' and 'latency_ms\.arm'"):
        run(NAME, Budgets(min_miou=0.55), target="arm")


def test_a_version_whose_files_were_deleted_is_named(registry) -> None:
    """The registry still lists the version, its artifacts are gone: one clear error naming
    the version, not a traceback from deep inside MLflow."""
    model_id = registry.get_model_version(NAME, "3").source.removeprefix("models:/")
    location = registry.get_logged_model(model_id).artifact_location
    shutil.rmtree(location.removeprefix("file://"))
    fast = LatencyConfig(warmup_runs=1, min_runs=3, target_seconds=0)
    with pytest.raises(UserError, match=f"registered model {NAME} version [23]: its ONNX model"):
        run(NAME, Budgets(min_miou=0.5), latency=fast)
