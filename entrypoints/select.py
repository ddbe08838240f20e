"""Pick a registered model by budget: the most accurate under a latency (or size) budget, or the
fastest above an mIoU floor; print the matching versions with their models:/ URIs, optionally
alias the best, optionally re-time them on this machine first."""

from __future__ import annotations

import argparse
import os
import sys

import mlflow

from entrypoints.cli import free_overrides, run_main, setup_logging
from nas.commands.select import RANKINGS, Budgets, describe, run
from nas.config import ConfigError, load_config

DEFAULTS = load_config()
TRUE = ("true", "1", "yes")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="python -m entrypoints.select",
        description=__doc__,
        epilog="With --measure, any --latency.KEY VALUE overrides how it times (the search's "
        "settings by default).",
    )
    add = parser.add_argument
    add(
        "--max-latency-ms",
        "--max_latency_ms",
        type=float,
        default=0.0,
        help="latency budget in ms (0: none)",
    )
    add("--min-miou", "--min_miou", type=float, default=0.0, help="mIoU floor (0: none)")
    add("--max-params", "--max_params", type=int, default=0, help="parameter budget (0: none)")
    add(
        "--model-name",
        "--model_name",
        default=DEFAULTS.tracking.registered_model,
        help="registered model (default %(default)s; `train` registers "
        f"{DEFAULTS.tracking.trained_model})",
    )
    add(
        "--best-by",
        "--best_by",
        choices=RANKINGS,
        default=None,
        help="rank by this (default: val_miou, or latency_ms when --min-miou is the only budget)",
    )
    add("--alias", default="", help="point this alias of the model at the best match")
    add(
        "--target",
        default="",
        help="a deployment target: budgets and ranking read its latency and mIoU (latency_ms.T, "
        "val_miou.T), and --measure times the model as it deploys and runs it",
    )
    add(
        "--measure",
        nargs="?",
        const="true",
        default="false",
        help="re-time each candidate's ONNX model on this machine first and use that latency",
    )
    args, rest = parser.parse_known_args(argv)
    return args, free_overrides(rest)


def _table(matches: list, measured: bool) -> str:
    latency = "ms here" if measured else "ms"
    lines = [
        f"{'version':>7}  {'val mIoU':>8}  {latency:>8}  {'params':>10}  fidelity  "
        f"{'aliases':<28}  uri  (latency measured on)"
    ]
    for c in matches:
        lines.append(
            f"{c.version:>7}  {c.val_miou:8.4f}  {c.latency_ms:8.3f}  {c.num_params:>10,}  "
            f"{c.fidelity:>8}  {','.join(c.aliases) or '-':<28}  {c.uri}  ({c.cpu})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    setup_logging(verbose_library=False)
    args, overrides = parse_args(argv)
    if any(not key.startswith(("latency.", "targets.")) for key in overrides):
        raise ConfigError(f"unknown options {sorted(overrides)}; see --help.")
    budgets = Budgets(args.max_latency_ms, args.min_miou, args.max_params)
    measure = str(args.measure).lower() in TRUE
    config = load_config([], overrides)
    latency = config.latency if measure else None
    result = run(
        args.model_name,
        budgets,
        args.best_by or "",
        args.alias,
        latency,
        args.target,
        config.targets,
    )
    text = (
        f"{len(result['matches'])} version(s) of {args.model_name!r} within {describe(budgets)},"
        f" best {result['best_by']} first:\n{_table(result['matches'], measure)}"
    )
    if args.alias:
        text += f"\nalias @{args.alias} -> version {result['matches'][0].version}"
    print(text)
    if os.environ.get("MLFLOW_RUN_ID"):  # under `mlflow run`: keep the answer with its run
        with mlflow.start_run():
            mlflow.set_tag("nas.kind", "select")
            mlflow.log_text(text, "selection.txt")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
