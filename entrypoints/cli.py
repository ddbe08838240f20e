"""Shared entry-point plumbing: user errors become one paragraph on stderr and exit status 2."""
from __future__ import annotations

import sys
import textwrap
from typing import Callable

from nas.errors import UserError


def run_main(main: Callable[[], int]) -> int:
    """Run `main`; a UserError prints 'error: <message>' without a traceback and returns 2."""
    try:
        return main()
    except UserError as err:
        print(textwrap.fill(f"error: {err}", width=100), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
