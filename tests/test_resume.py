"""Kill a search anywhere, run it again: it finishes as if it had never been killed; a stop
signal ends it cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import mlflow
import optuna
import pytest

from nas import stopping
from nas.arch.space import search_distributions
from nas.config import load_config
from nas.errors import Stopped
from nas.search.loop import SearchState, _generation_trials
from nas.search.optuna_internals import SUGGEST
from nas.search.study import base_sampler, make_sampler, stale_trials
from tests.conftest import ROOT, sqlite_store, subprocess_env
from tools.tiny_search import TINY, tiny_search


def _command(tmp: Path, cache: Path, *extra: str, **options) -> list[str]:
    return tiny_search(
        tmp / "out",
        cache,
        "--search.generations",
        "3",
        "--search.study_name",
        "resume",
        *extra,
        **options,
    )


def _env(tmp: Path) -> dict[str, str]:
    return subprocess_env(MLFLOW_TRACKING_URI=sqlite_store(tmp), PYTHONPATH=str(ROOT))


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


def _values(params: dict) -> list[float]:
    """Made-up scores with many ties, as partial trainings give (NSGA-II breaks them at random
    when it chooses parents)."""
    digest = int(hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12], 16)
    return [digest % 3 / 3, (digest // 3) % 3]


class _Died(BaseException):
    """The process dies here."""


def _ask_and_tell(config, generations: int, die_after: int = 0, make=make_sampler) -> dict:
    """Generations asked through the search loop and told made-up scores; with `die_after`,
    the process 'dies' at that gene drawn (in the middle of an ask) and a new one, with a new
    sampler, resumes the study from generation 0 as the search does."""
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(
        study_name="s",
        storage=storage,
        sampler=make(config),
        directions=["maximize", "minimize"],
    )
    owner, name = SUGGEST  # where Optuna draws and stores one gene
    suggest, drawn = getattr(owner, name), [0]

    def dying(trial, name, distribution):
        drawn[0] += 1
        if drawn[0] == die_after:
            raise _Died
        return suggest(trial, name, distribution)

    for attempt in ("dies", "resumes"):
        study = optuna.load_study(study_name="s", storage=storage, sampler=make(config))
        state = SearchState(config, study, None, None, None)
        state.adopted = {t.number: None for t in stale_trials(study)}
        try:
            with mock.patch.object(owner, name, dying):
                for g in range(generations):
                    for trial in _generation_trials(state, g):
                        study.tell(trial, _values(trial.params))
            break
        except _Died:
            assert attempt == "dies"
    return {t.number: t.params for t in study.get_trials()}


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_a_resumed_study_asks_what_the_uninterrupted_one_would_have(sampler) -> None:
    """Each trial draws from its own seed and a trial killed mid-ask is asked again in place, so
    the genes of every trial are those of an uninterrupted search; without the per-trial seeds
    they would not be. NSGA-II (the default) and TPE (the quickstart's sampler)."""
    config = load_config([TINY], {"search.population_size": 4, "search.sampler": sampler})
    uninterrupted = _ask_and_tell(config, 4)
    assert len(uninterrupted) == 16
    genes = len(search_distributions(config.space))
    for die_after in (genes + 15, 4 * genes + 10, 9 * genes + 20, 12 * genes + 5):  # gens 0-3
        assert _ask_and_tell(config, 4, die_after) == uninterrupted, die_after
    one_stream = lambda config: base_sampler(config.search, config.search.seed)  # noqa: E731
    assert _ask_and_tell(config, 4, 9 * genes + 20, one_stream) != _ask_and_tell(config, 4)


# Where the search is killed, in order, each time the command is run again: (point, n) is the
# n-th time one run of the command gets to a point of tools/kill_driver.py
KILLS = [
    ("mid-ask", 4 * 36 + 18),  # generation 1, its second trial half asked (36 genes a trial)
    ("outcome", 2),  # a training's outcome on disk, not logged
    ("recorded", 2),  # a candidate recorded in its trial, its run open, not told
    ("after-tell", 3),  # told, its kept outcome not yet removed
    ("registered", 1),  # part of the front registered
]
DETERMINISTIC = ["--search.objectives", "[val_miou, num_params]"]  # measured latency is noisy


def _search(tmp: Path, cache: Path, kill: tuple[str, int] | None) -> subprocess.Popen:
    command = _command(tmp, cache, *DETERMINISTIC, kill=kill)
    log = open(tmp / "search.log", "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=tmp, env=_env(tmp), stdout=log, stderr=log)


def _stores(tmp: Path) -> dict:
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{tmp / 'optuna.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    versions = mlflow.MlflowClient().search_model_versions("name = 'face-seg-hourglass'")
    return {
        "trials": study.get_trials(),
        "runs": mlflow.search_runs(search_all_experiments=True),
        "front": Counter(v.tags["nas.archid"] for v in versions),
    }


def test_killed_anywhere_the_search_resumes_exactly(tmp_path: Path, data_cache: Path) -> None:
    """SIGKILLed at each of KILLS in turn and run again until it ends: every trial has the genes
    and the state of an uninterrupted search's (same seed, deterministic objectives), no
    training ran twice, every trained trial has one FINISHED run with its model, no run is left
    RUNNING, and the same front is registered once."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir()
    killed.mkdir()
    uninterrupted = _search(reference, data_cache, None)  # alongside, on the other core
    for kill in KILLS:
        assert _search(killed, data_cache, kill).wait(timeout=300) == -signal.SIGKILL, kill
    assert _search(killed, data_cache, None).wait(timeout=300) == 0
    assert uninterrupted.wait(timeout=300) == 0
    log = (killed / "search.log").read_text()
    assert "Traceback" not in log
    assert "was trained before the search was killed" in log and "told now, as recorded" in log
    expected, got = _stores(reference), _stores(killed)

    assert [(t.params, t.state) for t in got["trials"]] == [
        (t.params, t.state) for t in expected["trials"]
    ]
    trained = Counter(re.findall(r"trial \d+ ([0-9a-f]{8}) trained:", log))
    assert trained and max(trained.values()) == 1, trained
    runs = got["runs"]
    assert "RUNNING" not in set(runs["status"])
    complete = [t for t in got["trials"] if t.user_attrs["nas"]["state"] == "complete"]
    for trial in complete:
        mine = runs[(runs["tags.nas.trial"] == str(trial.number)) & (runs["status"] == "FINISHED")]
        assert len(mine) == 1 and not mine["metrics.val_miou"].isna().any(), trial.number
        assert mlflow.get_run(mine["run_id"].iloc[0]).outputs.model_outputs
    assert got["front"] == expected["front"] and set(got["front"].values()) == {1}
    assert not list((killed / "out" / ".pending").iterdir())


@pytest.mark.parametrize(
    ("signum", "executor"),
    [(signal.SIGINT, "serial"), (signal.SIGTERM, "ray")],
)
def test_signal_stops_the_search_cleanly(
    tmp_path: Path, data_cache: Path, signum: int, executor: str
) -> None:
    """Ctrl-C (serial) or SIGTERM (Ray, whose driver would otherwise die on SIGTERM with its own
    handler) mid-training: within seconds, exit 128 + signal, one line saying how to resume, no
    MLflow run left RUNNING (the search's and the candidate's are KILLED), and the same command
    then finishes the search. Resuming is
    test_killed_anywhere_the_search_resumes_exactly's: a stopped search leaves the same state as
    a killed one."""
    ray = ["--search.executor", "ray"] if executor == "ray" else []
    command = _command(tmp_path, data_cache, *ray, serial=executor != "ray")
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
    assert proc.returncode == 128 + signum, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stopped by {signal.Signals(signum).name}"), err[-3000:]
    assert "run the same command again" in last and "Traceback" not in err

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "RUNNING" not in set(runs["status"])
    parent = runs[runs["tags.nas.kind"] == "search"]
    assert list(parent["status"]) == ["KILLED"]
    if executor == "serial":  # and it resumes from there
        done = subprocess.run(command, cwd=tmp_path, env=_env(tmp_path), capture_output=True)
        assert done.returncode == 0, done.stderr[-3000:]


def test_a_stop_waits_for_a_safe_point_unless_it_only_waits_or_is_repeated(capfd) -> None:
    """Inside safe_points a signal asks for a stop that check() raises; inside interruptible(),
    and for a second signal, it raises at once; outside, the handlers are as they were. (SIGTERM
    throughout: a test run in the background may have SIGINT ignored, which is kept.)"""
    before = signal.getsignal(signal.SIGTERM)
    with stopping.safe_points():
        os.kill(os.getpid(), signal.SIGTERM)  # a write to the stores would go on undisturbed
        with pytest.raises(Stopped) as raised:
            stopping.check()
        assert raised.value.signum == signal.SIGTERM
        with pytest.raises(Stopped):  # again: at once
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    with stopping.safe_points():
        with pytest.raises(Stopped), stopping.interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # a training, a wait on Ray
    assert signal.getsignal(signal.SIGTERM) is before
    assert "SIGTERM received: stopping once the current step is recorded" in capfd.readouterr().err
