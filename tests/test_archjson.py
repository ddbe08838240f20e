"""Archai JSON: exact round trips, ids of the published files, and errors for bad files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nas.arch.archjson import arch_json, archid, parse_arch, read_arch
from nas.arch.space import ArchError, random_genome
from nas.config import SpaceConfig
from tests.conftest import PUBLISHED

BE543 = "be543f6a3d1eadc9a42496f0b40871d82d4931df"


def test_fifteen_published_files() -> None:
    assert len(PUBLISHED) == 15


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem[:8])
def test_published_id_is_file_name(path: Path) -> None:
    assert archid(read_arch(path)) == path.stem


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem[:8])
def test_published_round_trip_is_byte_identical(path: Path) -> None:
    assert arch_json(read_arch(path)).encode() == path.read_bytes()


def test_random_genome_round_trip(small_space: SpaceConfig) -> None:
    for seed in range(20):
        genome = random_genome(SpaceConfig(), random.Random(seed))
        assert parse_arch(json.loads(arch_json(genome)), "x") == genome


def test_five_block_file_is_read_whatever_the_space(tmp_path: Path) -> None:
    space = SpaceConfig(num_blocks=5, stem_strides=(2,), ch_factors=(1.0, 1.2, 1.5, 2.0))
    genome = random_genome(space, random.Random(3))
    path = tmp_path / "five.json"
    path.write_text(arch_json(genome))
    assert read_arch(path).num_blocks == 5
    with pytest.raises(ArchError, match="does not fit the configured search space"):
        read_arch(path, SpaceConfig())


def _write(tmp_path: Path, tree: object) -> Path:
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(tree, indent=4))
    return path


def _published_tree() -> dict:
    return json.loads((PUBLISHED[0].parent / f"{BE543}.json").read_text())


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "arch.json"
    path.write_text("{ not json")
    with pytest.raises(ArchError, match=r"arch\.json: not valid JSON"):
        read_arch(path)


def _down(tree: dict, i: int = 0) -> dict:
    return tree["hourglasses"]["_configs"]["0"]["downsample_blocks"]["_configs"][str(i)]


BAD_FILES = {
    "unknown op": (
        lambda t: _down(t)["layers"]["_configs"]["1"].update(op="conv9x9"),
        r"downsample_blocks\._configs\.0\.layers\._configs\.1\.op'.*conv9x9",
    ),
    "repeat too high": (
        lambda t: _down(t, 2)["layers"].update(_repeat_times=5),
        r"_configs\.2\.layers\._repeat_times'.*an integer in 1\.\.4",
    ),
    "repeat too low": (
        lambda t: t["hourglasses"].update(_repeat_times=0),
        r"hourglasses\._repeat_times'.*an integer in 1\.\.2",
    ),
    "missing key": (lambda t: t.pop("base_ch"), r"'<root>'.*missing keys \['base_ch'\]"),
    "extra key": (lambda t: _down(t).update(extra=1), r"unexpected keys \['extra'\]"),
    "wrong type": (lambda t: t.update(stem_stride="4"), r"'stem_stride'.*got '4'"),
    "wrong factor type": (
        lambda t: _down(t).update(ch_expansion_factor=[1.2]),
        r"ch_expansion_factor'.*a number",
    ),
    "bad marker": (lambda t: t["hourglasses"].update(_share_arch=True), r"_share_arch'"),
    "list for object": (lambda t: t.update(hourglasses=[]), r"'hourglasses'.*got a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_names_file_and_json_path(tmp_path: Path, case: str) -> None:
    mutate, pattern = BAD_FILES[case]
    tree = _published_tree()
    mutate(tree)
    with pytest.raises(ArchError, match=pattern) as err:
        read_arch(_write(tmp_path, tree))
    assert "arch.json" in str(err.value)


def test_genome_outside_space_names_gene(tmp_path: Path) -> None:
    path = PUBLISHED[0].parent / f"{BE543}.json"
    with pytest.raises(ArchError, match=r"base_ch = 16 \(expected one of \[24, 32\]\)"):
        read_arch(path, SpaceConfig(base_channels=(24, 32)))
