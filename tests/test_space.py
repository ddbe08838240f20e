"""The genome: Optuna names and round trips, fixed length, and ids ignoring inactive genes."""

from __future__ import annotations

import dataclasses
import random

import optuna

from nas.arch.archjson import archid
from nas.arch.space import (
    Block,
    genome_from_params,
    genome_to_params,
    random_genome,
    sample_genome,
    search_distributions,
)
from nas.config import SpaceConfig


def test_gene_names_are_dotted_and_fixed_length() -> None:
    names = list(search_distributions(SpaceConfig()))
    # 3 top genes + 2 hourglasses x (4 down x 6 + 3 skip x 3 + 3 up x 5) + post 3
    assert len(names) == 3 + 2 * (24 + 9 + 15) + 3
    assert names[:5] == [
        "stem_stride",
        "base_ch",
        "hourglasses",
        "hg0.down0.layers",
        "hg0.down0.op0",
    ]
    assert "hg1.skip2.op1" in names and "post.op1" in names and "hg0.down3.ch_factor" in names
    five = search_distributions(SpaceConfig(num_blocks=5))
    assert "hg1.down4.ch_factor" in five and "hg1.up3.layers" in five


def test_params_round_trip() -> None:
    space = SpaceConfig()
    for seed in range(10):
        genome = random_genome(space, random.Random(seed))
        params = genome_to_params(genome)
        assert list(params) == list(search_distributions(space))
        assert genome_from_params(params, space) == genome


def test_sample_genome_from_optuna_trial() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SpaceConfig()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    genome = sample_genome(trial, space)
    assert trial.params == genome_to_params(genome)
    # ask() with the fixed distributions gives the same names, as the search loop uses
    trial2 = study.ask(search_distributions(space))
    assert genome_from_params(trial2.params, space).num_blocks == 4


def test_equal_genomes_equal_ids() -> None:
    a = random_genome(SpaceConfig(), random.Random(7))
    b = random_genome(SpaceConfig(), random.Random(7))
    assert a == b and archid(a) == archid(b)
    c = random_genome(SpaceConfig(), random.Random(8))
    assert archid(a) != archid(c)


def _with_inactive_changed(genome):
    """Change only genes the network ignores: unused ops and the unused hourglass."""
    post = genome.post
    ops = post.ops[: post.num_layers] + tuple(
        "conv7x7" if op != "conv7x7" else "conv3x3" for op in post.ops[post.num_layers :]
    )
    hourglasses = list(genome.hourglasses)
    if genome.num_hourglasses == 1:
        other = random_genome(SpaceConfig(), random.Random(99)).hourglasses[1]
        hourglasses[1] = other
    return dataclasses.replace(
        genome, post=Block(post.num_layers, ops), hourglasses=tuple(hourglasses)
    )


def test_inactive_genes_do_not_change_id() -> None:
    for seed in range(10):
        genome = random_genome(SpaceConfig(), random.Random(seed))
        genome = dataclasses.replace(genome, num_hourglasses=1, post=Block(0, genome.post.ops))
        changed = _with_inactive_changed(genome)
        assert changed != genome
        assert archid(changed) == archid(genome)
