"""One typed, frozen config tree: dataclass defaults < YAML files < dotted overrides."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.errors import UserError

log = logging.getLogger(__name__)


class ConfigError(UserError):
    """A config file or override names an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class SpaceConfig:
    """Archai's hourglass search space; defaults are the published CPU search."""

    num_blocks: int = 4  # downsample blocks per hourglass (skip and upsample: one fewer)
    stem_strides: tuple[int, ...] = (2, 4)  # stride choices of the first convolution
    base_channels: tuple[int, ...] = (16, 24, 32, 48)  # channel choices after the stem
    ch_factors: tuple[float, ...] = (0.8, 1.0, 1.2, 1.5, 1.6, 2.0, 2.2)  # channel growth choices
    ops: tuple[str, ...] = ("conv3x3", "conv5x5", "conv7x7")  # layer choices of every block
    max_hourglasses: int = 2  # the most hourglasses in sequence (the fewest: 1)
    max_down_layers: int = 4  # the most layers of a downsample block (the fewest: 1)
    max_skip_layers: int = 2  # the most layers of a skip block (0: an identity)
    max_up_layers: int = 4  # the most layers of an upsample block (the fewest: 1)
    max_post_layers: int = 2  # the most layers after the final upsampling (the fewest: 0)


@dataclass(frozen=True)
class ModelConfig:
    """Network settings that are not genes."""

    num_classes: int = 19  # output classes: 19 keeps every Face Synthetics label, 18 is Archai's
    image_size: int = 256  # square input size in pixels, for training and latency alike


@dataclass(frozen=True)
class DataConfig:
    """Where images come from and how they are split; sizes of 0 mean Archai's proportions."""

    dataset_dir: str = ""  # a Face Synthetics folder; empty: the built-in synthetic faces
    cache_dir: str = ".cache"  # generated faces and decoded, memory-mapped splits
    train_size: int = 0  # training images taken first by sorted id (0: all but val and test)
    val_size: int = 0  # validation images just before the test ones (0: 2% of the folder)
    test_size: int = 0  # test images taken last (0: 10% of the folder)
    synthetic_num_images: int = 1000  # built-in synthetic faces to generate
    synthetic_image_size: int = 256  # the built-in faces' size (resized to model.image_size)
    synthetic_seed: int = 0  # the same seed generates the same faces


@dataclass(frozen=True)
class TrainingConfig:
    """One training recipe: `partial_training` scores candidates, `final_training` trains one."""

    epochs: float = 1.0  # passes over the training split; may be fractional
    max_steps: int = 0  # caps the steps the epochs give (0: no cap)
    batch_size: int = 16  # images per step
    lr: float = 2e-4  # Adam's learning rate
    lr_schedule: str = "constant"  # constant, exponential (lr_gamma per epoch) or cosine to 0
    lr_gamma: float = 1.0  # the exponential schedule's factor per epoch
    warmup_fraction: float = 0.0  # share of the steps with a linear warm-up from 0
    seed: int = 0  # batch order (a candidate's initial weights are fixed by its archid)
    device: str = "auto"  # auto (a GPU if there is one), cpu, cuda, cuda:1, ...
    amp: bool = False  # float16 autocast on a GPU
    num_threads: int = 0  # torch threads (0: search.cpus_per_job in a search, else torch's)


@dataclass(frozen=True)
class FinalTrainingConfig(TrainingConfig):
    """The recipe of `train`: Archai's final training (30 epochs, the learning rate times
    0.973435286 after each, 10 validations an epoch; the best checkpoint by validation loss)."""

    epochs: float = 30.0  # passes over the training split; may be fractional
    lr_schedule: str = "exponential"  # constant, exponential (lr_gamma per epoch) or cosine to 0
    lr_gamma: float = 0.973435286  # the exponential schedule's factor per epoch
    val_per_epoch: int = 10  # validations per epoch, evenly spaced (0: at each epoch's end)


@dataclass(frozen=True)
class LatencyConfig:
    """How a candidate is exported to ONNX and timed in ONNX Runtime on the CPU."""

    num_threads: int = 1  # ONNX Runtime intra-op threads
    warmup_runs: int = 10  # untimed runs first
    min_runs: int = 30  # the fewest timed runs
    max_runs: int = 300  # the most timed runs
    target_seconds: float = 3.0  # timed runs go on beyond min_runs while within this many seconds
    opset: int = 18  # ONNX opset of the export
    exporter: str = "dynamo"  # dynamo (torch.export) or torchscript (deprecated by torch, faster)
    onnx_tolerance: float = 1e-3  # the most an ONNX logit may differ, times max(1, largest logit)


