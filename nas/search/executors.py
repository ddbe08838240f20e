"""Executors run candidate evaluations: a registry by name (`search.executor`), with `serial`
(one at a time in the driver) and `ray` (parallel Ray tasks). A new backend is one class here,
registered with @register_executor("name")."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from nas.config import SearchConfig
from nas.errors import UserError
from nas.evaluation.job import Job, Outcome, evaluate_job, failed, with_device
from nas.paths import PROJECT_ROOT

log = logging.getLogger(__name__)


# Folders of the project that Ray does not ship to its workers.
RAY_EXCLUDES = [
    ".venv",
    ".cache",
    ".git",
    "outputs",
    "mlruns",
    "mlartifacts",
    "*.db",
    "*.egg-info",
    "synthetic_faces",
]


class Executor(Protocol):
    """Runs jobs and yields their outcomes as they finish, in any order; a job that cannot run
    yields a failed Outcome instead of raising."""

    description: str  # where the jobs run, in words (the parent run's `nas.executor` tag)

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


EXECUTORS: dict[str, Callable[[SearchConfig], Executor]] = {}


def register_executor(name: str) -> Callable[[type], type]:
    """Class decorator: make an Executor, built from the SearchConfig, `search.executor: name`."""

    def register(cls: type) -> type:
        EXECUTORS[name] = cls
        return cls

    return register


def check_executor(name: str) -> None:
    if name not in EXECUTORS:
        raise UserError(f"search.executor = {name!r}: expected one of {sorted(EXECUTORS)}.")


def make_executor(search: SearchConfig) -> Executor:
    """The executor `search.executor` names."""
    check_executor(search.executor)
    return EXECUTORS[search.executor](search)


@register_executor("serial")
class SerialExecutor:
    """Evaluate in the driver process, one job after another."""

    description = "serial (in the driver process)"

    def __init__(self, search: SearchConfig | None = None) -> None:
        pass

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield evaluate_job(job)

    def close(self) -> None:
        pass


@register_executor("ray")
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
                # workers import `nas` from the project folder that Ray ships them
                runtime_env={"working_dir": str(PROJECT_ROOT), "excludes": RAY_EXCLUDES},
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
