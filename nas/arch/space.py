"""The genome of Archai's hourglass search space, and its mapping to Optuna parameters."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from nas.config import SpaceConfig
from nas.errors import UserError

KERNEL_SIZES = {"conv3x3": 3, "conv5x5": 5, "conv7x7": 7}


class ArchError(UserError):
    """An architecture file or genome is malformed or does not fit the search space."""


@dataclass(frozen=True)
class Genome:
    """Every gene of the space, active or not; `hourglasses` holds the maximum number."""

    stem_stride: int
    base_ch: int
    num_hourglasses: int
    hourglasses: tuple[Hourglass, ...]
    post: Block

    @property
    def num_blocks(self) -> int:
        return len(self.hourglasses[0].down)

    @property
    def active_hourglasses(self) -> tuple[Hourglass, ...]:
        return self.hourglasses[: self.num_hourglasses]


@dataclass(frozen=True)
class Hourglass:
    """`down` has the space's block count; `skip` and `up` have one fewer."""

    down: tuple[DownBlock, ...]
    skip: tuple[Block, ...]
    up: tuple[Block, ...]


@dataclass(frozen=True)
class Block:
    """A list of conv layers of which the first `num_layers` are active; `ops` holds them all."""

    num_layers: int
    ops: tuple[str, ...]

    @property
    def active_ops(self) -> tuple[str, ...]:
        return self.ops[: self.num_layers]


@dataclass(frozen=True)
class DownBlock(Block):
    """A downsample block; `ch_factor` keeps the type it was read with (1.0 and 1 hash apart)."""

    ch_factor: float = 1.0


def _block_distributions(prefix: str, low: int, high: int, ops: tuple[str, ...]) -> dict:
    dists: dict[str, BaseDistribution] = {f"{prefix}.layers": IntDistribution(low, high)}
    for j in range(high):
        dists[f"{prefix}.op{j}"] = CategoricalDistribution(ops)
    return dists


def search_distributions(space: SpaceConfig) -> dict[str, BaseDistribution]:
    """Every gene as a dotted Optuna parameter name with its distribution, in a fixed order."""
    dists: dict[str, BaseDistribution] = {
        "stem_stride": CategoricalDistribution(space.stem_strides),
        "base_ch": CategoricalDistribution(space.base_channels),
        "hourglasses": IntDistribution(1, space.max_hourglasses),
    }
    for h in range(space.max_hourglasses):
        for i in range(space.num_blocks):
            down = f"hg{h}.down{i}"
            dists.update(_block_distributions(down, 1, space.max_down_layers, space.ops))
            dists[f"{down}.ch_factor"] = CategoricalDistribution(space.ch_factors)
        for i in range(space.num_blocks - 1):
            dists.update(
                _block_distributions(f"hg{h}.skip{i}", 0, space.max_skip_layers, space.ops)
            )
            dists.update(_block_distributions(f"hg{h}.up{i}", 1, space.max_up_layers, space.ops))
    dists.update(_block_distributions("post", 0, space.max_post_layers, space.ops))
    return dists


def _draw_genome(
    space: SpaceConfig,
    integer: Callable[[str, int, int], int],
    choice: Callable[[str, Sequence[Any]], Any],
) -> Genome:
    """A genome with every gene of the space drawn in order: `integer(name, low, high)` for a
    count, `choice(name, options)` for the others."""
    params: dict[str, Any] = {}
    for name, dist in search_distributions(space).items():
        if isinstance(dist, IntDistribution):
            params[name] = integer(name, dist.low, dist.high)
        else:
            params[name] = choice(name, dist.choices)
    return genome_from_params(params, space)


def sample_genome(trial: optuna.Trial, space: SpaceConfig) -> Genome:
    """Ask the trial for every gene of the space (fixed length, so NSGA-II crossover sees all)."""
    return _draw_genome(space, trial.suggest_int, trial.suggest_categorical)


def _block_params(block: Block, prefix: str) -> dict[str, Any]:
    params: dict[str, Any] = {f"{prefix}.layers": block.num_layers}
    params.update({f"{prefix}.op{j}": op for j, op in enumerate(block.ops)})
    return params


