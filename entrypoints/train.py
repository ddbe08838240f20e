"""Train one architecture fully (Archai's final recipe), log it to MLflow and register it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrypoints.cli import named_overrides, run_main, setup_logging
from nas.commands.train import run
from nas.config import Config, ConfigError, load_config

DEFAULTS = Config()
FINAL = DEFAULTS.final_training  # the final_training.* keys


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="python -m entrypoints.train",
        description=__doc__,
        epilog="Any other --section.key VALUE overrides that key.",
    )
    parser.add_argument(
        "arch",
        help="architecture JSON file, an id in archs/, or "
        "models:/NAME@ALIAS or models:/NAME/VERSION",
    )
    parser.add_argument("--config", default="", help="YAML file over the defaults")
    parser.add_argument(
        "--dataset-dir",
        "--dataset_dir",
        default="",
        help="Face Synthetics folder; empty: the built-in synthetic faces",
    )
    parser.add_argument(
        "--output-dir", "--output_dir", default="outputs/train", help="where files are written"
    )
    parser.add_argument("--epochs", default="", help=f"training epochs (default {FINAL.epochs:g})")
    parser.add_argument(
        "--batch-size", "--batch_size", default="", help=f"batch size (default {FINAL.batch_size})"
    )
    parser.add_argument("--lr", default="", help=f"Adam learning rate (default {FINAL.lr:g})")
    parser.add_argument(
        "--seed", default="", help=f"seed of weights and batch order (default {FINAL.seed})"
    )
    parser.add_argument(
        "--registered-model",
        "--registered_model",
        default="",
        help=f"Model Registry name (default {DEFAULTS.tracking.trained_model})",
    )
    args, rest = parser.parse_known_args(argv)
    named = {
        "data.dataset_dir": args.dataset_dir,
        "final_training.epochs": args.epochs,
        "final_training.batch_size": args.batch_size,
        "final_training.lr": args.lr,
        "final_training.seed": args.seed,
        "tracking.trained_model": args.registered_model,
    }
    return args, named_overrides(named, rest)


def main(argv: list[str] | None = None) -> int:
    setup_logging(verbose_library=True)
    args, overrides = parse_args(argv)
    if args.config and not Path(args.config).is_file():
        raise ConfigError(f"config {args.config} does not exist; expected a YAML file.")
    config = load_config([args.config] if args.config else [], overrides)
    summary = run(config, args.arch, Path(args.output_dir))
    print(
        f"trained {summary['archid']}: val mIoU {summary['val_miou']:.4f}, test mIoU "
        f"{summary['test_miou']:.4f}, {summary['latency_ms']:.3f} ms; registered as "
        f"models:/{summary['registered_model']}/{summary['version']} "
        f"(alias @newest); files in {args.output_dir}; the run in the MLflow UI: "
        f"{summary['run_url']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
