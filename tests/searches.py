"""The tiny search (tests/data/tiny.yaml) as a command line, for the tests and benchmarks that
run the search command in a process of its own."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def tiny_search(
    output_dir: Path,
    cache: Path,
    *overrides: str,
    serial: bool = True,
    kill: tuple[str, int] | None = None,
) -> list[str]:
    """`python -m entrypoints.search` on the tiny config, writing to `output_dir`, with the data
    in `cache`, then `overrides` (`--section.key`, value, ...); trainings one at a time unless
    `serial` is false. With `kill` (point, n), run by tests/kill_driver, which kills it the n-th
    time it gets to that point."""
    runner = ["tests.kill_driver", kill[0], str(kill[1])] if kill else ["entrypoints.search"]
    command = [sys.executable, "-m", *runner, "--search-config", str(TINY)]
    command += ["--output-dir", str(output_dir), "--data.cache_dir", str(cache)]
    if serial:
        command += ["--serial-training", "true"]
    return [*command, *overrides]
