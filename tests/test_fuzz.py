"""Fuzzed input through `describe`, `load_config` and the `search` and `train` commands
(tools/fuzzing.py): accepted, or refused with one `error:` paragraph and exit status 2. The
examples are derandomized here (the suite gives the same verdict every run);
benchmarks/bench_fuzz.py runs the same checks on fresh random examples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.fuzzing import ARCH_TEXT, OVERRIDES, check_command, check_describe, check_overrides


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(ARCH_TEXT)
def test_architecture_files_are_accepted_or_refused_cleanly(text: str) -> None:
    check_describe(text)


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(OVERRIDES)
def test_config_overrides_are_accepted_or_refused_cleanly(overrides: dict[str, str]) -> None:
    check_overrides(overrides)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["search", "train"]), OVERRIDES)
def test_search_and_train_commands_accept_or_refuse_cleanly(command, overrides) -> None:
    check_command(command, overrides)
