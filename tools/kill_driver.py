"""The search command (`python -m entrypoints.search ARGS`), or with --train the train command,
that SIGKILLs itself the N-th time it gets to POINT, with no chance to clean up, as a power cut
or the OOM killer would (tests/test_resume.py, tests/test_front.py, benchmarks/bench_resume.py).

    python -m tools.kill_driver [--train] POINT N [ARGS of entrypoints.search or .train ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import mlflow
import optuna

from nas.search.optuna_internals import SUGGEST
from nas.search.pending import PendingOutcomes
from nas.tracking.search_run import SearchTracker

# POINT -> (owner, attribute, whether the kill comes before or after the call)
POINTS = {
    "mid-ask": (*SUGGEST, "before"),  # some of a new trial's genes drawn
    "measured": (SearchTracker, "candidate_started", "after"),  # a candidate's run created
    "outcome": (PendingOutcomes, "keep", "after"),  # a training's outcome kept, not logged
    "recorded": (SearchTracker, "candidate_closed", "before"),  # recorded, its run open, not told
    "after-tell": (optuna.Study, "tell", "after"),  # told, its kept outcome not yet forgotten
    "generation": (SearchTracker, "generation_finished", "after"),  # between two generations
    "registered": (mlflow, "register_model", "after"),  # part of the front registered
}


def arm(point: str, n: int) -> None:
    """Make the n-th call at `point` kill this process."""
    owner, name, when = POINTS[point]
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if when == "before" and calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if when == "after" and calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.kill_driver", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--train", action="store_true", help="the train command, not search")
    parser.add_argument("point", choices=sorted(POINTS), help="where to kill the command")
    parser.add_argument("n", type=int, help="kill it the n-th time it gets there (from 1)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's arguments")
    args = parser.parse_args(argv)
    arm(args.point, args.n)
    from entrypoints import search, train
    from entrypoints.cli import run_main

    command = train.main if args.train else search.main
    return run_main(lambda: command(args.args), on_stop=search.RESUME)


if __name__ == "__main__":
    sys.exit(main())
