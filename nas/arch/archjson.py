"""Archai's architecture JSON: read it exactly, write it byte for byte, compute the Archai id."""

from __future__ import annotations

import hashlib
import json
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.arch.space import KERNEL_SIZES, ArchError, Block, DownBlock, Genome, Hourglass, check_fits
from nas.config import SpaceConfig

_LIST_MARKERS = {"_config_type": "config_list", "_share_arch": False}
_LIST_KEYS = ["_config_type", "_share_arch", "_repeat_times", "_configs"]


class _Reader:
    """Walks one JSON tree, raising ArchError that names the file and the JSON path at fault."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str) -> ArchError:
        return ArchError(
            f"{self.source}: at '{path or '<root>'}': {problem}. "
            "Expected an Archai hourglass architecture file "
            "(see archs/README.md for the format)."
        )

    def keys(self, node: Any, path: str, expected: list[str]) -> dict:
        if not isinstance(node, dict):
            raise self.fail(path, f"expected an object with keys {expected}, got {_kind(node)}")
        missing = [k for k in expected if k not in node]
        extra = [k for k in node if k not in expected]
        if missing or extra:
            parts = ([f"missing keys {missing}"] if missing else []) + (
                [f"unexpected keys {_show(extra)}"] if extra else []
            )
            raise self.fail(path, " and ".join(parts) + f" (expected exactly {expected})")
        return node

    def value(
        self,
        node: dict,
        key: str,
        path: str,
        kind: type,
        check: Callable[[Any], bool],
        expected: str,
    ) -> Any:
        value = node[key]
        where = f"{path}.{key}" if path else key
        is_kind = isinstance(value, kind) and not isinstance(value, bool)
        if not is_kind or not check(value):
            raise self.fail(where, f"got {_show(value)}, expected {expected}")
        return value

    def config_list(
        self, node: Any, path: str, low: int, high_is_len: bool = True, exact: bool = False
    ) -> tuple[int, list[tuple[str, Any]]]:
        """Return (_repeat_times, [(entry path, entry)]) of a config_list object."""
        node = self.keys(node, path, _LIST_KEYS)
        for key, marker in _LIST_MARKERS.items():
            if node[key] != marker or isinstance(node[key], int) != isinstance(marker, int):
                raise self.fail(f"{path}.{key}", f"got {_show(node[key])}, expected {marker!r}")
        configs = node["_configs"]
        if not isinstance(configs, dict) or not configs:
            raise self.fail(
                f"{path}._configs", f"expected a non-empty object, got {_kind(configs)}"
            )
        names = [str(i) for i in range(len(configs))]
        if list(configs) != names:
            raise self.fail(
                f"{path}._configs", f"keys {_show(list(configs))}, expected {_show(names)}"
            )
        size = len(configs)
        lo = size if exact else low
        repeat = self.value(
            node,
            "_repeat_times",
            path,
            int,
            lambda v: lo <= v <= size,
            f"an integer in {lo}..{size}",
        )
        return repeat, [(f"{path}._configs.{name}", configs[name]) for name in names]


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no arguments
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 40


def _show(value: Any) -> str:
    """A value as errors quote it: short, whatever its size or depth."""
    return _REPR.repr(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), _show(value)
    )


def _read_layers(r: _Reader, node: Any, path: str, min_layers: int) -> Block:
    repeat, entries = r.config_list(node, path, min_layers)
    ops = tuple(
        r.value(
            r.keys(e, p, ["op"]),
            "op",
            p,
            str,
            lambda v: v in KERNEL_SIZES,
            f"one of {sorted(KERNEL_SIZES)}",
        )
        for p, e in entries
    )
    return Block(repeat, ops)


def _read_block(r: _Reader, node: Any, path: str, min_layers: int, down: bool) -> Block:
    keys = ["layers", "ch_expansion_factor"] if down else ["layers"]
    node = r.keys(node, path, keys)
    layers = _read_layers(r, node["layers"], f"{path}.layers", min_layers)
    if not down:
        return layers
    factor = r.value(
        node,
        "ch_expansion_factor",
        path,
        (int, float),
        lambda v: 0 < v <= 16,
        "a number in (0, 16]",
    )
    return DownBlock(layers.num_layers, layers.ops, factor)


def _read_blocks(
    r: _Reader, node: dict, key: str, path: str, min_layers: int, count: int | None
) -> tuple:
    where = f"{path}.{key}"
    _, entries = r.config_list(node[key], where, 0, exact=True)
    if count is not None and len(entries) != count:
        raise r.fail(
            f"{where}._configs",
            f"{len(entries)} blocks, expected {count} (one fewer than the downsample blocks)",
        )
    return tuple(_read_block(r, e, p, min_layers, key == "downsample_blocks") for p, e in entries)


def _read_hourglass(r: _Reader, node: Any, path: str) -> Hourglass:
    node = r.keys(node, path, ["downsample_blocks", "skip_blocks", "upsample_blocks"])
    down = _read_blocks(r, node, "downsample_blocks", path, 1, None)
    if len(down) < 2:
        raise r.fail(f"{path}.downsample_blocks._configs", "expected at least 2 blocks")
    skip = _read_blocks(r, node, "skip_blocks", path, 0, len(down) - 1)
    up = _read_blocks(r, node, "upsample_blocks", path, 1, len(down) - 1)
    return Hourglass(down, skip, up)


def parse_arch(tree: Any, source: str) -> Genome:
    """Genome from a parsed Archai JSON tree; `source` names the file in errors."""
    r = _Reader(source)
    root = r.keys(tree, "", ["stem_stride", "base_ch", "hourglasses", "post_upsample_layers"])
    stem = r.value(root, "stem_stride", "", int, lambda v: v in (1, 2, 4, 8), "1, 2, 4 or 8")
    base = r.value(root, "base_ch", "", int, lambda v: 1 <= v <= 4096, "an integer in 1..4096")
    count, entries = r.config_list(root["hourglasses"], "hourglasses", 1)
    hourglasses = tuple(_read_hourglass(r, e, p) for p, e in entries)
    blocks = {len(hg.down) for hg in hourglasses}
    if len(blocks) > 1:
        raise r.fail("hourglasses", f"hourglasses have different block counts {sorted(blocks)}")
    post = _read_layers(r, root["post_upsample_layers"], "post_upsample_layers", 0)
    return Genome(stem, base, count, hourglasses, post)


def read_arch(path: str | Path, space: SpaceConfig | None = None) -> Genome:
    """Read an Archai architecture file; any problem raises ArchError naming the file and path.
    With `space`, the genome must also fit that search space; without, block and hourglass
    counts come from the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ArchError(f"{path}: cannot read the architecture file ({err}).") from None
    try:
        tree = json.loads(text)
    except json.JSONDecodeError as err:
        raise ArchError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno}); expected an Archai architecture file."
        ) from None
    except RecursionError:
        raise ArchError(
            f"{path}: JSON nested too deeply to read; expected an Archai architecture file "
            "(a few levels of objects and lists)."
        ) from None
    genome = parse_arch(tree, str(path))
    if space is not None:
        check_fits(genome, space, str(path))
    return genome


