"""Fuzzed input and its checks, shared by tests/test_fuzz.py (derandomized examples) and
benchmarks/bench_fuzz.py (fresh random ones): architecture files (mutated published ones, random
JSON, wrong types, huge numbers, deep nesting, unicode, non-JSON bytes) through `describe`, and
config overrides through `load_config` and the `search` and `train` commands. Each is accepted
(and then round-trips) or refused with one `error:` paragraph and exit status 2; never a
traceback, never another exception. A library of hypothesis strategies, not a command."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
from hypothesis import strategies as st

from entrypoints import describe
from entrypoints import search as search_entry
from entrypoints import train as train_entry
from entrypoints.cli import run_main
from nas.arch.archjson import arch_json, parse_arch, read_arch
from nas.arch.space import random_genome
from nas.config import Config, SpaceConfig, flatten_config, load_config
from nas.errors import UserError
from nas.paths import PROJECT_ROOT
from nas.search.checks import check_search_config

PUBLISHED = sorted((PROJECT_ROOT / "archs").glob("*.json"))
ARCHS = [json.loads(p.read_text()) for p in PUBLISHED]
KEYS = sorted(flatten_config(Config()))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree, as a tuple of keys and indices."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = json.loads(json.dumps(node))
    parent = node
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return node


@st.composite
def mutated_archs(draw) -> Any:
    """A published architecture with 1-3 places replaced by random JSON (or deleted)."""
    tree = draw(st.sampled_from(ARCHS))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(tree)))
        if path and draw(st.booleans()) and isinstance(tree, dict):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                parent = tree
                for step in path[:-1]:
                    parent = parent[step]
                tree = json.loads(json.dumps(tree))
                parent = tree
                for step in path[:-1]:
                    parent = parent[step]
                del parent[path[-1]]
                continue
        tree = _replace(tree, path, draw(JSON))
    return tree


def _deep(depth: int) -> str:
    """JSON text nested `depth` deep (deeper than Python's own recursion limit allows)."""
    return "[" * depth + "1" + "]" * depth


VALID = st.sampled_from(ARCHS).map(json.dumps) | st.integers(0, 10**6).map(
    lambda seed: arch_json(random_genome(SpaceConfig(), random.Random(seed)))
)
ARCH_TEXT = (
    VALID
    | mutated_archs().map(json.dumps)
    | JSON.map(json.dumps)
    | st.integers(1, 100_000).map(_deep)
    | st.text(max_size=200)
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
)


def run_describe(text: str) -> tuple[int, str, str]:
    """`describe FILE` as the command line runs it: exit status, stdout, stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arch.json"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_main(lambda: describe.main([str(path), "--image-size", "64"]))
        if code == 0:  # accepted: it round-trips
            genome = read_arch(path)
            assert parse_arch(json.loads(arch_json(genome)), "again") == genome
    return code, out.getvalue(), err.getvalue()


def check_describe(text: str) -> int:
    """describe's verdict on `text` checked; returns its exit status."""
    code, out, err = run_describe(text)
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.startswith("error: ") and "Traceback" not in err and not out
        assert str(Path(err.split()[1])).startswith("/") or "arch" in err
    return code


def check_overrides(overrides: dict[str, str]) -> None:
    """Accepted (then the search's own checks run and the config round-trips) or refused with
    a UserError; nothing else."""
    try:
        config = load_config([], overrides)
        check_search_config(config)
    except UserError as err:
        assert str(err).strip()
        return
    assert isinstance(config, Config)
    again = load_config([], {k: str(v) for k, v in flatten_config(config).items()})
    assert flatten_config(again) == flatten_config(config)


OVERRIDES = st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=15),
    st.text(max_size=12) | SCALARS.map(str),
    max_size=4,
)


class Accepted(Exception):
    """Raised where a command would begin its work: everything before it accepted the input."""


def _accept(*args, **kwargs):
    raise Accepted


def check_command(command: str, overrides: dict[str, str]) -> int:
    """`search` or `train PUBLISHED_ARCH` given `overrides` as `key=value` items (what MLflow's
    `-P key=value` becomes), run in this process up to where the work would begin: accepted
    (returns 0), or refused with one `error:` paragraph and exit status 2, with nothing
    written to the MLflow store and no traceback; returns the exit status."""
    items = [f"{key}={value}" for key, value in overrides.items()]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        stack.enter_context(_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db"))
        if command == "search":
            stack.enter_context(mock.patch("nas.commands.search._search", _accept))
            argv = ["--output-dir", f"{tmp}/out", f"data.cache_dir={tmp}/cache", *items]
            main = search_entry.main
        else:
            stack.enter_context(mock.patch("nas.commands.train.load_data", _accept))
            argv = [str(PUBLISHED[0]), "--output-dir", f"{tmp}/out", *items]
            main = train_entry.main
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run_main(lambda: main(argv))
        except Accepted:
            return 0
        assert code == 2, (code, err.getvalue()[-2000:])
        text = err.getvalue()
        assert text.startswith("error: ") and "Traceback" not in text, text
        assert not Path(f"{tmp}/mlflow.db").exists() or not _runs(f"sqlite:///{tmp}/mlflow.db")
    return code


@contextlib.contextmanager
def _env(**values: str):
    with mock.patch.dict(os.environ, values):
        yield


def _runs(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments) if experiments else []
