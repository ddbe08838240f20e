"""Config: defaults < YAML < dotted overrides, frozen, unknown keys and bad types fail loudly."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from nas.config import RANGES, ConfigError, flatten_config, load_config, parse_overrides
from tests.conftest import ROOT


def test_layers_apply_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  population_size: 8\n  seed: 3\nspace:\n  stem_strides: [2]\n")
    config = load_config([path], {"search.seed": "5", "model.num_classes": 18})
    assert config.search.population_size == 8 and config.search.seed == 5
    assert config.space.stem_strides == (2,) and config.model.num_classes == 18
    assert config.final_training.epochs == 30 and config.partial_training.epochs == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.search.seed = 1  # type: ignore[misc]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  populaton_size: 8\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'search\.populaton_size'"):
        load_config([path])


def test_bad_type_and_bad_override() -> None:
    with pytest.raises(ConfigError, match=r"search\.population_size: expected int, got 'many'"):
        load_config([], {"search.population_size": "many"})
    with pytest.raises(ConfigError, match="expected 'section.key=value'"):
        parse_overrides(["seed"])
    assert parse_overrides(["search.seed=4"]) == {"search.seed": "4"}


def test_shipped_configs_load() -> None:
    for path in sorted((ROOT / "confs").glob("*.yaml")):
        flat = flatten_config(load_config([path]))
        assert flat["model.num_classes"] == 19


@pytest.mark.parametrize("key", sorted(RANGES))
def test_numbers_out_of_range_are_refused_naming_the_key(key: str) -> None:
    low, high = RANGES[key]
    current = flatten_config(load_config([]))[key]
    listed = isinstance(current, (list, tuple))
    sample = current[0] if listed else current
    bad = [high + 1] if high not in (None, math.inf) else []
    if low is not None:
        bad.append(low - 1 if isinstance(sample, int) else low / 2 if low > 0 else low - 0.5)
    for value in bad:
        text = f"[{value}]" if listed else str(value)
        with pytest.raises(ConfigError, match=re.escape(key) + r" = .*; expected"):
            load_config([], {key: text})


def test_a_number_with_an_exponent_is_a_number() -> None:
    """YAML 1.1 reads 5e-4 (no dot) as text; a float key takes it as the number it means."""
    config = load_config([], {"partial_training.lr": "5e-4", "final_training.lr": "1E-3"})
    assert config.partial_training.lr == 5e-4 and config.final_training.lr == 1e-3


def test_moved_keys_work_with_a_warning_that_names_the_new_one(tmp_path: Path, caplog) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(
        "latency:\n  max_latency_ms: 3\n  max_params: 9000\n"
        "search:\n  hv_ref_latency_ms: 4\n  hv_ref_miou: 0.1\n  serial_training: true\n"
        "partial_training:\n  val_per_epoch: 5\n"
    )
    with caplog.at_level("WARNING"):
        config = load_config([path], {"search.hv_ref_macs": "7e9"})
    assert config.budgets.max_latency_ms == 3 and config.budgets.max_params == 9000
    assert config.search.hv_ref == {
        "val_miou": 0.1,
        "latency_ms": 4.0,
        "num_params": 20e6,
        "macs": 7e9,
    }
    assert config.search.executor == "serial"
    for old, new in [
        ("latency.max_latency_ms", "budgets.max_latency_ms"),
        ("latency.max_params", "budgets.max_params"),
        ("search.hv_ref_latency_ms", "search.hv_ref.latency_ms"),
        ("search.hv_ref_macs", "search.hv_ref.macs"),
        ("search.serial_training", "search.executor"),
    ]:
        assert re.search(rf"{re.escape(old)} is deprecated: read as {re.escape(new)} ", caplog.text)
    assert "partial_training.val_per_epoch is no longer used" in caplog.text


def test_an_old_key_beside_its_new_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "both.yaml"
    path.write_text("latency:\n  max_params: 5\nbudgets:\n  max_params: 6\n")
    with pytest.raises(ConfigError, match=r"latency\.max_params and budgets\.max_params are both"):
        load_config([path])


def test_the_hypervolume_reference_is_one_mapping_of_objectives(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  hv_ref:\n    latency_ms: 3\n")
    config = load_config([path], {"search.hv_ref.num_params": "1e6"})
    assert config.search.hv_ref["latency_ms"] == 3.0 and config.search.hv_ref["num_params"] == 1e6
    assert config.search.hv_ref["val_miou"] == 0.0  # the keys not given keep their defaults
    assert flatten_config(config)["search.hv_ref.latency_ms"] == 3.0
    assert load_config([], {"search.hv_ref": "{macs: 5}"}).search.hv_ref["macs"] == 5.0
    with pytest.raises(ConfigError, match=r"unknown key 'search\.hv_ref\.latency'; known keys"):
        load_config([], {"search.hv_ref.latency": "3"})
    with pytest.raises(ConfigError, match=r"search\.hv_ref\.macs: expected float"):
        load_config([], {"search.hv_ref.macs": "many"})