def _config_list(repeat: int, entries: list[Any]) -> dict:
    return {
        "_config_type": "config_list",
        "_share_arch": False,
        "_repeat_times": repeat,
        "_configs": {str(i): e for i, e in enumerate(entries)},
    }


def _layers(block: Block) -> dict:
    return _config_list(block.num_layers, [{"op": op} for op in block.ops])


def arch_tree(genome: Genome) -> dict:
    """The genome as Archai's JSON tree, keys in Archai's order."""
    hourglasses = [
        {
            "downsample_blocks": _config_list(
                len(hg.down),
                [{"layers": _layers(b), "ch_expansion_factor": b.ch_factor} for b in hg.down],
            ),
            "skip_blocks": _config_list(len(hg.skip), [{"layers": _layers(b)} for b in hg.skip]),
            "upsample_blocks": _config_list(len(hg.up), [{"layers": _layers(b)} for b in hg.up]),
        }
        for hg in genome.hourglasses
    ]
    return {
        "stem_stride": genome.stem_stride,
        "base_ch": genome.base_ch,
        "hourglasses": _config_list(genome.num_hourglasses, hourglasses),
        "post_upsample_layers": _layers(genome.post),
    }


def arch_json(genome: Genome) -> str:
    """The file text Archai writes: 4-space indent, no trailing newline."""
    return json.dumps(arch_tree(genome), indent=4)


def write_arch(genome: Genome, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(arch_json(genome))
    return path


def _features(node: Any, inactive: bool, out: list) -> None:
    """Archai's feature walk: values in key order, NaN for anything inside an inactive entry."""
    if isinstance(node, dict) and "_configs" in node:
        out.append(float("nan") if inactive else node["_repeat_times"])
        for i, entry in enumerate(node["_configs"].values()):
            _features(entry, inactive or i >= node["_repeat_times"], out)
    elif isinstance(node, dict):
        for value in node.values():
            _features(value, inactive, out)
    else:
        out.append(float("nan") if inactive else node)


def archid(genome: Genome) -> str:
    """Archai's id: sha1 of str(tuple(features)); genomes that differ in inactive genes share it."""
    features: list = []
    _features(arch_tree(genome), False, features)
    return hashlib.sha1(str(tuple(features)).encode()).hexdigest()
