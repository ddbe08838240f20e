"""Settings a search cannot run with are refused before anything is created."""

from __future__ import annotations

import math

from nas.arch.model import divisor_for
from nas.config import Config
from nas.errors import UserError
from nas.evaluation.objectives import objectives_for, reference_settings
from nas.evaluation.targets import missing_provider
from nas.search.executors import check_executor


class SearchError(UserError):
    """The search cannot go on or produced no usable model."""


def check_search_config(config: Config) -> None:
    """Population and generations, image size against every network of the space, the
    objectives and their hypervolume reference, the executor."""
    s = config.search
    if s.population_size < 2 or s.generations < 1:
        raise SearchError(
            f"search.population_size = {s.population_size} and search.generations"
            f" = {s.generations}: expected at least 2 and 1."
        )
    divisor = divisor_for(max(config.space.stem_strides), config.space.num_blocks)
    if config.model.image_size % divisor:
        raise SearchError(
            f"model.image_size = {config.model.image_size} cannot be divided by every network of "
            f"the space: with stem strides {list(config.space.stem_strides)} and "
            f"{config.space.num_blocks} blocks it must be a multiple of {divisor}."
        )
    for objective, key, value in reference_settings(config, objectives_for(config)):
        if not math.isfinite(value) or (objective.sign > 0 and value <= 0):
            raise SearchError(
                f"{key} = {value}: the hypervolume reference must be a positive, "
                "finite number in the objective's unit."
            )
    check_executor(s.executor)
    for name, target in config.targets.items():
        have = missing_provider(target.provider) if not target.resource else ""
        if have:
            raise SearchError(
                f"targets.{name}.provider = {target.provider!r}: ONNX Runtime here has no such "
                f"execution provider; expected one of: {have}."
            )
