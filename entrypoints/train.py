"""Train one architecture fully (Archai's final recipe), log it to MLflow and register it; or, given
models:/NAME, every member of the front the latest search registered under NAME, in parallel,
with the table of partial against final scores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrypoints.cli import named_overrides, run_main, setup_logging
from nas.commands import front
from nas.commands.select import Budgets
from nas.commands.train import run
from nas.config import Config, ConfigError, load_config, translate_renamed

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
        help="architecture JSON file, an id in archs/, models:/NAME@ALIAS or models:/NAME/VERSION;"
        " or models:/NAME: the front of NAME's latest search, every member",
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
    front = parser.add_argument_group("with models:/NAME, the members that meet these (0: any)")
    front.add_argument("--max-latency-ms", "--max_latency_ms", type=float, default=0.0)
    front.add_argument("--min-miou", "--min_miou", type=float, default=0.0)
    front.add_argument("--max-params", "--max_params", type=int, default=0)
    parser.add_argument(
        "--serial-training",
        "--serial_training",
        default="",
        help="true: train the front's members one at a time in this process (search.executor)",
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
    if args.serial_training:
        key, value = translate_renamed("search.serial_training", args.serial_training)
        named[key] = value
    return args, named_overrides(named, rest)


def main(argv: list[str] | None = None) -> int:
    setup_logging(verbose_library=True)
    args, overrides = parse_args(argv)
    if args.config and not Path(args.config).is_file():
        raise ConfigError(f"config {args.config} does not exist; expected a YAML file.")
    files = [args.config] if args.config else []
    budgets = Budgets(args.max_latency_ms, args.min_miou, args.max_params)
    if front.is_front(args.arch):
        return _front(args, files, overrides, budgets)
    if budgets != Budgets():
        raise ConfigError(
            f"--max-latency-ms, --min-miou and --max-params choose members of a front; arch "
            f"{args.arch!r} is one architecture. Expected arch=models:/NAME to train a front."
        )
    config = load_config(files, overrides)
    summary = run(config, args.arch, Path(args.output_dir))
    print(
        f"trained {summary['archid']}: val mIoU {summary['val_miou']:.4f}, test mIoU "
        f"{summary['test_miou']:.4f}, {summary['latency_ms']:.3f} ms; registered as "
        f"models:/{summary['registered_model']}/{summary['version']} "
        f"(alias @newest); files in {args.output_dir}; the run in the MLflow UI: "
        f"{summary['run_url']}"
    )
    return 0


def _front(args, files: list[str], overrides: dict[str, str], budgets: Budgets) -> int:
    name = args.arch.removeprefix("models:/")
    summary = front.run(name, files, overrides, Path(args.output_dir), budgets)
    print(f"the front of {name}, trained with the final recipe:\n{summary['text']}")
    spearman, kendall = summary["partial_final_spearman"], summary["partial_final_kendall"]
    print(
        f"partial against final mIoU: Spearman {spearman:.3f}, Kendall {kendall:.3f}; "
        f"{summary['front_kept']} of {summary['front_size']} trained member(s) on the final front"
        + (f"; {summary['members_failed']} failed" if summary["members_failed"] else "")
    )
    for alias, version in sorted(summary["aliases"].items()):
        print(f"  @{alias} -> version {version} of {summary['registered_model']}")
    print(f"files in {args.output_dir}; the run in the MLflow UI: {summary['run_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
