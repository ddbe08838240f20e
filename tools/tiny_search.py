"""The tiny search (confs/tiny.yaml: 64x64 faces, a few-channel space, 3-step trainings) as a
command line, for the tests and benchmarks that run the search command in a process of its own.

    python -m tools.tiny_search OUTPUT_DIR [--cache DIR] [--kill POINT N] [-- --section.key VALUE]

runs it (in the current MLflow store and Optuna study, like `python -m entrypoints.search`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from nas.paths import PROJECT_ROOT

TINY = PROJECT_ROOT / "confs" / "tiny.yaml"


def tiny_search(
    output_dir: Path,
    cache: Path,
    *overrides: str,
    serial: bool = True,
    kill: tuple[str, int] | None = None,
) -> list[str]:
    """`python -m entrypoints.search` on the tiny config, writing to `output_dir`, with the data
    in `cache`, then `overrides` (`--section.key`, value, ...); trainings one at a time unless
    `serial` is false. With `kill` (point, n), run by tools.kill_driver, which kills it the n-th
    time it gets to that point."""
    runner = ["tools.kill_driver", kill[0], str(kill[1])] if kill else ["entrypoints.search"]
    command = [sys.executable, "-m", *runner, "--search-config", str(TINY)]
    command += ["--output-dir", str(output_dir), "--data.cache_dir", str(cache)]
    if serial:
        command += ["--serial-training", "true"]
    return [*command, *overrides]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.tiny_search", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("output_dir", type=Path, help="where the search writes its files")
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="data.cache_dir")
    parser.add_argument("--ray", action="store_true", help="train on Ray instead of serially")
    parser.add_argument(
        "--kill", nargs=2, metavar=("POINT", "N"), help="SIGKILL it there (tools.kill_driver)"
    )
    parser.epilog = "Arguments after -- go to the search command: --section.key VALUE ..."
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, overrides = parser.parse_args(argv[:split]), argv[split + 1 :]
    kill = (args.kill[0], int(args.kill[1])) if args.kill else None
    command = tiny_search(args.output_dir, args.cache, *overrides, serial=not args.ray, kill=kill)
    return subprocess.call(command, cwd=PROJECT_ROOT)


if __name__ == "__main__":
    sys.exit(main())