@dataclass(frozen=True)
class TargetConfig:
    """A deployment target: the model as it will be deployed (its precision), timed as it will
    run (threads, execution provider, the machine that advertises `resource`)."""

    precision: str = "fp32"  # fp32, or int8: static QDQ quantization (quantization.*)
    threads: int = 1  # ONNX Runtime intra-op threads
    provider: str = "CPUExecutionProvider"  # an ONNX Runtime execution provider installed there
    resource: str = ""  # a Ray resource of the node that times it (empty: the driver's machine)
    max_latency_ms: float = 0.0  # the most latency on this target to be trained (0: no limit)
    hv_ref_ms: float = 0.0  # its latency's hypervolume reference (0: search.hv_ref.latency_ms)


@dataclass(frozen=True)
class QuantizationConfig:
    """How an int8 target's model is made from the FP32 one: ONNX Runtime's static QDQ
    quantization, calibrated on a fixed, seeded sample of training images."""

    calibration_images: int = 32  # training images the activation ranges are calibrated on
    calibration_seed: int = 0  # which ones: the same seed picks the same images
    per_channel: bool = True  # a scale per output channel of each convolution's weights
    reduce_range: str = "auto"  # 7-bit weights: true, false, or auto (true without VNNI)


@dataclass(frozen=True)
class BudgetsConfig:
    """Hard limits a candidate must meet to be trained: one over any of them is measured, logged
    and told to Optuna as a constraint violation, but not trained (0: no limit)."""

    max_latency_ms: float = 0.0  # the most ONNX Runtime latency (latency.*), in ms
    max_params: int = 0  # the most parameters


# The hypervolume reference point: per objective of nas/evaluation/objectives.py, in its unit.
HV_REF = {"val_miou": 0.0, "latency_ms": 1000.0, "num_params": 20e6, "macs": 50e9}


@dataclass(frozen=True)
class SearchConfig:
    """The objectives, the sampler, execution, resume and the hypervolume reference point."""

    objectives: tuple[str, ...] = ("val_miou", "latency_ms")  # of nas/evaluation/objectives.py
    sampler: str = "nsga2"  # nsga2, nsga3, tpe (multi-objective) or random (the baseline)
    population_size: int = 20  # candidates per generation
    generations: int = 10  # generations in all, the first one random
    seed: int = 42  # the sampler's seed
    mutation_prob: float = 0.3  # NSGA per-gene mutation probability (0: Optuna's 1 / genes)
    crossover_prob: float = 0.9  # NSGA's crossover probability
    swapping_prob: float = 0.5  # NSGA's uniform-crossover gene swap probability
    study_name: str = "hourglass-nas"  # the Optuna study; the same name resumes it
    storage: str = ""  # the study's SQLAlchemy URL (empty: $NAS_SEARCH_STORAGE, else optuna.db)
    executor: str = "ray"  # where candidates train: ray (parallel tasks) or serial (here)
    gpus_per_job: float = 0.5  # GPU share of one Ray training where there are GPUs
    cpus_per_job: int = 1  # CPU slots of one Ray training where there are none
    timeout_per_step_s: float = 10.0  # a Ray training's limit: 300 s + this per step (0: none)
    # the hypervolume reference per objective (num_params: budgets.max_params when it is set)
    hv_ref: dict[str, float] = field(default_factory=lambda: dict(HV_REF))


