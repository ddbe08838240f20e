"""The scale-out stack on this machine, each part its own process on 127.0.0.1: PostgreSQL (the
MLflow store, its users, and the Optuna study), an S3 endpoint (moto) for artifacts, the MLflow
tracking server with basic auth proxying artifacts to S3, and a Ray cluster of two nodes.

    python -m cluster.stack up       # start what is not running; print the `export` lines
    python -m cluster.stack env      # print the `export` lines again
    python -m cluster.stack status   # which parts run
    python -m cluster.stack down     # stop every part; `down --purge` also deletes their data

State lives in NAS_CLUSTER_DIR (default .cache/cluster): ports.json and secrets.json (mode 600)
are made on the first `up` and kept, so the addresses and passwords stay the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cluster import postgres
from cluster.ports import free_port, port_open
from cluster.procs import StackError, alive, descendants, matching, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "nas-artifacts"
ADMIN = "nas-admin"
PORTS = ("postgres", "s3", "mlflow", "ray")
DATABASES = ("mlflow", "mlflow_auth", "optuna")
DEVICE = "device"  # the Ray resource of the second node: `targets.T.resource: device` times T there


@dataclass(frozen=True)
class Stack:
    """Where the stack keeps its data, and the ports and secrets it was made with."""

    home: Path
    ports: dict[str, int]
    secrets: dict[str, str]

    def db_url(self, database: str) -> str:
        return (
            f"postgresql://nas:{self.secrets['db_password']}@127.0.0.1:"
            f"{self.ports['postgres']}/{database}"
        )

    @property
    def s3_env(self) -> dict[str, str]:
        return {
            "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['s3']}",
            "AWS_ACCESS_KEY_ID": self.secrets["s3_key"],
            "AWS_SECRET_ACCESS_KEY": self.secrets["s3_secret"],
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    @property
    def ray_marker(self) -> str:
        """Every Ray process of this stack names this folder on its command line (kept short:
        Ray puts unix sockets below it)."""
        return f"/tmp/nas-ray-{self.ports['ray']}"

    def exports(self) -> dict[str, str]:
        return {
            "RAY_ADDRESS": f"127.0.0.1:{self.ports['ray']}",
            # Ray 2.60 rewrites 127.0.0.1 to the machine's outward address unless this is 0;
            # any Ray client of this loopback cluster (`ray status`, a script) needs it
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.ports['mlflow']}",
            "MLFLOW_TRACKING_USERNAME": ADMIN,
            "MLFLOW_TRACKING_PASSWORD": self.secrets["mlflow_password"],
            "NAS_SEARCH_STORAGE": self.db_url("optuna"),
        }


def _spawn(stack: Stack, part: str, args: list[str], **kwargs) -> int:
    """Start one long-running part and remember its PID in `<part>.pid`."""
    pid = spawn(args, stack.home / f"{part}.log", **kwargs)
    (stack.home / f"{part}.pid").write_text(str(pid))
    return pid


def _stop(stack: Stack, part: str) -> None:
    """Stop the part started as `<part>.pid` and every process below it."""
    pidfile = stack.home / f"{part}.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        if alive(pid):
            stop(descendants([pid]))
        pidfile.unlink()


def _load_or_make(path: Path, make) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(value, indent=2))
    return value


def open_stack(home: Path | None = None) -> Stack:
    home = home or Path(os.environ.get("NAS_CLUSTER_DIR") or ROOT / ".cache" / "cluster")
    home = home.resolve()
    ports = _load_or_make(home / "ports.json", lambda: {name: free_port() for name in PORTS})
    token = lambda: secrets.token_urlsafe(18)  # noqa: E731
    made = _load_or_make(
        home / "secrets.json",
        lambda: {
            "postgres_password": token(),
            "db_password": token(),
            "mlflow_password": token(),
            "flask_secret": token(),
            "s3_key": "nas" + secrets.token_hex(8),
            "s3_secret": token(),
        },
    )
    return Stack(home, ports, made)


def start_s3(stack: Stack) -> None:
    """moto's S3 server (objects in memory: `down` discards them) and the artifact bucket."""
    port = stack.ports["s3"]
    if not port_open(port):
        pid = _spawn(
            stack, "s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        )
        wait_until(
            lambda: port_open(port), "the S3 endpoint (moto_server)", stack.home / "s3.log", pid=pid
        )
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.s3_env["MLFLOW_S3_ENDPOINT_URL"],
        aws_access_key_id=stack.secrets["s3_key"],
        aws_secret_access_key=stack.secrets["s3_secret"],
        region_name="us-east-1",
    )
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)


