"""Run candidate evaluations one at a time in the driver, or in parallel as Ray tasks."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Protocol

from nas.config import SearchConfig
from nas.evaluation.job import Job, Outcome, evaluate_job, failed, with_device
from nas.paths import PROJECT_ROOT

log = logging.getLogger(__name__)


class Executor(Protocol):
    description: str

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Evaluate in the driver process, one job after another (`serial_training`)."""

    description = "serial (in the driver process)"

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield evaluate_job(job)

    def close(self) -> None:
        pass


def _runtime_env(address: str) -> dict:
    """Workers import `nas` from the project: by path locally, by upload to a remote cluster."""
    if address:
        return {
            "working_dir": str(PROJECT_ROOT),
            "excludes": [".venv", ".cache", "mlartifacts", "*.db", ".git", "outputs"],
        }
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {"env_vars": {"PYTHONPATH": path}}


class RayExecutor:
    """Each job is a Ray task: `gpus_per_job` of a GPU where the cluster has GPUs, else
    `cpus_per_job` CPU slots (torch threads are set inside the task)."""

    def __init__(self, search: SearchConfig):
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            # A single-machine Ray of our own: Ray then binds every server to 127.0.0.1
            # instead of all interfaces (read when ray is first imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(
                address=address or None,
                include_dashboard=False,
                runtime_env=_runtime_env(address),
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=False,
            )
        gpus = ray.cluster_resources().get("GPU", 0)
        # A task asking for a GPU on a cluster without one would wait forever.
        self.num_gpus = search.gpus_per_job if gpus > 0 else 0.0
        self.device = "auto" if self.num_gpus > 0 else "cpu"
        self.remote = ray.remote(evaluate_job).options(
            num_cpus=search.cpus_per_job,
            num_gpus=self.num_gpus,
            max_retries=0,
            retry_exceptions=False,
        )
        cpus = ray.cluster_resources().get("CPU", 0)
        where = f"{self.num_gpus} GPU each" if self.num_gpus else f"{search.cpus_per_job} CPU each"
        self.description = f"Ray ({where}; cluster {cpus:g} CPU, {gpus:g} GPU)"

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        """Yield outcomes as they finish; a crashed worker yields a failed outcome."""
        pending = {self.remote.remote(with_device(job, self.device)): job for job in jobs}
        while pending:
            (ref,), _ = self.ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            try:
                yield self.ray.get(ref)
            except self.ray.exceptions.RayError as err:
                yield failed(job, f"{type(err).__name__}: {err}")

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def make_executor(search: SearchConfig) -> Executor:
    return SerialExecutor() if search.serial_training else RayExecutor(search)
