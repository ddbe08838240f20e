"""Fuzzed input, many examples: the checks of tools/fuzzing.py (architecture files through
`describe`, config overrides through `load_config` and the search's own checks, and the same
overrides through the `search` and `train` commands up to where their work begins) on fresh
random examples. Prints how many were accepted, refused cleanly, and failed any other way.

    python -m benchmarks.bench_fuzz [--examples 2000] [--seed N]
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Found

from benchmarks.figures import print_figures
from tools.fuzzing import ARCH_TEXT, OVERRIDES, check_command, check_describe, check_overrides


def fuzz(name: str, strategy, check, examples: int, seed: int | None) -> dict:
    counts = {"examples": 0, "failures": 0}
    failures: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=seed is not None,
    )
    @given(strategy)
    def each(value) -> None:
        counts["examples"] += 1
        try:
            check(value)
        except Exception as err:  # noqa: BLE001 - every failure is counted, not raised
            counts["failures"] += 1
            failures.append(f"{type(err).__name__}: {str(err)[:200]} <- {value!r:.200}")

    try:
        each()
    except Found:
        pass
    print(f"{name}: {counts['examples']} examples, {counts['failures']} failures", flush=True)
    for line in failures[:5]:
        print("  ", line)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None, help="derandomize (same examples)")
    args = parser.parse_args()
    started = time.perf_counter()
    accepted = {"n": 0}

    def arch(text: str) -> None:
        accepted["n"] += check_describe(text) == 0

    archs = fuzz("architecture files", ARCH_TEXT, arch, args.examples, args.seed)
    configs = fuzz("config overrides", OVERRIDES, check_overrides, args.examples, args.seed)

    def command(drawn: tuple[str, dict]) -> None:
        accepted["commands"] += check_command(*drawn) == 0

    accepted["commands"] = 0
    commands = st.tuples(st.sampled_from(["search", "train"]), OVERRIDES)
    runs = fuzz("search/train commands", commands, command, args.examples, args.seed)
    print_figures(
        {
            "arch_examples": archs["examples"],
            "arch_accepted": accepted["n"],
            "config_examples": configs["examples"],
            "command_examples": runs["examples"],
            "command_accepted": accepted["commands"],
            "failures": archs["failures"] + configs["failures"] + runs["failures"],
            "seconds": time.perf_counter() - started,
        }
    )


if __name__ == "__main__":
    main()