def _mlflow_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def mlflow_server_command(port: int, backend: str, artifacts: str, workers: int) -> list[str]:
    """`mlflow server` on 127.0.0.1:`port`, runs in `backend`, artifacts proxied to `artifacts`."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        artifacts,
        "--workers",
        str(workers),
    ]


def start_mlflow(stack: Stack) -> None:
    """`mlflow server`: runs in PostgreSQL, artifacts proxied to the bucket, basic auth on."""
    port = stack.ports["mlflow"]
    if _mlflow_ready(port):
        return
    auth = stack.home / "basic_auth.ini"
    auth.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = {stack.db_url('mlflow_auth')}\nadmin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # checking a password costs a PBKDF2 hash: remember a good one for 5 minutes
        "auth_cache_ttl_seconds = 300\n"
    )
    auth.chmod(0o600)
    env = {
        **os.environ,
        **stack.s3_env,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth),
        "MLFLOW_AUTH_ADMIN_PASSWORD": stack.secrets["mlflow_password"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": stack.secrets["flask_secret"],
        # the job runner and its queue consumers serve MLflow's GenAI features, not a search
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = mlflow_server_command(port, stack.db_url("mlflow"), f"s3://{BUCKET}", workers=2)
    pid = _spawn(stack, "mlflow", [*command, "--app-name", "basic-auth"], env=env, cwd=stack.home)
    wait_until(
        lambda: _mlflow_ready(port),
        "the MLflow tracking server",
        stack.home / "mlflow.log",
        timeout=180,
        pid=pid,
    )


def _ray_node(stack: Stack, name: str, head: bool) -> int:
    """One Ray node with one CPU, its own data cache (NAS_CACHE_DIR) and working folder; the
    second node also advertises DEVICE, the device a deployment target is timed on."""
    node = stack.home / "ray" / name
    (node / "cache").mkdir(parents=True, exist_ok=True)
    (node / "work").mkdir(parents=True, exist_ok=True)
    port = stack.ports["ray"]
    where = (
        ["--head", f"--port={port}", "--include-dashboard=false"]
        if head
        else [f"--address=127.0.0.1:{port}"]
    )
    args = [
        sys.executable,
        str(ROOT / "cluster" / "ray_node.py"),
        "start",
        *where,
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        *([] if head else [f"--resources={json.dumps({DEVICE: 1})}"]),
        "--disable-usage-stats",
        f"--temp-dir={stack.ray_marker}/{name}",
        "--block",
    ]
    # ray_node.py sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER for the processes it starts; in its own
    # environment the variable would refuse a second node
    dropped = ("PYTHONPATH", "RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(NAS_CACHE_DIR=str(node / "cache"), RAY_AUTH_MODE="disabled")
    return _spawn(stack, f"ray-{name}", args, env=env, cwd=node / "work")


def _ray_nodes_alive(stack: Stack) -> int:
    """Alive nodes of the stack's Ray cluster, as `ray.nodes()` tells a driver connected to it
    (this process; it stays connected until ray.shutdown())."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep 127.0.0.1 (cluster/ray_node.py)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    if not ray.is_initialized():
        ray.init(
            address=f"127.0.0.1:{stack.ports['ray']}",
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=False,
        )
    return sum(node["Alive"] for node in ray.nodes())


def start_ray(stack: Stack) -> None:
    """The head node (unless it answers), then the second node (unless both are alive)."""
    if not port_open(stack.ports["ray"]):
        pid = _ray_node(stack, "head", head=True)
        wait_until(
            lambda: port_open(stack.ports["ray"]),
            "the Ray head node",
            stack.home / "ray-head.log",
            pid=pid,
        )
    try:
        if _ray_nodes_alive(stack) < 2:
            pid = _ray_node(stack, "node2", head=False)
            wait_until(
                lambda: _ray_nodes_alive(stack) >= 2,
                "the second Ray node",
                stack.home / "ray-node2.log",
                pid=pid,
            )
    finally:
        import ray

        ray.shutdown()


def start_postgres(stack: Stack) -> None:
    folder = postgres.server_folder(stack.home)
    postgres.start(folder, stack.ports["postgres"], stack.secrets, DATABASES)


def up(stack: Stack) -> None:
    """Start every part that does not run: PostgreSQL, the S3 endpoint and the Ray cluster at
    once, then the MLflow server (it needs PostgreSQL)."""
    say("PostgreSQL, S3 endpoint, Ray cluster")
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [pool.submit(part, stack) for part in (start_postgres, start_s3)]
        start_ray(stack)  # here: a Ray driver wants the main thread
        for done in started:
            done.result()  # the first failure, with its message
    say("MLflow tracking server")
    start_mlflow(stack)


def down(stack: Stack, purge: bool) -> None:
    """Stop every part at once (and anything of Ray's that outlived its node process), then
    PostgreSQL; with `purge`, delete their data too."""
    pidfiles = [stack.home / f"{part}.pid" for part in ("ray-node2", "ray-head", "mlflow", "s3")]
    pids = [int(p.read_text()) for p in pidfiles if p.exists()]
    stop(descendants([pid for pid in pids if alive(pid)]) + matching(stack.ray_marker))
    for pidfile in pidfiles:
        pidfile.unlink(missing_ok=True)
    postgres.stop(postgres.server_folder(stack.home))
    if purge:
        shutil.rmtree(postgres.server_folder(stack.home), ignore_errors=True)
        shutil.rmtree(stack.home, ignore_errors=True)
        shutil.rmtree(stack.ray_marker, ignore_errors=True)


def status(stack: Stack) -> dict[str, bool]:
    return {
        "postgres": postgres.running(postgres.server_folder(stack.home)),
        "s3": port_open(stack.ports["s3"]),
        "mlflow": _mlflow_ready(stack.ports["mlflow"]),
        "ray": port_open(stack.ports["ray"]),
    }


def say(what: str) -> None:
    print(f"cluster: {what}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.stack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "env", "status"))
    parser.add_argument("--purge", action="store_true", help="with down: delete the data too")
    args = parser.parse_args(argv)
    stack = open_stack()
    try:
        if args.command == "up":
            up(stack)
        elif args.command == "down":
            down(stack, args.purge)
            return 0
        elif args.command == "status":
            for part, running in status(stack).items():
                print(f"{part:<9} {'running' if running else 'stopped'}")
            return 0
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, value in stack.exports().items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
