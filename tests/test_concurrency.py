"""Searches at the same time: a second search of the same study refuses at once, naming the
process that holds it, and evaluates nothing; two different studies share one SQLite MLflow
store, one study database and one data cache, and both finish without a locked database."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import mlflow
import optuna

from tests.conftest import ROOT, subprocess_env
from tools.tiny_search import tiny_search


def _search(tmp: Path, cache: Path, study: str) -> subprocess.Popen:
    command = tiny_search(tmp / study, cache, "--search.study_name", study)
    # a new store, which both searches create and migrate at once (nas.paths' creation lock)
    env = subprocess_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _trials(db: Path, study: str) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            query = "select count(*) from trials join studies using (study_id) where study_name = ?"
            return conn.execute(query, (study,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def test_searches_at_the_same_time(tmp_path: Path, data_cache: Path) -> None:
    """Studies 'left' and 'right' run at once on the same stores and cache; a second search of
    'left' started meanwhile refuses, naming the process that holds it, and logs nothing."""
    left, right = (_search(tmp_path, data_cache, name) for name in ("left", "right"))
    deadline = time.monotonic() + 120
    while _trials(tmp_path / "optuna.db", "left") < 1 and time.monotonic() < deadline:
        assert left.poll() is None, left.communicate()[1][-3000:]
        time.sleep(0.2)
    second = _search(tmp_path, data_cache, "left")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err[-3000:]
    err = err.replace("\n", " ")  # one paragraph, wrapped between words
    assert f"study 'left' in sqlite:///{tmp_path / 'optuna.db'} is being searched by " in err
    assert f"process {left.pid} on " in err and "Traceback" not in err
    errors = [proc.communicate(timeout=400)[1] for proc in (left, right)]
    for proc, err in zip((left, right), errors, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "database is locked" not in err

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    for name in ("left", "right"):
        mine = runs[runs["tags.nas.study"] == name]
        assert (mine["tags.nas.kind"] == "search").sum() == 1  # the refused one logged nothing
        assert (mine["tags.nas.kind"] == "candidate").sum() == 8
        assert set(mine["status"]) == {"FINISHED"}
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
        assert len(study.trials) == 8 and all(t.state.is_finished() for t in study.trials)
