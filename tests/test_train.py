"""The train entry point refuses bad input with one paragraph, exit 2, and nothing logged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from nas.commands.train import resolve_arch
from nas.errors import UserError
from tests.conftest import PUBLISHED, ROOT, subprocess_env


def _train(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = subprocess_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}")
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.train", *args, "--output-dir", str(tmp / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["no/such/arch.json"], "no such file"),
        ([str(PUBLISHED[0]), "--model.image_size", "100"], "image size 100"),
        ([str(PUBLISHED[0]), "--final_training.epochs", "many"], "final_training.epochs"),
        ([str(PUBLISHED[0]), "--data.dataset_dir", "/no/such/folder"], "/no/such/folder"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _train(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("tag", ["../../escape", "/etc/passwd", "a" * 40 + "/../x", ""])
def test_a_registry_tag_never_names_a_path_outside(tmp_path: Path, monkeypatch, tag: str) -> None:
    """`train -P arch=models:/...` reads the version's archid tag as a file name: anything but
    an Archai id (a `../` name, an absolute path) is refused before a file is fetched."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    mlflow.set_experiment("escape")  # this store's, not one an earlier test made current
    with mlflow.start_run() as run:
        mlflow.log_text("{}", "x.json")
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{run.info.run_id}/x.json", run.info.run_id)
    if tag:
        client.set_model_version_tag("m", "1", "nas.archid", tag)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UserError, match="is not an Archai id"):
        resolve_arch("models:/m/1", work)
    assert list(tmp_path.rglob("escape")) == [] and list(work.iterdir()) == []
