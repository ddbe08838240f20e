"""Kill a search mid-generation, run it again: it continues and the final front is complete."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest

from tests.conftest import ROOT, subprocess_env

TINY = ROOT / "tests" / "data" / "tiny.yaml"


def _command(tmp: Path, cache: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "entrypoints.search",
        "--search-config",
        str(TINY),
        "--serial-training",
        "true",
        "--output-dir",
        str(tmp / "out"),
        "--data.cache_dir",
        str(cache),
        "--search.generations",
        "3",
        "--search.study_name",
        "resume",
    ]


def _env(tmp: Path) -> dict[str, str]:
    return subprocess_env(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}", PYTHONPATH=str(ROOT)
    )


def _complete_trials(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[
                0
            ]
    except sqlite3.Error:
        return 0


def _kill_mid_generation_1(tmp: Path, cache: Path) -> None:
    proc = subprocess.Popen(
        _command(tmp, cache),
        cwd=tmp,
        env=_env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 150
    while _complete_trials(tmp / "optuna.db") < 5 and time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before it could be killed"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_after_kill(tmp_path: Path, data_cache: Path) -> None:
    _kill_mid_generation_1(tmp_path, data_cache)
    assert 5 <= _complete_trials(tmp_path / "optuna.db") < 12
    done = subprocess.run(
        _command(tmp_path, data_cache),
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    everything = study.get_trials()
    assert all(t.state.is_finished() for t in everything)
    # the trials the kill left running are told FAIL and their parameters run again
    reruns = {t.user_attrs["retry_of"]: t for t in everything if "retry_of" in t.user_attrs}
    for number, rerun in reruns.items():
        assert everything[number].state == optuna.trial.TrialState.FAIL
        assert rerun.params == everything[number].params and rerun.state.is_finished()
    trials = [t for t in everything if t.number not in reruns]
    assert len(trials) == 12 and all(t.state.is_finished() for t in trials)
    assert sorted(t.user_attrs["generation"] for t in trials) == [0] * 4 + [1] * 4 + [2] * 4

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "RUNNING" not in set(runs["status"])
    assert (runs["status"] == "KILLED").sum() >= 1  # at least the dead search's parent run
    trained = runs[(runs["tags.nas.state"] == "complete") & (runs["status"] == "FINISHED")]
    assert trained["tags.nas.archid"].is_unique  # nothing finished was trained again
    client = mlflow.MlflowClient()
    best = client.get_model_version_by_alias("face-seg-hourglass", "pareto-best-iou")
    assert best.tags["nas.study"] == "resume"
    assert len(list((tmp_path / "out").glob("search_state_*.csv"))) == 3


@pytest.mark.parametrize(
    ("signum", "executor"),
    [(signal.SIGTERM, "serial"), (signal.SIGINT, "serial")],
)
def test_signal_stops_the_search_cleanly(
    tmp_path: Path, data_cache: Path, signum: int, executor: str
) -> None:
    """Ctrl-C or SIGTERM mid-training: within seconds, exit 128 + signal, one line saying how to
    resume, no MLflow run left RUNNING (the search's and the candidate's are KILLED); with Ray
    too, whose driver would otherwise die on SIGTERM with its own handler. Resuming is
    test_resume_after_kill's: a stopped search leaves the same state as a killed one."""
    command = _command(tmp_path, data_cache)
    if executor == "ray":
        command[command.index("--serial-training") : command.index("--serial-training") + 2] = []
        command += ["--search.executor", "ray"]
    log = tmp_path / "search.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=_env(tmp_path),
            stderr=out,
            stdout=out,
            # a shell without job control starts background commands with SIGINT ignored, which
            # Python then keeps: give the search the default, as in a terminal
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 150
    while _complete_trials(tmp_path / "optuna.db") < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before it could be stopped"
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before it could be stopped"
    proc.send_signal(signum)
    stopped = time.monotonic()
    proc.wait(timeout=60)
    assert time.monotonic() - stopped < 30
    err = log.read_text()
    # Ray's driver may take SIGTERM over from the search's handler and turn it into a
    # KeyboardInterrupt: the stop is as clean, but reads as SIGINT (130); see RayExecutor
    codes = {128 + signum} | ({128 + signal.SIGINT} if executor == "ray" else set())
    assert proc.returncode in codes, err[-3000:]
    last = err.strip().splitlines()[-1]
    name = signal.Signals(proc.returncode - 128).name
    assert last.startswith(f"stopped by {name}"), err[-3000:]
    assert "run the same command again" in last and "Traceback" not in err

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "RUNNING" not in set(runs["status"])
    parent = runs[runs["tags.nas.kind"] == "search"]
    assert list(parent["status"]) == ["KILLED"]
