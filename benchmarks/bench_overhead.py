"""The search's overhead share on the cluster stack against the local stack, same tiny config:
the share of the search's wall time that is neither measuring latency nor waiting for
trainings (the parent run's `overhead_share`: Optuna, MLflow calls, reports, registry).

Local: the embedded default (SQLite MLflow store and study, Ray started in-process). Cluster:
`python -m cluster.stack up` in its own folder (PostgreSQL, the S3 endpoint, the MLflow server
with auth, two Ray nodes), stopped and deleted at the end. Each search runs as the user runs it,
a separate `entrypoints.search` process.

    python -m benchmarks.bench_overhead [--config confs/tiny.yaml] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.figures import print_figures

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("search_seconds", "latency_seconds", "training_wall_seconds", "overhead_share")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NAS_", "RAY_"))}
    return {**env, "RAY_AUTH_MODE": "disabled", **extra}


def search(config: str, sets: list[str], out: Path, name: str, env: dict[str, str]) -> dict:
    """One search as a separate process; its summary's timing figures."""
    command = [sys.executable, "-m", "entrypoints.search", "--search-config", config]
    command += ["--output-dir", str(out / name), "--search.study_name", name]
    command += ["--data.cache_dir", str(out / "cache")]
    for item in sets:
        key, value = item.split("=", 1)
        command += [f"--{key}", value]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {name} search failed:\n{done.stderr[-3000:]}")
    summary = yaml.safe_load((out / name / "summary.yaml").read_text())
    figures = {key: float(summary[key]) for key in KEYS}
    print(
        f"{name}: {figures['search_seconds']:.1f} s, latency {figures['latency_seconds']:.1f} s,"
        f" trainings {figures['training_wall_seconds']:.1f} s, overhead share "
        f"{figures['overhead_share']:.3f}",
        flush=True,
    )
    return figures


def stack(home: Path, command: str) -> dict[str, str]:
    """`python -m cluster.stack COMMAND` with its data in `home`; the exports it printed."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cluster.stack",
            command,
            *(["--purge"] if command == "down" else []),
        ],
        cwd=ROOT,
        env=_env(NAS_CLUSTER_DIR=str(home)),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"cluster.stack {command} failed:\n{done.stderr[-3000:]}")
    lines = [line.removeprefix("export ") for line in done.stdout.splitlines()]
    return dict(line.split("=", 1) for line in lines if "=" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "confs" / "tiny.yaml"))
    parser.add_argument("--set", action="append", default=[], help="section.key=value")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        local_env = _env(
            MLFLOW_TRACKING_URI=f"sqlite:///{out}/mlflow.db",
            NAS_SEARCH_STORAGE=f"sqlite:///{out}/optuna.db",
        )
        local = search(args.config, args.set, out, "overhead-local", local_env)
        home = ROOT / ".cache" / "cluster-bench"  # PostgreSQL's user must reach it
        try:
            exports = stack(home, "up")
            cluster = search(args.config, args.set, out, "overhead-cluster", _env(**exports))
        finally:
            stack(home, "down")
    ratio = cluster["overhead_share"] / max(local["overhead_share"], 1e-9)
    print(
        f"overhead share: cluster {cluster['overhead_share']:.3f}, local "
        f"{local['overhead_share']:.3f}, ratio {ratio:.2f}"
    )
    print_figures(
        {
            "local_overhead_share": local["overhead_share"],
            "cluster_overhead_share": cluster["overhead_share"],
            "ratio": ratio,
            "local_seconds": local["search_seconds"],
            "cluster_seconds": cluster["search_seconds"],
            "seconds": time.perf_counter() - started,
        }
    )


if __name__ == "__main__":
    main()
