"""Run (or resume) the search: Optuna proposes hourglasses, Ray trains them, MLflow tracks it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrypoints.cli import named_overrides, run_main, setup_logging
from nas.commands.search import run
from nas.config import ConfigError, load_config, translate_renamed


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="python -m entrypoints.search",
        description=__doc__,
        epilog="Any other --section.key VALUE (or section.key=VALUE) overrides that config key.",
    )
    parser.add_argument(
        "--search-config",
        "--search_config",
        default="confs/quickstart.yaml",
        help="YAML file over the defaults (confs/search_config.yaml: Archai's run)",
    )
    parser.add_argument(
        "--dataset-dir",
        "--dataset_dir",
        default="",
        help="Face Synthetics folder; empty: the built-in synthetic faces",
    )
    parser.add_argument(
        "--output-dir", "--output_dir", default="outputs/search", help="where files are written"
    )
    parser.add_argument(
        "--gpus-per-job",
        "--gpus_per_job",
        default="",
        help="GPU share per training (search.gpus_per_job)",
    )
    parser.add_argument(
        "--serial-training",
        "--serial_training",
        default="",
        help="true: train candidates one at a time in this process (search.executor=serial)",
    )
    parser.add_argument("--seed", default="", help="sampler seed (search.seed)")
    args, rest = parser.parse_known_args(argv)
    named = {
        "data.dataset_dir": args.dataset_dir,
        "search.gpus_per_job": args.gpus_per_job,
        "search.seed": args.seed,
    }
    if args.serial_training:  # Archai's flag, kept: it sets search.executor
        key, value = translate_renamed("search.serial_training", args.serial_training)
        named[key] = value
    return args, named_overrides(named, rest)


RESUME = (
    "The study and every finished candidate are kept; run the same command again to resume "
    "the search."
)


def main(argv: list[str] | None = None) -> int:
    setup_logging(verbose_library=True)
    args, overrides = parse_args(argv)
    if not Path(args.search_config).is_file():
        raise ConfigError(
            f"search_config {args.search_config} does not exist; expected a YAML "
            "file such as confs/quickstart.yaml or confs/search_config.yaml."
        )
    config = load_config([args.search_config], overrides)
    summary = run(config, Path(args.output_dir))
    print(
        f"\nsearch finished in {summary['search_seconds']:.0f} s; Pareto front registered as "
        f"'{summary['model_name']}':"
    )
    front = {c.archid: c for c in summary["candidates"]}
    for archid, version in summary["versions"].items():
        c = front[archid]
        aliases = [a for a, v in summary["aliases"].items() if v == version]
        print(
            f"  version {version:>3}  {archid}  mIoU {c.val_miou:.4f}  "
            f"{c.latency_ms:8.3f} ms  {' '.join(aliases)}"
        )
    print(f"majority-class baseline mIoU on the validation split: {summary['baseline_miou']:.4f}")
    print(f"files in {args.output_dir}; the search run in the MLflow UI: {summary['run_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, on_stop=RESUME))
