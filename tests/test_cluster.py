"""The scale-out path on real parts: `cluster.stack` (started once, from a copy of the checkout in
a private folder: tests/conftest.py) runs PostgreSQL, an S3 endpoint, an MLflow server with basic
auth and a two-node Ray cluster on 127.0.0.1; a search runs on it unchanged, survives a lost Ray
node, a tracking server outage and a killed driver, refuses bad settings before training, and
leaves no secret in what it writes. Everything started is stopped."""

from __future__ import annotations

import ipaddress
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import optuna
import pandas as pd
import psutil
import psycopg
import pytest
import requests

from cluster import postgres
from cluster import stack as stack_module
from cluster.ports import free_port
from cluster.procs import descendants, wait_until
from nas.data.face_synthetics import scan_folder
from tests.conftest import ROOT, Stack, started_pids
from tools.tiny_search import tiny_search

MODEL = "face-seg-hourglass"
PULL = """
import sys, numpy as np, mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
logits = model.predict(np.random.rand(1, 3, 64, 64).astype(np.float32))["logits"]
assert logits.shape == (1, 19, 64, 64), logits.shape
print("pulled", logits.shape)
"""


def _search(stack: Stack, tmp: Path, name: str, *extra: str, **env: str) -> subprocess.Popen:
    command = tiny_search(
        tmp / name,
        tmp / "driver-cache",
        "--search.study_name",
        name,
        "--search.population_size",
        "4",
        *extra,
        serial=False,
    )
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed when the process is waited on
    return subprocess.Popen(
        command, cwd=ROOT, env=stack.env(**env), stdout=log, stderr=subprocess.STDOUT
    )


def _wait(proc: subprocess.Popen, timeout: float = 600) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        proc.stdout and proc.stdout.close()


def _complete_trials(stack: Stack, name: str) -> int:
    try:
        study = optuna.load_study(study_name=name, storage=stack.exports["NAS_SEARCH_STORAGE"])
    except KeyError:
        return 0
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials())


def _child_runs(stack: Stack, name: str) -> list:
    client = stack.client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(
        experiments,
        filter_string=(f"tags.`nas.study` = '{name}' and tags.`nas.kind` = 'candidate'"),
        max_results=1000,
    )


