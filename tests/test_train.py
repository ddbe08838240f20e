"""The train entry point refuses bad input with one paragraph, exit 2, and nothing logged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
