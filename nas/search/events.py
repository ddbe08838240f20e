"""What the search tells the world while it runs: the events of the generation loop. The search
knows nothing of MLflow; nas.tracking.search_run.SearchTracker records these events there."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from nas.evaluation.job import Outcome
from nas.evaluation.targets import TargetLatency
from nas.search.candidates import Candidate


class SearchListener(Protocol):
    """Receives the search's events, in the driver process, in the order they happen."""

    def candidate_started(
        self,
        c: Candidate,
        params: dict[str, Any],
        latency: dict,
        targets: dict[str, TargetLatency] | None = None,
    ) -> None:
        """A new candidate was measured (`latency` is empty where it could not be), and timed
        on each deployment target (`targets`)."""

    def candidate_finished(
        self, c: Candidate, outcome: Outcome | None = None, original: Candidate | None = None
    ) -> None:
        """Trained, failed or over budget; with `original`, a repeat of that earlier one."""

    def candidate_closed(self, c: Candidate) -> None:
        """The candidate's record is saved in its trial (it is told next): nothing more comes."""

    def candidate_promoted(self, c: Candidate, fidelity: int, outcome: Outcome) -> str:
        """A promotion's outcome; returns the promoted model's URI ('' where it failed)."""
        ...

    def generation_finished(
        self, generation: int, candidates: list[Candidate], params: dict[int, dict]
    ) -> None:
        """Every candidate so far, in trial order, and each trial's genes."""


@dataclass
class Timings:
    """Wall-clock seconds by activity, to show where a search spends its time."""

    latency_seconds: float = 0.0  # measuring the cheap objectives (mostly latency)
    training_wall_seconds: float = 0.0  # waiting for the executor's trainings
    start: float = field(default_factory=time.perf_counter)

    @property
    def total_seconds(self) -> float:
        return time.perf_counter() - self.start

    def as_metrics(self) -> dict[str, float]:
        """The parent run's timing metrics, with the share that is neither of the two."""
        total = self.total_seconds
        busy = self.latency_seconds + self.training_wall_seconds
        return {
            "search_seconds": total,
            "latency_seconds": self.latency_seconds,
            "training_wall_seconds": self.training_wall_seconds,
            "overhead_share": 1 - busy / max(total, 1e-9),
        }
