"""Shared fixtures: the published architectures, a small search space for fast models, one data
cache for the session, and the local scale-out stack, started once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from cluster import postgres
from cluster.procs import alive, descendants, matching
from nas.config import SpaceConfig

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = sorted((ROOT / "archs").glob("*.json"))


# The test files that take longest, run first: with `make test`'s two pytest-xdist workers taking
# a file at a time, the shorter files fill in around them.
LONGEST_FIRST = (
    "test_cluster.py",
    "test_resume.py",
    "test_smoke.py",
    "test_front.py",
    "test_promotion.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file and among the others is kept


@pytest.fixture
def small_space() -> SpaceConfig:
    """The hourglass space with few channels, so random networks train in milliseconds."""
    return SpaceConfig(base_channels=(4, 8), ch_factors=(0.8, 1.0, 1.5))


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of generated and decoded synthetic faces shared by the whole session, by every
    pytest-xdist worker too (their folders share a parent; the cache builds each part once
    across processes)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "data-cache"
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("data-cache")


_STORE_TEMPLATE: list[Path] = []  # an empty, migrated MLflow store, made once per process


def sqlite_store(folder: Path) -> str:
    """The URI of an empty MLflow SQLite store in `folder` (its mlflow.db), copied from one made
    once per test process: making a store runs MLflow's schema migrations, seconds each time."""
    if not _STORE_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="mlflow-template-")) / "mlflow.db"
        mlflow.MlflowClient(f"sqlite:///{template}").search_experiments()
        _STORE_TEMPLATE.append(template)
    database = folder / "mlflow.db"
    if not database.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_STORE_TEMPLATE[0], database)
    return f"sqlite:///{database}"


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


@dataclass
class Stack:
    """The local scale-out stack of cluster/stack.py, as the tests see it."""

    checkout: Path  # the copy of the checkout it was started from
    home: Path  # its data folder
    exports: dict[str, str]
    ports: dict[str, int]
    secrets: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        return subprocess_env(**{**self.exports, "RAY_AUTH_MODE": "disabled", **extra})

    def client(self) -> mlflow.MlflowClient:
        os.environ["MLFLOW_TRACKING_USERNAME"] = self.exports["MLFLOW_TRACKING_USERNAME"]
        os.environ["MLFLOW_TRACKING_PASSWORD"] = self.exports["MLFLOW_TRACKING_PASSWORD"]
        return mlflow.MlflowClient(tracking_uri=self.exports["MLFLOW_TRACKING_URI"])

    def stack_command(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m cluster.stack ARGS` as a user runs it in the copy (its default home)."""
        env = {k: v for k, v in subprocess_env().items() if k != "NAS_CLUSTER_DIR"}
        return subprocess.run(
            [sys.executable, "-m", "cluster.stack", *args],
            cwd=self.checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def copy_checkout(target: Path) -> None:
    """The files of this checkout that git would clone, as they are now (uncommitted changes
    included), copied to `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def started_pids(home: Path) -> list[int]:
    """The processes the stack in `home` started: its parts' PIDs and PostgreSQL's server."""
    pids = [int(p.read_text()) for p in home.glob("*.pid")]
    postmaster = postgres.server_folder(home) / "data" / "postmaster.pid"
    if postmaster.exists():
        pids.append(int(postmaster.read_text().split()[0]))
    return pids


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack, started once for every test that needs it, as a user starts it from a clone
    in a private folder (mode 0700, like root's home or `mktemp -d`) whose path has a space;
    stopped and deleted at the end, with nothing left running."""
    private = tmp_path_factory.mktemp("private")
    private.chmod(0o700)
    checkout = private / "hourglass nas"
    copy_checkout(checkout)
    home = checkout / ".cache" / "cluster"
    started: list[int] = []
    try:
        up = Stack(checkout, home, {}, {}, {}).stack_command("up")
        assert up.returncode == 0, up.stderr[-3000:]
        lines = up.stdout.strip().splitlines()
        assert lines and all(line.startswith("export ") for line in lines), up.stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        started = descendants(started_pids(home))
        ports, secrets = (
            json.loads((home / f).read_text()) for f in ("ports.json", "secrets.json")
        )
        yield Stack(checkout, home, exports, ports, secrets)
    finally:
        started = descendants(started + started_pids(home))
        ray = json.loads((home / "ports.json").read_text())["ray"] if home.is_dir() else None
        down = Stack(checkout, home, {}, {}, {}).stack_command("down", "--purge")
        orphans = [pid for pid in started if alive(pid)]
        orphans += matching(f"/tmp/nas-ray-{ray}") if ray else []  # cluster.stack's ray_marker
        assert down.returncode == 0 and not orphans, (down.stderr, orphans)
        assert not home.exists() and not postgres.server_folder(home).exists()  # nothing left
