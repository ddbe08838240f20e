"""Executors run candidate evaluations: a registry by name (`search.executor`), with `serial`
(one at a time in the driver) and `ray` (parallel Ray tasks). A new backend is one class here,
registered with @register_executor("name"); it marks its waits with nas.stopping.interruptible()
so that Ctrl-C stops a search at once while it waits."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nas import stopping
from nas.config import LatencyConfig, SearchConfig, TargetConfig
from nas.errors import UserError
from nas.evaluation.job import Job, Outcome, evaluate_job, failed, with_device
from nas.evaluation.targets import RemoteTimer, TargetLatency, time_here
from nas.evaluation.training import plan_steps
from nas.paths import PROJECT_ROOT

log = logging.getLogger(__name__)
POLL_S = 2.0  # how often the Ray executor looks at time limits while tasks run
STARTUP_ALLOWANCE_S = 300.0  # a task's time limit beyond its steps: start, data, eval, export
NODE_LOSS_RETRIES = 3  # runs of one job again after its node died
NODE_DEATH_WAIT_S = 20.0  # how long a crashed worker's node is watched for its death
REMOTE_TIMING_S = 600.0  # how long a model's timing on a target's node may take


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


def ray_runtime_env() -> dict[str, Any]:
    """What Ray ships its workers: the project folder, from which they import `nas`."""
    env: dict[str, Any] = {"working_dir": str(PROJECT_ROOT), "excludes": RAY_EXCLUDES}
    quoted = shlex.quote(sys.executable)
    if quoted != sys.executable:
        # With a runtime_env, Ray starts a worker through a bash command line holding its
        # Python's path unquoted, so a path with a space (a clone in "hourglass nas") fails to
        # start any worker. py_executable is a command line in Ray's docs: the quoted path of
        # this interpreter, the one the Ray nodes this project starts run too.
        env["py_executable"] = quoted
    return env


class Executor(Protocol):
    """Runs jobs and yields their outcomes as they finish, in any order; a job that cannot run
    yields a failed Outcome instead of raising. `timer` times models on the machines that
    advertise a resource (deployment targets bound to one), or is None where it cannot."""

    description: str  # where the jobs run, in words (the parent run's `nas.executor` tag)

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]: ...

    def timer(
        self, image_size: int, cfg: LatencyConfig, targets: dict[str, TargetConfig]
    ) -> RemoteTimer | None: ...

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
            with stopping.interruptible():  # a stop ends the training at once
                outcome = evaluate_job(job)
            yield outcome

    def timer(
        self, image_size: int, cfg: LatencyConfig, targets: dict[str, TargetConfig]
    ) -> RemoteTimer | None:
        return None

    def close(self) -> None:
        pass


def _time_on_node(
    name: str, model: bytes, image_size: int, target: TargetConfig, cfg: LatencyConfig
) -> TargetLatency:
    """time_here in a Ray task, with the id of the node that ran it."""
    import ray

    measured = time_here(name, model, image_size, target, cfg)
    return dataclasses.replace(measured, node=ray.get_runtime_context().get_node_id())


def _evaluate_on_node(job: Job) -> Outcome:
    """evaluate_job in a Ray task, with the id of the node that ran it."""
    import ray

    outcome = evaluate_job(job)
    outcome.node = ray.get_runtime_context().get_node_id()
    return outcome


@dataclass
class _Flight:
    """A submitted job: when, its time limit, the nodes alive then, how many times it ran."""

    job: Job
    started: float
    limit_s: float
    nodes: frozenset[str]
    attempt: int


def _loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


@register_executor("ray")
class RayExecutor:
    """Each job is a Ray task: `gpus_per_job` of a GPU where the cluster has GPUs, else
    `cpus_per_job` CPU slots (torch threads are set inside the task). At most as many tasks
    run as the cluster has slots, each within its time limit; a task lost with its node runs
    again elsewhere (a candidate that crashes its own worker is a failure)."""

    def __init__(self, search: SearchConfig):
        address = os.environ.get("RAY_ADDRESS", "")
        if not address or _loopback(address):
            # Ray 2.60 rewrites 127.0.0.1 to the machine's outward address
            # (ray._private.services.resolve_ip_for_localhost) unless this flag is 0, read when
            # ray is imported. With it, a Ray of our own listens on 127.0.0.1 only, and a
            # cluster on 127.0.0.1 (cluster/stack.py) is reached where it listens.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            own = signal.getsignal(signal.SIGTERM)  # Ray's driver installs a handler that dies
            ray.init(
                address=address or None,
                include_dashboard=False,
                # workers import `nas` from the project folder that Ray ships them
                runtime_env=ray_runtime_env(),
                logging_level=logging.WARNING,
                log_to_driver=False,
                configure_logging=False,
            )
            if callable(own) and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, own)  # SIGTERM stops the search cleanly again
        gpus = ray.cluster_resources().get("GPU", 0)
        # A task asking for a GPU on a cluster without one would wait forever.
        self.num_gpus = search.gpus_per_job if gpus > 0 else 0.0
        self.cpus_per_job = search.cpus_per_job
        self.device = "auto" if self.num_gpus > 0 else "cpu"
        self.timeout_per_step_s = search.timeout_per_step_s
        self.remote = ray.remote(_evaluate_on_node).options(
            num_cpus=search.cpus_per_job,
            num_gpus=self.num_gpus,
            max_retries=0,
            retry_exceptions=False,
        )
        cpus = ray.cluster_resources().get("CPU", 0)
        where = f"{self.num_gpus} GPU each" if self.num_gpus else f"{search.cpus_per_job} CPU each"
        nodes = len(self.alive_nodes())
        self.description = f"Ray ({where}; {nodes} node(s), {cpus:g} CPU, {gpus:g} GPU)"

    def timer(
        self, image_size: int, cfg: LatencyConfig, targets: dict[str, TargetConfig]
    ) -> RemoteTimer:
        """Times a model on a node that advertises the target's resource, taking no CPU slot
        there: the resource stands for the device. A resource of `targets` that no node
        advertises is a UserError now (a task asking for it would wait forever)."""
        for name, target in targets.items():
            self.check_resource(name, target.resource)
        remote = self.ray.remote(_time_on_node)

        def time_remote(name: str, model: bytes, target: TargetConfig) -> TargetLatency:
            self.check_resource(name, target.resource)
            where = {"num_cpus": 0, "resources": {target.resource: 1}, "max_retries": 1}
            ref = remote.options(**where).remote(name, model, image_size, target, cfg)
            with stopping.interruptible():
                ready, _ = self.ray.wait([ref], timeout=REMOTE_TIMING_S)
            if not ready:
                self.ray.cancel(ref, force=True)
                return TargetLatency(name, error=f"TimeoutError: not timed in {REMOTE_TIMING_S} s")
            try:
                return self.ray.get(ref)
            except self.ray.exceptions.RayError as err:
                return TargetLatency(name, error=f"{type(err).__name__}: {err}")

        return time_remote

    def check_resource(self, name: str, resource: str) -> None:
        """A UserError unless an alive node advertises `resource`."""
        if self.ray.cluster_resources().get(resource, 0) <= 0:
            raise UserError(
                f"targets.{name}.resource = {resource!r}: no node of the Ray cluster "
                f"({os.environ.get('RAY_ADDRESS') or 'started here'}) advertises it. Start the "
                f"node that times this target with --resources='{{\"{resource}\": 1}}', or "
                "leave the resource empty to time the target on this machine."
            )

    def alive_nodes(self) -> frozenset[str]:
        return frozenset(node["NodeID"] for node in self.ray.nodes() if node["Alive"])

    def capacity(self) -> int:
        """How many jobs the alive nodes can run at once."""
        total = self.ray.cluster_resources()
        if self.num_gpus:
            return max(1, int(total.get("GPU", 0) / self.num_gpus))
        return max(1, int(total.get("CPU", 0) // self.cpus_per_job))

    def time_limit_s(self, job: Job) -> float:
        """Start-up, evaluation and export allowance plus `timeout_per_step_s` per step."""
        if self.timeout_per_step_s <= 0:
            return math.inf
        steps, _ = plan_steps(job.training, job.split_sizes[0])
        return STARTUP_ALLOWANCE_S + steps * self.timeout_per_step_s

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        """Yield outcomes as they finish; a crashed worker yields a failed outcome."""
        queue = deque((job, 0) for job in jobs)
        flights: dict[Any, _Flight] = {}
        try:
            while queue or flights:
                while queue and len(flights) < self.capacity():
                    job, attempt = queue.popleft()
                    ref = self.remote.remote(with_device(job, self.device))
                    flights[ref] = _Flight(
                        job, time.monotonic(), self.time_limit_s(job), self.alive_nodes(), attempt
                    )
                with stopping.interruptible():  # a stop ends the wait at once
                    ready, _ = self.ray.wait(list(flights), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    outcome = self._collect(ref, flights.pop(ref), queue)
                    if outcome is not None:
                        yield outcome
                yield from self._expire(flights)
        finally:  # stopped (Ctrl-C, SIGTERM, an error in the driver): nothing keeps running
            for ref in flights:
                self.ray.cancel(ref, force=True)

    def _collect(self, ref: Any, flight: _Flight, queue: deque) -> Outcome | None:
        """The task's outcome; None when its node was lost and it was queued to run again."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as err:
            if flight.attempt < NODE_LOSS_RETRIES and self._node_lost(err, flight):
                log.warning(
                    "trial %d lost its Ray node (%s); running it again on another node",
                    flight.job.trial_number,
                    type(err).__name__,
                )
                queue.appendleft((flight.job, flight.attempt + 1))
                return None
            return failed(flight.job, f"{type(err).__name__}: {err}")

    def _node_lost(self, err: Exception, flight: _Flight) -> bool:
        """Whether `err` comes from a node that died rather than from the candidate: Ray says
        so, or a node alive at submission is gone within NODE_DEATH_WAIT_S (Ray notices a
        dead node some seconds after its workers' connections break)."""
        if isinstance(err, self.ray.exceptions.NodeDiedError):
            return True
        if self.started:  # the one node of a Ray this process started: its loss would be ours
            return False
        if not isinstance(
            err, (self.ray.exceptions.WorkerCrashedError, self.ray.exceptions.ObjectLostError)
        ):
            return False
        deadline = time.monotonic() + NODE_DEATH_WAIT_S
        while time.monotonic() < deadline:
            if flight.nodes - self.alive_nodes():
                return True
            with stopping.interruptible():
                time.sleep(1.0)
        return False

    def _expire(self, flights: dict[Any, _Flight]) -> Iterator[Outcome]:
        """Cancel the tasks over their time limit; each becomes a failed outcome."""
        now = time.monotonic()
        for ref, flight in list(flights.items()):
            if now - flight.started > flight.limit_s:
                self.ray.cancel(ref, force=True)
                del flights[ref]
                log.warning(
                    "trial %d timed out after %.0f s: cancelled",
                    flight.job.trial_number,
                    flight.limit_s,
                )
                yield failed(
                    flight.job,
                    f"TimeoutError: timed out after {flight.limit_s:.0f} s "
                    "(search.timeout_per_step_s per training step)",
                )

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
