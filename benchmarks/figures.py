"""The last line of every benchmark: one JSON object of its figures, comparable run to run."""

from __future__ import annotations

import json
import math
from typing import Any


def print_figures(figures: dict[str, Any]) -> None:
    """Print `figures` as one JSON line: floats rounded to 4 decimals, NaN as null."""

    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return None if not math.isfinite(value) else round(value, 4)
        return value

    print(json.dumps({key: plain(value) for key, value in figures.items()}), flush=True)
