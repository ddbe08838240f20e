"""Start the MLflow UI on this project's store (one web worker, no job runner) and print (and, with
a browser, open) the address of the latest search's candidates: a runs table with val_miou,
latency_ms, num_params, nas.state and nas.pareto first, as a model-training experiment."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli import run_main, setup_logging
from nas.commands.ui import serve
from nas.config import Config

DEFAULTS = Config()


def main(argv: list[str] | None = None) -> int:
    setup_logging(verbose_library=False)
    parser = argparse.ArgumentParser(prog="python -m entrypoints.ui", description=__doc__)
    parser.add_argument("--backend-store-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--experiment-name", default=DEFAULTS.tracking.experiment_name)
    args = parser.parse_args(argv)
    serve(args.backend_store_uri, args.host, args.port, args.experiment_name)
    return 0  # not reached: serve() becomes the server


if __name__ == "__main__":
    sys.exit(run_main(main))
