"""docs/configuration.md: every config key, its type, default and meaning, from nas/config.py.

    python -m tools.config_docs            # write docs/configuration.md
    python -m tools.config_docs --check    # exit 1 when docs/configuration.md is stale

The types, defaults, RANGES, CHOICES, RENAMED and REMOVED come from nas.config itself; the
meaning of each key is the comment on its line (or the lines just above it) in nas/config.py, and
each section's description is its class's docstring.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import sys
import tokenize
import typing
from pathlib import Path
from typing import Any

import yaml

from nas import config as config_module
from nas.config import (
    CHOICES,
    INF,
    RANGES,
    REMOVED,
    RENAMED,
    TARGET_CHOICES,
    TARGET_RANGES,
    Config,
)
from tools.results import write_or_check

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "configuration.md"
COMMAND = "python -m tools.config_docs"
INTRO = """# Configuration

Every command reads one configuration: the defaults below, then a YAML file over them, then
dotted overrides over that; the result is frozen before anything runs.

- **Defaults**: the tables below, defined in `nas/config.py`.
- **A YAML file** of sections and keys as below (`search: {population_size: 6}`):
  `-P search_config=FILE` for `search`, `-P config=FILE` for `train`
  (`--search-config FILE`, `--config FILE` with `python -m entrypoints.NAME`).
- **Dotted overrides**: `-P section.key=value` with `mlflow run`, or `--section.key value` with
  `python -m entrypoints.NAME`; a value is read as YAML reads it (`[2, 4]`, `true`, `5e-4`).

An unknown key, a value of the wrong type or a number out of its range fails before anything
runs, naming the file or override and the key. Each run logs the resolved configuration as
params named by the keys below.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the page is stale"
    )
    args = parser.parse_args(argv)
    return write_or_check(PAGE, render_page(), COMMAND, args.check)


def render_page() -> str:
    """The whole page, from nas/config.py and confs/*.yaml."""
    comments = source_comments(inspect.getsource(config_module))
    parts = [INTRO, render_confs(sorted((ROOT / "confs").glob("*.yaml")))]
    defaults, hints = Config(), typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        value = getattr(defaults, section.name)
        if dataclasses.is_dataclass(value):
            parts.append(render_section(section.name, value, comments))
        else:  # named entries, each a dataclass: targets.NAME.KEY
            entry = typing.get_args(hints[section.name])[1]
            note = comments.get("Config", {}).get(section.name, "")
            parts.append(render_section(f"{section.name}.NAME", entry(), comments, note))
    parts.append(render_renamed())
    return "\n".join(parts)


def render_confs(paths: list[Path]) -> str:
    """The shipped YAML files, each with the first sentence of its opening comment."""
    lines = ["The shipped YAML files, in `confs/`:", ""]
    for path in paths:
        lines.append(f"- `confs/{path.name}`: {first_sentence(path)}")
    return "\n".join(lines) + "\n"


def first_sentence(path: Path) -> str:
    """The first sentence of the comment lines that open a YAML file."""
    text = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text.append(line.lstrip("#").strip())
    words = " ".join(text)
    end = words.find(". ")
    return words[: end + 1] if end >= 0 else words or "(no description)"


def source_comments(source: str) -> dict[str, dict[str, str]]:
    """{class name: {field name: its comment}} for every class in `source`: the comment at the
    end of the field's line(s), else the comment lines just above it."""
    inline, alone = {}, {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            line_is_comment = token.line.strip().startswith("#")
            (alone if line_is_comment else inline)[token.start[0]] = text
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            found[node.name] = {
                item.target.id: _field_comment(item, inline, alone)
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    return found


def _field_comment(node: ast.AnnAssign, inline: dict[int, str], alone: dict[int, str]) -> str:
    for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
        if line in inline:
            return inline[line]
    above = []
    line = node.lineno - 1
    while line in alone:
        above.insert(0, alone[line])
        line -= 1
    return " ".join(above)


def class_comments(cls: type, comments: dict[str, dict[str, str]]) -> dict[str, str]:
    """The comment of each field of dataclass `cls`, an inherited field's from its base class."""
    merged: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        merged.update({k: v for k, v in comments.get(klass.__name__, {}).items() if v})
    return merged


def render_section(
    name: str, node: Any, comments: dict[str, dict[str, str]], note: str = ""
) -> str:
    """One section: a heading, its class's docstring, a table of its keys."""
    doc = " ".join(inspect.getdoc(type(node)).split())
    if note:  # a section of named entries: what they are, then what each holds
        doc = f"{note[0].upper()}{note[1:]}. Each entry: {doc[0].lower()}{doc[1:]}"
    hints = typing.get_type_hints(type(node))
    meaning = class_comments(type(node), comments)
    lines = [
        f"## {name}",
        "",
        doc,
        "",
        "| key | type | default | what it does |",
        "|---|---|---|---|",
    ]
    for field in dataclasses.fields(node):
        key = f"{name}.{field.name}"
        value = getattr(node, field.name)
        what = describe(key, value, meaning.get(field.name, ""))
        row = [f"`{key}`", type_name(hints[field.name]), f"`{yaml_text(value)}`", what]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def describe(key: str, value: Any, comment: str) -> str:
    """A key's comment, then in parentheses its allowed values or range and a mapping's entries,
    which are keys too."""
    extra = []
    last = key.rpartition(".")[2]
    named = key.startswith("targets.NAME.")
    choices = TARGET_CHOICES.get(last) if named else CHOICES.get(key)
    bounds = TARGET_RANGES.get(last) if named else RANGES.get(key)
    if choices:
        extra.append("one of: " + ", ".join(map(str, choices)))
    if bounds:
        extra.append("allowed: " + range_text(*bounds, each=isinstance(value, tuple)))
    if isinstance(value, dict) and value:
        extra.append("each entry is a key too: " + ", ".join(f"`{key}.{k}`" for k in value))
    return " ".join([comment, *(f"({part})" for part in extra)]).strip()


def range_text(low: float | None, high: float | None, each: bool = False) -> str:
    """RANGES' bounds in words: 'from 0 to 1', 'at least 1', 'above 0' (bounds included)."""
    if low is not None and high is not None and high != INF:
        text = f"from {low:g} to {high:g}"
    elif low is not None and 0 < low < 1e-6:  # a tiny lowest value stands for "more than 0"
        text = "above 0"
    elif low is not None:
        text = f"at least {low:g}"
    elif high is not None and high != INF:
        text = f"at most {high:g}"
    else:
        return ""
    return f"each {text}" if each else text


def type_name(hint: Any) -> str:
    """An annotation in words: int, list of float, mapping of str to float."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return f"list of {type_name(args[0])}"
    if typing.get_origin(hint) is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    return getattr(hint, "__name__", str(hint))


def yaml_text(value: Any) -> str:
    """A value as YAML writes it on one line: [2, 4], {val_miou: 0.0}, "" for an empty string."""
    if value == "":
        return '""'
    plain = list(value) if isinstance(value, tuple) else value
    text = yaml.safe_dump(plain, default_flow_style=True, width=10**6, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def render_renamed() -> str:
    """Keys that moved (still read, with a deprecation warning) and keys that are gone."""
    lines = ["## Renamed and removed keys", ""]
    lines += ["Renamed keys are still read, with a deprecation warning naming the new key:", ""]
    for old, (new, convert) in RENAMED.items():
        note = " (the value is converted)" if convert else ""
        lines.append(f"- `{old}` → `{new}`{note}")
    lines += ["", "Removed keys are ignored, with a warning saying why:", ""]
    lines += [f"- `{old}`: {why}" for old, why in REMOVED.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