def genome_to_params(genome: Genome) -> dict[str, Any]:
    """The genome as {dotted gene name: value}: the inverse of `genome_from_params`."""
    params: dict[str, Any] = {
        "stem_stride": genome.stem_stride,
        "base_ch": genome.base_ch,
        "hourglasses": genome.num_hourglasses,
    }
    for h, hg in enumerate(genome.hourglasses):
        for i, down in enumerate(hg.down):
            params.update(_block_params(down, f"hg{h}.down{i}"))
            params[f"hg{h}.down{i}.ch_factor"] = down.ch_factor
        for i, (skip, up) in enumerate(zip(hg.skip, hg.up, strict=True)):
            params.update(_block_params(skip, f"hg{h}.skip{i}"))
            params.update(_block_params(up, f"hg{h}.up{i}"))
    params.update(_block_params(genome.post, "post"))
    return params


def _block_from(params: dict[str, Any], prefix: str, max_layers: int) -> Block:
    ops = tuple(params[f"{prefix}.op{j}"] for j in range(max_layers))
    return Block(int(params[f"{prefix}.layers"]), ops)


def _hourglass_from(params: dict[str, Any], h: int, space: SpaceConfig) -> Hourglass:
    down = []
    for i in range(space.num_blocks):
        block = _block_from(params, f"hg{h}.down{i}", space.max_down_layers)
        down.append(DownBlock(block.num_layers, block.ops, params[f"hg{h}.down{i}.ch_factor"]))
    rest = range(space.num_blocks - 1)
    skip = tuple(_block_from(params, f"hg{h}.skip{i}", space.max_skip_layers) for i in rest)
    up = tuple(_block_from(params, f"hg{h}.up{i}", space.max_up_layers) for i in rest)
    return Hourglass(tuple(down), skip, up)


def genome_from_params(params: dict[str, Any], space: SpaceConfig) -> Genome:
    """Build a genome from dotted parameters; a missing gene raises ArchError naming it."""
    missing = [name for name in search_distributions(space) if name not in params]
    if missing:
        raise ArchError(
            f"parameters lack the genes {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''} of the configured space."
        )
    hourglasses = tuple(_hourglass_from(params, h, space) for h in range(space.max_hourglasses))
    genome = Genome(
        int(params["stem_stride"]),
        int(params["base_ch"]),
        int(params["hourglasses"]),
        hourglasses,
        _block_from(params, "post", space.max_post_layers),
    )
    check_fits(genome, space, "parameters")
    return genome


def random_genome(space: SpaceConfig, rng: random.Random) -> Genome:
    """A uniformly random genome of the space (inactive genes random too)."""
    return _draw_genome(
        space, lambda _, low, high: rng.randint(low, high), lambda _, options: rng.choice(options)
    )


def _fit_errors(genome: Genome, space: SpaceConfig) -> list[str]:
    """Why the genome is outside the space, as 'gene: value (expected ...)' strings."""
    dists = search_distributions(space)
    params = genome_to_params(genome)
    errors = (
        [
            f"genes {', '.join(sorted(set(params) ^ set(dists)))} do not match the space's "
            f"{space.num_blocks} blocks, {space.max_hourglasses} hourglasses and layer maxima"
        ]
        if set(params) != set(dists)
        else []
    )
    for name, dist in dists.items():
        if name not in params:
            continue
        value = params[name]
        if isinstance(dist, IntDistribution) and not dist.low <= value <= dist.high:
            errors.append(f"{name} = {value!r} (expected {dist.low}..{dist.high})")
        if isinstance(dist, CategoricalDistribution) and value not in dist.choices:
            errors.append(f"{name} = {value!r} (expected one of {list(dist.choices)})")
    return errors


def check_fits(genome: Genome, space: SpaceConfig, source: str) -> None:
    """Raise ArchError naming `source` and the genes at fault when the genome leaves the space."""
    errors = _fit_errors(genome, space)
    if errors:
        raise ArchError(
            f"{source} does not fit the configured search space: "
            + "; ".join(errors[:6])
            + ("; ..." if len(errors) > 6 else "")
            + ". Change the space in the search config or pick another architecture."
        )
