"""Training a search's whole front with the final recipe: the front a registered model name
stands for (narrowed by a budget; an unknown or empty one is a clean error), one trained version
per member on Ray with the role aliases recomputed and the partial-against-final table logged,
and a kill during the second member resumed without training the first again."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from nas.commands import front
from nas.commands.select import Budgets
from nas.errors import UserError
from tests.conftest import ROOT, subprocess_env
from tests.test_search import StubExecutor, searched_in, tiny_config

# the final recipe shrunk to seconds: 2 epochs of at most 3 steps, one validation each
SHORT = {
    "final_training.epochs": "2",
    "final_training.max_steps": "3",
    "final_training.val_per_epoch": "1",
}
# a stub search whose front is exact: stub scores by archid against parameter counts (4 members)
FRONTED = {
    "search.objectives": "[val_miou, num_params]",
    "search.population_size": 6,
    "search.generations": 2,
    "search.study_name": "fronted",
}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, data_cache) -> dict:
    """A stub search that registered a front of several members, in a store of its own."""
    store = tmp_path_factory.mktemp("front")
    summary, uri = searched_in(store, StubExecutor(), tiny_config(data_cache, **FRONTED))
    assert len(summary["versions"]) >= 3, summary["versions"]
    pristine = (store / "mlflow.db").read_bytes()  # before any test trains its front
    return {**summary, "store": store, "uri": uri, "cache": data_cache, "pristine": pristine}


@pytest.fixture
def client(searched, monkeypatch) -> mlflow.MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", searched["uri"])
    mlflow.set_tracking_uri(searched["uri"])
    return mlflow.MlflowClient(searched["uri"])


def test_a_model_name_stands_for_its_latest_searchs_front(client, searched) -> None:
    assert front.is_front("models:/face-seg-hourglass")
    assert not front.is_front("models:/face-seg-hourglass@pareto-knee")
    assert not front.is_front("models:/face-seg-hourglass/2") and not front.is_front("a.json")
    search_run, members = front.front_members(client, "face-seg-hourglass", Budgets())
    assert search_run == searched["run_id"]
    assert sorted(m.archid for m in members) == sorted(searched["versions"])
    assert all(m.arch_json.startswith("{") and 0 < m.partial_miou < 1 for m in members)
    fastest = min(members, key=lambda m: float(client.get_model_version(
        "face-seg-hourglass", m.version).tags["latency_ms"]))  # fmt: skip
    budget = float(
        client.get_model_version("face-seg-hourglass", fastest.version).tags["latency_ms"]
    )
    _, within = front.front_members(client, "face-seg-hourglass", Budgets(max_latency_ms=budget))
    assert [m.version for m in within] == [fastest.version]
    with pytest.raises(UserError, match=r"models:/face-seg-hourglass: no version .* meets"):
        front.front_members(client, "face-seg-hourglass", Budgets(min_miou=2.0))
    with pytest.raises(UserError, match=r"arch 'models:/nobody': no such registered model"):
        front.front_members(client, "nobody", Budgets())


def _train_front(searched: dict, tmp: Path, *extra: str, kill: tuple[str, int] | None = None):
    runner = (
        ["tools.kill_driver", "--train", kill[0], str(kill[1])] if kill else ["entrypoints.train"]
    )
    overrides = [f"--{key} {value}" for key, value in SHORT.items()]
    command = [sys.executable, "-m", *runner, "models:/face-seg-hourglass"]
    command += ["--output-dir", str(tmp / "front"), "--data.cache_dir", str(searched["cache"])]
    command += [word for item in overrides for word in item.split()] + list(extra)
    env = subprocess_env(MLFLOW_TRACKING_URI=searched["uri"], PYTHONPATH=str(ROOT))
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_front_trains_in_parallel_registers_and_reports(client, searched, tmp_path) -> None:
    done = _train_front(searched, tmp_path, "--search.executor", "ray")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "partial against final mIoU: Spearman" in done.stdout
    parent = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`nas.kind` = 'train-front'"
    )
    assert len(parent) == 1 and parent["status"].iloc[0] == "FINISHED"
    metrics = parent.iloc[0]
    size = len(searched["versions"])
    assert metrics["metrics.front_size"] == size and 1 <= metrics["metrics.front_kept"] <= size
    assert "metrics.partial_final_spearman" in parent and "metrics.partial_final_kendall" in parent
    versions = client.search_model_versions("name = 'face-seg-hourglass-trained'")
    assert len(versions) == size  # one trained version per member
    sources = Counter(v.tags["nas.source_version"] for v in versions)
    assert max(sources.values()) == 1 and all(v.tags["test_miou"] for v in versions)
    for alias in ("pareto-best-iou", "pareto-smallest", "pareto-knee"):  # the search's roles
        client.get_model_version_by_alias("face-seg-hourglass-trained", alias)
    table = pd.read_csv(tmp_path / "front" / "front_table.csv")
    assert len(table) == size and table["on_final_front"].sum() == metrics["metrics.front_kept"]
    assert (tmp_path / "front" / "partial_vs_final.png").read_bytes()[:4] == b"\x89PNG"
    children = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`mlflow.parentRunId` = '{metrics['run_id']}'",
    )
    assert len(children) == size and set(children["status"]) == {"FINISHED"}


def test_a_killed_front_training_resumes_without_training_a_member_twice(
    searched, tmp_path, monkeypatch
) -> None:
    """SIGKILLed once the first member's outcome is kept (during the second member, trained one
    at a time), then run again: the first is not trained again, every member has one trained
    version, and no run is left RUNNING."""
    store = tmp_path / "copy"
    store.mkdir()
    (store / "mlflow.db").write_bytes(searched["pristine"])  # the search, no front trained yet
    uri = f"sqlite:///{store / 'mlflow.db'}"
    copied = {**searched, "uri": uri}
    killed = _train_front(copied, tmp_path, "--serial-training", "true", kill=("outcome", 1))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    again = _train_front(copied, tmp_path, "--serial-training", "true")
    assert again.returncode == 0, again.stderr[-4000:]
    trained = re.findall(r"version (\d+) trained", killed.stderr + again.stderr)
    kept = re.findall(r"version (\d+) was trained before", again.stderr)
    assert len(kept) == 1 and kept[0] not in trained  # the one killed after its outcome was kept
    assert sorted(Counter(trained + kept).values()) == [1] * len(searched["versions"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "RUNNING" not in set(runs["status"])
    versions = mlflow.MlflowClient(uri).search_model_versions("name = 'face-seg-hourglass-trained'")
    assert sorted(Counter(v.tags["nas.source_version"] for v in versions).values()) == [1] * len(
        searched["versions"]
    )


def test_the_same_command_resumes_and_another_recipe_trains_again(data_cache) -> None:
    def study(**overrides: object) -> str:
        config = tiny_config(data_cache, **overrides)
        return front.Front("face-seg-hourglass", "run1", [], config, Path("out")).study

    assert study() == study() and study().startswith("front-run1-")
    assert study() != study(**{"final_training.epochs": "3"})
    assert study() != study(**{"tracking.trained_model": "elsewhere"})
