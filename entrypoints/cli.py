"""Shared entry-point plumbing: user errors become one paragraph on stderr and exit status 2."""

from __future__ import annotations

import logging
import os
import signal
import sys
import textwrap
from collections.abc import Callable

from nas import stopping
from nas.config import parse_overrides
from nas.errors import Stopped, UserError
from nas.redact import redact_text

SERVICES = ("mlflow", "requests", "urllib3", "sqlalchemy", "psycopg", "botocore")


def paragraph(text: str) -> str:
    """`text` wrapped at 100 columns between words only: a path or URL is never split."""
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def run_main(main: Callable[[], int], on_stop: str = "") -> int:
    """Run `main`; a UserError prints 'error: <message>' without a traceback and returns 2; a
    tracking server or database that fails mid-command prints what failed and returns 1; Ctrl-C
    (SIGINT) or SIGTERM stops it as Python unwinds (the command's own clean-up runs; a search
    stops at its next safe point, nas.stopping), prints one line (`on_stop`: what to do next)
    and returns 130 or 143."""
    signal.signal(signal.SIGTERM, stopping.handle)
    try:
        return main()
    except UserError as err:
        print(paragraph(f"error: {err}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Stopped) else stopping.last_signal() or signal.SIGINT
        name = signal.Signals(signum).name
        print(f"stopped by {name}. {on_stop}".strip(), file=sys.stderr)
        return 128 + signum
    except Exception as err:
        if not {c.__module__.split(".")[0] for c in type(err).__mro__} & set(SERVICES):
            raise
        first = redact_text(str(err).strip().splitlines()[0] if str(err).strip() else "")
        print(
            paragraph(
                f"error: a service this command talks to failed ({type(err).__name__}: "
                f"{first[:400]}). What was logged so far is kept; once the service answers again, "
                "run the same command again to resume.",
            ),
            file=sys.stderr,
        )
        return 1


def named_overrides(named: dict[str, str], rest: list[str]) -> dict[str, str]:
    """Dotted overrides from named options that were given (non-empty) and free items."""
    overrides = {key: value for key, value in named.items() if value != ""}
    overrides.update(free_overrides(rest))
    return overrides


def setup_logging(verbose_library: bool) -> None:
    """Warnings from libraries; this project's progress lines too when `verbose_library`. MLflow's
    own two lines for every run ended on a tracking server are left out: they open the UI in
    its GenAI mode, and the commands print their run's address in model-training mode."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    if verbose_library:
        logging.getLogger("nas").setLevel(logging.INFO)


def free_overrides(rest: list[str]) -> dict[str, str]:
    """Free `--a.b v`, `--a.b=v` or `a.b=v` items (as `mlflow run -P a.b=v` passes them)."""
    items: list[str] = []
    i = 0
    while i < len(rest):
        item = rest[i].removeprefix("--")
        if "=" not in item and i + 1 < len(rest):
            item, i = f"{item}={rest[i + 1]}", i + 1
        items.append(item)
        i += 1
    return parse_overrides(items)