@dataclass(frozen=True)
class PromotionConfig:
    """Multi-fidelity promotion: after each generation, the candidates on (or within `miou_slack`
    of) the partial-training front are trained again, `epochs_factor` times longer with the
    training seed + `seed_offset`; that score then stands for them in the front and registry."""

    enabled: bool = False  # promote the front after each generation
    epochs_factor: float = 4.0  # the promoted training's length over the partial one
    seed_offset: int = 1  # added to partial_training.seed for the promoted training
    miou_slack: float = 0.0  # also promote those this much mIoU short of the front
    max_per_generation: int = 0  # promotions per generation at most (0: no cap)


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow experiment and registry names."""

    experiment_name: str = "hourglass-nas"  # the experiment, unless `mlflow run` names one
    registered_model: str = "face-seg-hourglass"  # where the search registers its front
    trained_model: str = "face-seg-hourglass-trained"  # where `train` registers its model


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of a command."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    partial_training: TrainingConfig = field(default_factory=TrainingConfig)  # scores candidates
    final_training: FinalTrainingConfig = field(default_factory=FinalTrainingConfig)  # `train`
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    budgets: BudgetsConfig = field(default_factory=BudgetsConfig)
    # deployment targets by name, each timed (and, int8, scored) beside the default measurement
    targets: dict[str, TargetConfig] = field(default_factory=dict)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# Keys that moved: old dotted key -> (new dotted key, old value -> new value; None: the same). An
# old key still works, with a deprecation warning that names the new one.
RENAMED: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "search.serial_training": (
        "search.executor",
        lambda serial: "serial" if _coerce(serial, bool, "search.serial_training") else "ray",
    ),
    "latency.max_latency_ms": ("budgets.max_latency_ms", None),
    "latency.max_params": ("budgets.max_params", None),
    "search.hv_ref_latency_ms": ("search.hv_ref.latency_ms", None),
    "search.hv_ref_miou": ("search.hv_ref.val_miou", None),
    "search.hv_ref_num_params": ("search.hv_ref.num_params", None),
    "search.hv_ref_macs": ("search.hv_ref.macs", None),
}
# Keys that are gone: old dotted key -> why. An old key is ignored, with a warning saying why.
REMOVED = {
    "partial_training.val_per_epoch": "a search validates once, after the partial training "
    "(final_training.val_per_epoch sets how often `train` validates)",
}


def translate_renamed(old: str, value: Any) -> tuple[str, Any]:
    """The new key and value that an old key's value means."""
    new, convert = RENAMED[old]
    return new, convert(value) if convert else value