@pytest.fixture(scope="module")
def bucketless(stack: Stack, tmp_path_factory) -> Iterator[int]:
    """The port of a second tracking server whose artifact destination is a bucket that does
    not exist (test_a_missing_bucket_fails_before_training's). `searched` starts it, so that
    its start-up (about 20 s on 2 cores) overlaps the module's first search."""
    inner = stack_module.open_stack(stack.home)
    port = free_port()
    env = {
        **os.environ,
        **inner.s3_env,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "x",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    server = subprocess.Popen(
        stack_module.mlflow_server_command(port, inner.db_url("mlflow"), "s3://no-such-bucket", 1),
        cwd=tmp_path_factory.mktemp("bucketless"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


@pytest.fixture(scope="module")
def searched(stack: Stack, bucketless: int, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cluster-search")
    # 2 x 4 candidates; the target `dev` is timed on the node that advertises the device
    proc = _search(
        stack, tmp, "onstack", "--search.generations", "2", "--targets.dev.resource", "device"
    )
    assert _wait(proc) == 0, (tmp / "onstack.log").read_text()[-4000:]
    return tmp


def test_the_stack_runs_from_a_private_folder_whose_path_has_a_space(stack: Stack) -> None:
    """Started from a clone in a folder only its owner may enter (root's home, `mktemp -d`),
    under a path with a space: every part runs, and as root PostgreSQL (which runs as user
    postgres) keeps its files where that user can reach them."""
    assert stat.S_IMODE(stack.checkout.parent.stat().st_mode) == 0o700
    assert " " in str(stack.checkout) and stack.home.is_relative_to(stack.checkout)
    status = stack.stack_command("status")
    assert status.returncode == 0 and status.stdout.split()[1::2] == ["running"] * 4, status
    folder = postgres.server_folder(stack.home)
    assert (folder / "data" / "PG_VERSION").exists()
    assert folder.is_relative_to(stack.checkout) == (os.geteuid() != 0)


def test_stack_listens_on_loopback_and_refuses_strangers(stack: Stack) -> None:
    pids = descendants(started_pids(stack.home))
    addresses = _listening_addresses(set(pids))
    assert addresses and all(_loopback(a) for a in addresses), addresses
    uri = stack.exports["MLFLOW_TRACKING_URI"]
    search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(search, timeout=10).status_code == 401
    user = stack.exports["MLFLOW_TRACKING_USERNAME"]
    assert requests.get(search, auth=(user, "wrong"), timeout=10).status_code == 401
    password = stack.exports["MLFLOW_TRACKING_PASSWORD"]
    assert requests.get(search, auth=(user, password), timeout=10).status_code == 200
    roots = sorted(started_pids(stack.home))
    again = stack.stack_command("up")  # idempotent: no part starts again
    assert again.returncode == 0 and again.stdout.splitlines()[0].startswith("export ")
    assert sorted(started_pids(stack.home)) == roots


def test_candidates_train_on_both_nodes_and_everything_lands_in_the_stack(
    stack: Stack, searched: Path
) -> None:
    runs = _child_runs(stack, "onstack")
    trained = [r for r in runs if r.data.tags.get("nas.state") == "complete"]
    assert len(runs) == 8 and len(trained) >= 6
    assert len({r.data.tags["nas.node"] for r in trained}) == 2  # both Ray nodes trained
    assert all(
        r.info.status == ("FAILED" if r.data.tags["nas.state"] == "failed" else "FINISHED")
        for r in runs
    )
    client = stack.client()
    version = client.get_model_version_by_alias(MODEL, "pareto-knee")
    assert version.tags["nas.study"] == "onstack"
    # the runs, the registry and the aliases live in PostgreSQL
    with psycopg.connect(stack_module.open_stack(stack.home).db_url("mlflow")) as db:
        count = db.execute("select count(*) from runs").fetchone()[0]
        aliases = db.execute("select alias from registered_model_aliases").fetchall()
    assert count >= 9 and {"pareto-knee", "pareto-best-iou"} <= {a for (a,) in aliases}
    # every artifact lands in the bucket
    keys = [
        o["Key"]
        for o in _bucket(stack).list_objects_v2(Bucket="nas-artifacts", MaxKeys=1000)["Contents"]
    ]
    for ending in (".onnx", ".json", ".csv", ".png", ".html"):
        assert any(k.endswith(ending) for k in keys), (ending, keys[:20])
    # the Optuna study lives in PostgreSQL
    study = optuna.load_study(study_name="onstack", storage=stack.exports["NAS_SEARCH_STORAGE"])
    assert len(study.get_trials()) == 8


def test_a_target_bound_to_a_device_is_timed_on_the_node_that_has_it(
    stack: Stack, searched: Path
) -> None:
    probe = (
        "import os, ray\n"
        "ray.init(address=os.environ['RAY_ADDRESS'], log_to_driver=False)\n"
        "print([n['NodeID'] for n in ray.nodes() if n['Alive'] and 'device' in n['Resources']])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=stack.env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (device,) = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our probe's list
    runs = _child_runs(stack, "onstack")
    measured = [r for r in runs if "latency_ms.dev" in r.data.metrics]
    assert measured and {r.data.tags["nas.target_node.dev"] for r in measured} == {device}
    assert all("fp32, 1 thread(s)" in r.data.tags["nas.target.dev"] for r in measured)


def test_a_registered_model_pulls_through_the_server_without_s3_keys(
    stack: Stack, searched: Path
) -> None:
    env = {k: v for k, v in stack.env().items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [sys.executable, "-c", PULL, f"models:/{MODEL}@pareto-knee"],
        cwd=searched,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "pulled" in proc.stdout, proc.stderr[-3000:]


def test_the_second_node_made_the_same_data_itself(stack: Stack, searched: Path) -> None:
    driver = next(p for p in (searched / "driver-cache" / "synthetic").iterdir() if p.is_dir())
    node = stack.home / "ray" / "node2" / "cache" / "synthetic" / driver.name
    assert node.is_dir() and node.resolve() != driver.resolve()
    assert scan_folder(node)[1] == scan_folder(driver)[1]  # the same digest


def test_workers_get_the_code_from_ray_not_from_the_driver_folder(stack: Stack) -> None:
    probe = (
        "import os, ray\n"
        "from nas.search.executors import RayExecutor\n"
        "from nas.config import SearchConfig\n"
        "executor = RayExecutor(SearchConfig())\n"
        "where = lambda: __import__('nas').__file__\n"
        "print(ray.get([ray.remote(num_cpus=1)(where).remote() for _ in range(2)]))\n"
        "executor.close()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own probe's list
    assert all("runtime_resources" in p and not p.startswith(str(ROOT)) for p in paths), paths


def test_no_secret_is_written_anywhere(stack: Stack, searched: Path) -> None:
    secrets = [v for k, v in stack.secrets.items() if k != "s3_key"]
    dump = subprocess.run(
        ["pg_dump", "--data-only", stack_module.open_stack(stack.home).db_url("mlflow")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dump.returncode == 0 and "onstack" in dump.stdout, dump.stderr[-1000:]
    s3 = _bucket(stack)
    blobs = [
        s3.get_object(Bucket="nas-artifacts", Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket="nas-artifacts", MaxKeys=1000)["Contents"]
    ]
    files = [
        p.read_bytes()
        for p in searched.rglob("*")
        if p.is_file() and "cache" not in p.parts[len(searched.parts) :][0]
    ]
    for secret in secrets:
        assert secret not in dump.stdout
        assert all(secret.encode() not in blob for blob in blobs + files)


def test_bad_settings_fail_before_training(stack: Stack, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    db = stack.exports["NAS_SEARCH_STORAGE"]
    cases = {
        "wrong password": ({"MLFLOW_TRACKING_PASSWORD": "wrong"}, "refused"),
        "no server": ({"MLFLOW_TRACKING_URI": dead}, "does not answer"),
        "no database": (
            {
                "NAS_SEARCH_STORAGE": db.replace(
                    str(stack.ports["postgres"]), str(stack.ports["postgres"] + 1)
                )
            },
            "cannot open the Optuna storage",
        ),
    }
    before = len(_child_runs(stack, "refused"))
    for case, (env, expected) in cases.items():
        proc = _search(stack, tmp_path, "refused", **env)
        assert _wait(proc, 300) == 2, case
        text = (tmp_path / "refused.log").read_text()
        assert expected in text and "Traceback" not in text, (case, text[-2000:])
        assert not [s for s in stack.secrets.values() if s in text], case
        (tmp_path / "refused.log").unlink()
    assert len(_child_runs(stack, "refused")) == before == 0


def test_a_missing_bucket_fails_before_training(
    stack: Stack, bucketless: int, tmp_path: Path
) -> None:
    server = "the tracking server of a missing bucket"
    wait_until(lambda: stack_module._mlflow_ready(bucketless), server, None, timeout=120)
    uri = f"http://127.0.0.1:{bucketless}"
    proc = _search(stack, tmp_path, "nobucket", MLFLOW_TRACKING_URI=uri)
    assert _wait(proc, 300) == 2
    text = (tmp_path / "nobucket.log").read_text()
    assert "artifact store" in text and "Traceback" not in text, text[-2000:]


def test_faults_during_a_search(stack: Stack, tmp_path: Path) -> None:
    """One search meets three faults in turn: the second Ray node dies in generation 0, the
    tracking server is stopped and started again in generation 1 (down while it restarts: 30
    to 40 s here, with the client's back-off), the driver is SIGKILLed in generation 2; the same
    command then finishes it with nothing lost, repeated or left running."""
    name = "faults"
    size = ("--search.generations", "3", "--search.population_size", "3")  # 3 generations of 3
    fast = {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}  # retries 1, 2, 4, 8 s apart
    proc = _search(stack, tmp_path, name, *size, **fast)
    _until(lambda: _complete_trials(stack, name) >= 2, proc, "two trials told")
    stack_module._stop(stack_module.open_stack(stack.home), "ray-node2")
    _until(lambda: _complete_trials(stack, name) >= 4, proc, "generation 1 under way")
    stack_module._stop(stack_module.open_stack(stack.home), "mlflow")
    stack_module.start_mlflow(stack_module.open_stack(stack.home))
    _until(lambda: _complete_trials(stack, name) >= 7, proc, "generation 2 under way")
    proc.send_signal(signal.SIGKILL)
    _wait(proc)
    assert stack.stack_command("up").returncode == 0  # the second node back
    again = _search(stack, tmp_path, name, *size, **fast)
    assert _wait(again) == 0, (tmp_path / f"{name}.log").read_text()[-4000:]

    rows = pd.read_csv(tmp_path / name / "search_state_2.csv")
    assert len(rows) == 9  # 0 candidates lost: 3 generations of 3
    errors = " ".join(rows.loc[rows["state"] == "failed", "error"].astype(str))
    assert "Died" not in errors and "Crashed" not in errors  # the lost node's tasks ran again
    runs = _child_runs(stack, name)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    finished = [
        r
        for r in runs
        if r.info.status == "FINISHED" and r.data.tags.get("nas.state") == "complete"
    ]
    archids = [r.data.tags["nas.archid"] for r in finished]
    assert len(archids) == len(set(archids))  # 0 trained twice
    assert all("val_miou" in r.data.metrics for r in finished)
    log = (tmp_path / f"{name}.log").read_text()
    assert "does not answer" in log  # the wait for the tracking server was said


def _until(condition, proc: subprocess.Popen, what: str, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the search ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _bucket(stack: Stack):
    inner = stack_module.open_stack(stack.home)
    return boto3.client(
        "s3",
        endpoint_url=inner.s3_env["MLFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id=inner.secrets["s3_key"],
        aws_secret_access_key=inner.secrets["s3_secret"],
        region_name="us-east-1",
    )


def _listening_addresses(pids: set[int]) -> set[str]:
    """Local addresses of the TCP sockets in LISTEN state that `pids` hold."""
    found = set()
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        found |= {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback
