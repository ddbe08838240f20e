"""Shared fixtures: the published architectures and a small search space for fast models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas.config import SpaceConfig

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = sorted((ROOT / "archs").glob("*.json"))


@pytest.fixture
def small_space() -> SpaceConfig:
    """The hourglass space with few channels, so random networks train in milliseconds."""
    return SpaceConfig(base_channels=(4, 8), ch_factors=(0.8, 1.0, 1.5))


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of generated and decoded synthetic faces shared by the whole session."""
    return tmp_path_factory.mktemp("data-cache")


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow's run and experiment variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _forget_mlflow_experiment():
    """mlflow.set_experiment() exports MLFLOW_EXPERIMENT_ID; keep it from leaking across tests."""
    yield
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(name, None)