def _pop(tree: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """Remove `dotted` from the nested `tree`: (whether it was there, its value)."""
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        return False, None
    return True, node.pop(last)


def _put(tree: dict[str, Any], dotted: str, value: Any) -> bool:
    """Set `dotted` in the nested `tree` unless it is set already; whether it was set."""
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        if isinstance(node.get(key), str):  # a mapping given as YAML text: -P section.map={..}
            node[key] = _yaml_value(node[key], key)
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return False
    if last in node:
        return False
    node[last] = value
    return True


def _upgrade(tree: Any) -> Any:
    """`tree` (a nested mapping) with deprecated keys moved to their new names and removed keys
    dropped, each with a warning; an old key given beside its new name is an error."""
    if not isinstance(tree, dict):
        return tree
    tree = copy.deepcopy(tree)
    for old, (new, _) in RENAMED.items():
        found, value = _pop(tree, old)
        if not found:
            continue
        new, value = translate_renamed(old, value)
        log.warning("config key %s is deprecated: read as %s = %s; use that name", old, new, value)
        if not _put(tree, new, value):
            raise ConfigError(f"{old} and {new} are both set; {old} is the old name of {new}.")
    for old, why in REMOVED.items():
        if _pop(tree, old)[0]:
            log.warning("config key %s is no longer used and is ignored: %s", old, why)
    return tree


NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _yaml_value(text: str, where: str) -> Any:
    """A value given as text (`-P key=value`), read as YAML reads it."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0]
        raise ConfigError(
            f"{where}: {text[:60]!r} is not a value YAML can read ({problem})."
        ) from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """`value` converted to the annotated type `hint`, or a ConfigError naming `where`."""
    origin = typing.get_origin(hint)
    if origin is dict:
        return _coerce_mapping(value, hint, {}, where)
    if origin is tuple:
        (item_hint, _) = typing.get_args(hint)
        if isinstance(value, str):
            value = _yaml_value(value, where)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}.")
        return tuple(_coerce(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, str) and hint is not str:
        value = _yaml_value(value, where)
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return float(value)  # 5e-4: YAML 1.1 reads an exponent without a dot as text
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value) if value is not None else ""
    if hint is str and value is None:
        return ""
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {value!r}.")


NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")  # a named entry: metric keys and aliases hold it


def _coerce_mapping(value: Any, hint: Any, current: dict, where: str) -> dict:
    """`current` with the entries of mapping `value` (or its YAML text) converted to `hint`'s
    value type. Entries of numbers have fixed keys (a key not in `current` is refused, naming
    the known ones); entries of settings (a dataclass) are named by the user, each merged over
    its current settings or the defaults."""
    _, item_hint = typing.get_args(hint)
    if isinstance(value, str):
        value = _yaml_value(value, where)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {value!r}.")
    merged = dict(current)
    for key, item in value.items():
        path = f"{where}.{key}"
        if dataclasses.is_dataclass(item_hint):
            if not isinstance(key, str) or not NAME.fullmatch(key):
                raise ConfigError(
                    f"{path}: {key!r} is not a name; expected a letter, then letters, digits or "
                    "_ (at most 40), as it becomes part of metric keys and registry aliases."
                )
            merged[key] = _merge(current.get(key, item_hint()), item or {}, path)
            continue
        if current and key not in current:
            raise ConfigError(
                f"unknown key '{path}'; known keys here: {', '.join(sorted(current))}."
            )
        merged[key] = _coerce(item, item_hint, path)
    return merged


def _merge(node: Any, updates: dict[str, Any], where: str) -> Any:
    """Return a copy of dataclass `node` with `updates` (or their YAML text) applied, checking
    keys and types."""
    if isinstance(updates, str):
        updates = _yaml_value(updates, where)
    if not isinstance(updates, dict):
        raise ConfigError(f"{where or 'top level'}: expected a mapping of keys, got {updates!r}.")
    hints = typing.get_type_hints(type(node))
    known = {f.name for f in dataclasses.fields(node)}
    changes = {}
    for key, value in updates.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise ConfigError(f"unknown key '{path}'; known keys here: {', '.join(sorted(known))}.")
        current = getattr(node, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, path)
        elif isinstance(current, dict):
            changes[key] = _coerce_mapping(value, hints[key], current, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    return dataclasses.replace(node, **changes)


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    """Turn 'a.b.c', v into {'a': {'b': {'c': v}}}."""
    keys = dotted.split(".")
    tree: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        tree = {key: tree}
    return tree


def load_config(
    files: typing.Sequence[str | Path] = (), overrides: dict[str, Any] | None = None
) -> Config:
    """Build the config from defaults, then each YAML file in order, then dotted overrides."""
    config = Config()
    for path in files:
        path = Path(path)
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist.") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        try:
            config = _merge(config, _upgrade(tree), "")
        except ConfigError as err:
            raise ConfigError(f"config file {path}: {err}") from None
    for dotted, value in (overrides or {}).items():
        try:
            config = _merge(config, _upgrade(_nest(dotted, value)), "")
        except ConfigError as err:
            raise ConfigError(f"override {dotted}={value!r}: {err}") from None
    _check_choices(config)
    _check_ranges(config)
    return config


LR_SCHEDULES = ("constant", "exponential", "cosine")
SAMPLERS = ("nsga2", "random", "nsga3", "tpe")
PRECISIONS = ("fp32", "int8")
CHOICES = {
    "latency.exporter": ("dynamo", "torchscript"),
    "quantization.reduce_range": ("auto", "true", "false"),
    "search.sampler": SAMPLERS,
    "partial_training.lr_schedule": LR_SCHEDULES,
    "final_training.lr_schedule": LR_SCHEDULES,
}


# Numbers outside these bounds are refused by load_config: key -> (lowest, highest), each
# included; None: unbounded. Keys ending in a name of TRAINING_RANGES hold for both trainings.
INF = math.inf
TRAINING_RANGES = {
    "epochs": (1e-9, None),
    "max_steps": (0, None),
    "batch_size": (1, None),
    "lr": (1e-12, None),
    "lr_gamma": (1e-12, None),
    "warmup_fraction": (0, 0.999),
    "num_threads": (0, None),
}
RANGES = {
    **{
        f"{t}.{k}": r
        for t in ("partial_training", "final_training")
        for k, r in TRAINING_RANGES.items()
    },
    "space.num_blocks": (1, 16),  # 2**num_blocks divides the image size: more is no network
    "space.stem_strides": (1, None),
    "space.base_channels": (1, None),
    "space.ch_factors": (1e-9, None),
    "space.max_hourglasses": (1, 16),  # the genes grow with these: bounded, so that a typo
    "space.max_down_layers": (1, 64),  # cannot make a search space of millions of genes
    "space.max_skip_layers": (0, 64),
    "space.max_up_layers": (1, 64),
    "space.max_post_layers": (0, 64),
    "model.num_classes": (2, None),
    "model.image_size": (8, None),
    "data.train_size": (0, None),
    "data.val_size": (0, None),
    "data.test_size": (0, None),
    "data.synthetic_num_images": (1, None),
    "data.synthetic_image_size": (8, None),
    "latency.num_threads": (1, None),
    "latency.warmup_runs": (0, None),
    "latency.min_runs": (1, None),
    "latency.max_runs": (1, None),
    "latency.target_seconds": (0, None),
    "latency.opset": (7, None),
    "latency.onnx_tolerance": (0, INF),
    "budgets.max_latency_ms": (0, None),
    "budgets.max_params": (0, None),
    "search.population_size": (2, None),
    "search.generations": (1, None),
    "search.mutation_prob": (0, 1),
    "search.crossover_prob": (0, 1),
    "search.swapping_prob": (0, 1),
    "search.gpus_per_job": (1e-9, None),
    "search.cpus_per_job": (1, None),
    "search.timeout_per_step_s": (0, None),
    "final_training.val_per_epoch": (0, None),
    "quantization.calibration_images": (1, None),
    "promotion.epochs_factor": (1e-9, None),
    "promotion.miou_slack": (0, None),
    "promotion.max_per_generation": (0, None),
}


# The same for every entry of `targets` (targets.NAME.KEY).
TARGET_RANGES = {"threads": (1, 1024), "max_latency_ms": (0, None), "hv_ref_ms": (0, None)}
TARGET_CHOICES = {"precision": PRECISIONS}


def _per_target(config: Config, table: dict[str, Any]) -> dict[str, Any]:
    return {f"targets.{name}.{key}": v for name in config.targets for key, v in table.items()}


def _check_ranges(config: Config) -> None:
    """Every number of RANGES within its bounds (and finite, unless inf is a bound)."""
    flat = flatten_config(config)
    for key, (low, high) in {**RANGES, **_per_target(config, TARGET_RANGES)}.items():
        values = flat[key] if isinstance(flat[key], (list, tuple)) else [flat[key]]
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue  # a wrong type is refused when the value is read
            finite = math.isfinite(value) or high == INF
            if (
                not finite
                or math.isnan(value)
                or (low is not None and value < low)
                or (high is not None and value > high)
            ):
                raise ConfigError(f"{key} = {flat[key]!r}; expected {_bounds(value, low, high)}.")
    if flat["latency.max_runs"] < flat["latency.min_runs"]:
        raise ConfigError(
            f"latency.max_runs = {flat['latency.max_runs']} is below latency.min_runs = "
            f"{flat['latency.min_runs']}; expected at least as many."
        )


def _bounds(value: float, low: float | None, high: float | None) -> str:
    kind = "an integer" if isinstance(value, int) else "a finite number"
    if low is not None and high is not None and high != INF:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None and low > 0 and low < 1e-6:
        return f"{kind} above 0"
    return f"{kind} of at least {low:g}"


def _check_choices(config: Config) -> None:
    flat = flatten_config(config)
    for key, allowed in {**CHOICES, **_per_target(config, TARGET_CHOICES)}.items():
        if flat[key] not in allowed:
            raise ConfigError(f"{key} = {flat[key]!r}; expected one of {list(allowed)}.")


def flatten_config(node: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of the config as {'section.key': value}, e.g. for MLflow params."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            flat.update(flatten_config(value, key + "."))
        elif isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item):
                    flat.update(flatten_config(item, f"{key}.{name}."))
                else:
                    flat[f"{key}.{name}"] = item
        else:
            flat[key] = list(value) if isinstance(value, tuple) else value
    return flat


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain nested dicts and lists, ready for YAML."""
    return yaml.safe_load(yaml.safe_dump(_plain(dataclasses.asdict(config))))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse_overrides(items: typing.Iterable[str]) -> dict[str, str]:
    """Parse command-line 'section.key=value' strings into a dict (values stay strings)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(
                f"override {item!r}: expected 'section.key=value', e.g. search.seed=1."
            )
        overrides[key.strip()] = value.strip()
    return overrides
