"""The train entry point refuses bad input with one paragraph, exit 2, and nothing logged."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from entrypoints.cli import run_main
from entrypoints.train import main as train_main
from nas.commands.train import resolve_arch
from nas.errors import UserError
from tests.conftest import PUBLISHED, sqlite_store


@pytest.mark.parametrize(
    "args, message",
    [
        (["no/such/arch.json"], "no such file"),
        ([str(PUBLISHED[0]), "--model.image_size", "100"], "image size 100"),
        ([str(PUBLISHED[0]), "--final_training.epochs", "many"], "final_training.epochs"),
        ([str(PUBLISHED[0]), "--data.dataset_dir", "/no/such/folder"], "/no/such/folder"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], message: str, monkeypatch, capsys) -> None:
    """As the command line runs it (entrypoints.cli.run_main), in this process."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    argv = [*args, "--output-dir", str(tmp_path / "out")]
    assert run_main(lambda: train_main(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("tag", ["../../escape", "/etc/passwd", "a" * 40 + "/../x", ""])
def test_a_registry_tag_never_names_a_path_outside(tmp_path: Path, monkeypatch, tag: str) -> None:
    """`train -P arch=models:/...` reads the version's archid tag as a file name: anything but
    an Archai id (a `../` name, an absolute path) is refused before a file is fetched."""
    uri = sqlite_store(tmp_path)
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
