"""Face Synthetics reader: Archai's split by sorted id into a decoded, memory-mapped cache."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nas.data.cache import build_once, damaged, file_record
from nas.data.format import IGNORE_LABEL, LABELS, LAYOUT, DataError

IMAGE_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA")  # 8-bit modes converted to RGB
CACHE_FILES = ("images.npy", "labels.npy")  # a decoded cache: the arrays, then meta.json

PARALLEL_MIN_IMAGES = 256  # below this, starting worker processes costs more than it saves
CHUNK_IMAGES = 64  # images one worker decodes per task
_BAD_VALUE = np.ones(256, bool)
_BAD_VALUE[: len(LABELS)] = _BAD_VALUE[IGNORE_LABEL] = False


@dataclass(frozen=True)
class Split:
    """One split: (N, S, S, 3) uint8 images and (N, S, S) uint8 labels, memory-mapped read-only."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Splits:
    """Train, validation and test splits of one folder, its content digest and absolute path."""

    train: Split
    val: Split
    test: Split
    digest: str
    source: str
    fingerprint: str = ""  # names and sizes only: equal for a copy with other file times


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def split_sizes(
    num_images: int, train_size: int = 0, val_size: int = 0, test_size: int = 0
) -> tuple[int, int, int]:
    """(train, val, test) counts: Archai's 88% / 2% / 10% of sorted ids where a size is 0, else
    the size given; train comes from the start, val just before test, test from the end."""
    if min(train_size, val_size, test_size) < 0:
        raise DataError(
            f"split sizes must be >= 0 (0 = Archai's proportion), got train "
            f"{train_size}, val {val_size}, test {test_size}."
        )
    test = test_size or max(1, _round(0.1 * num_images))
    val = val_size or max(1, _round(0.02 * num_images))
    train = train_size or num_images - test - val
    if train < 1 or train + val + test > num_images:
        train = max(train, 1)
        raise DataError(
            f"the data set has {num_images} images but the split needs train {train} + "
            f"val {val} + test {test} = {train + val + test}; use a bigger folder or "
            "set data.train_size, data.val_size and data.test_size to fit."
        )
    return train, val, test


def check_folder(dataset_dir: str | Path) -> Path:
    folder = Path(dataset_dir).expanduser().resolve()
    if not folder.is_dir():
        raise DataError(
            f"dataset folder {folder} does not exist or is not a folder; expected a "
            f"Face Synthetics folder with {LAYOUT} (or leave data.dataset_dir empty "
            "for the built-in synthetic faces)."
        )
    return folder


def _unpaired(folder: Path, ids: set[str], what: str, missing: str) -> DataError:
    names = ", ".join(sorted(ids)[:10]) + (", ..." if len(ids) > 10 else "")
    return DataError(
        f"dataset folder {folder}: {len(ids)} {what} without {missing}: ids {names}. "
        f"Expected {LAYOUT}; add the missing files or remove the unpaired ones."
    )


def scan_folder(folder: Path) -> tuple[list[str], str, str]:
    """Sorted ids of the image/label pairs, a digest of the PNG names, sizes and mtimes (the
    decoded cache's key) and a fingerprint of the names and sizes alone (equal for a copy)."""
    images, segs, lines = set(), set(), []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".png"):
                continue
            try:
                stat = entry.stat()
            except OSError as err:  # a dangling link, a symlink loop, no permission
                raise DataError(
                    f"dataset folder {folder}: cannot read {name} ({err.strerror or err}); "
                    f"expected readable PNG files ({LAYOUT}). Fix or remove it."
                ) from None
            lines.append((name, stat.st_size, stat.st_mtime_ns))
            if name.endswith("_seg.png"):
                segs.add(name[:-8])
            else:
                images.add(name[:-4])
    if not images:
        raise DataError(f"dataset folder {folder} holds no images; expected {LAYOUT}.")
    if images - segs:
        raise _unpaired(folder, images - segs, "image(s)", "a label map {id}_seg.png")
    if segs - images:
        raise _unpaired(folder, segs - images, "label map(s)", "an image {id}.png")
    lines.sort()
    digest = hashlib.sha256("".join(f"{n}\t{b}\t{t}\n" for n, b, t in lines).encode())
    fingerprint = hashlib.sha256("".join(f"{n}\t{b}\n" for n, b, _ in lines).encode())
    return sorted(images), digest.hexdigest(), fingerprint.hexdigest()


def _open_png(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except Exception as err:  # noqa: BLE001 - PIL raises OSError, SyntaxError, zlib.error...
        raise DataError(
            f"cannot read {path} ({err}); expected a complete PNG file. Re-copy it, or "
            "remove it together with its image or label map."
        ) from None
    return image


def _check_label(path: Path, label: Image.Image, image_path: Path, image: Image.Image) -> None:
    if label.mode not in ("L", "P"):
        raise DataError(
            f"label map {path} has PIL mode {label.mode}; expected an 8-bit single-channel PNG."
        )
    if label.size != image.size:
        raise DataError(
            f"label map {path} is {label.size[0]}x{label.size[1]} but its image "
            f"{image_path} is {image.size[0]}x{image.size[1]}; an image and its label "
            "map must be the same size."
        )
    bad = np.flatnonzero(np.bincount(np.asarray(label).ravel(), minlength=256) * _BAD_VALUE)
    if bad.size:
        raise DataError(
            f"label map {path} holds values {', '.join(map(str, bad))}; expected "
            f"0..{len(LABELS) - 1} ({', '.join(LABELS)}) or {IGNORE_LABEL} (ignore)."
        )


def decode_pair(folder: Path, id_: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (size, size, 3) uint8 image, resized bilinearly, and its nearest-resized label map."""
    image_path, label_path = folder / f"{id_}.png", folder / f"{id_}_seg.png"
    image, label = _open_png(image_path), _open_png(label_path)
    _check_label(label_path, label, image_path, image)
    if label.mode == "P":
        label = Image.fromarray(np.asarray(label))  # keep the indices, not the palette colours
    if image.mode not in IMAGE_MODES:
        raise DataError(
            f"image {image_path} has PIL mode {image.mode}; expected an 8-bit RGB PNG (8-bit "
            "grey, palette or RGBA are converted to RGB; 16-bit and float images are not)."
        )
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
        label = label.resize((size, size), Image.NEAREST)
    return np.asarray(image), np.asarray(label)


def _decode_into(
    images: np.ndarray, labels: np.ndarray, folder: Path, ids: Sequence[str], start: int
) -> None:
    size = images.shape[1]
    for offset, id_ in enumerate(ids):
        images[start + offset], labels[start + offset] = decode_pair(folder, id_, size)


def _decode_chunk(entry: Path, folder: Path, ids: Sequence[str], start: int) -> None:
    """Worker process task: decode `ids` straight into the cache files at row `start`."""
    images = np.load(entry / "images.npy", mmap_mode="r+")
    labels = np.load(entry / "labels.npy", mmap_mode="r+")
    _decode_into(images, labels, folder, ids, start)
    images.flush()
    labels.flush()


def _num_workers(num_images: int) -> int:
    if num_images < PARALLEL_MIN_IMAGES or multiprocessing.current_process().daemon:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, -(-num_images // CHUNK_IMAGES)))


def _decode_in_workers(entry: Path, folder: Path, ids: Sequence[str], workers: int) -> None:
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch holds threads
    pool = ProcessPoolExecutor(workers, mp_context=context)
    try:
        tasks = [
            pool.submit(_decode_chunk, entry, folder, ids[i : i + CHUNK_IMAGES], i)
            for i in range(0, len(ids), CHUNK_IMAGES)
        ]
        for task in tasks:
            task.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error, skip the remaining chunks


def _decode_all(folder: Path, ids: Sequence[str], size: int, entry: Path) -> None:
    """Write images.npy and labels.npy for `ids` (in order) into the folder `entry`."""
    n = len(ids)
    images = np.lib.format.open_memmap(entry / "images.npy", "w+", np.uint8, (n, size, size, 3))
    labels = np.lib.format.open_memmap(entry / "labels.npy", "w+", np.uint8, (n, size, size))
    workers = _num_workers(n)
    if workers == 1:
        _decode_into(images, labels, folder, ids, 0)
    else:
        images.flush()
        labels.flush()
        _decode_in_workers(entry, folder, ids, workers)
    images.flush()
    labels.flush()
    del images, labels
    files = {name: file_record(entry / name) for name in CACHE_FILES}
    meta = {"source": str(folder), "image_size": size, "ids": list(ids), "files": files}
    (entry / "meta.json").write_text(json.dumps(meta))


def _damaged_cache(entry: Path) -> str:
    """What is wrong with a decoded cache folder ('' if nothing): see cache.damaged."""
    try:
        files = json.loads((entry / "meta.json").read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return "meta.json is missing or unreadable"
    return damaged(entry, files)


def _split(
    images: np.ndarray, labels: np.ndarray, ids: Sequence[str], start: int, stop: int
) -> Split:
    return Split(images[start:stop], labels[start:stop], tuple(ids[start:stop]))


def load_splits(
    dataset_dir: str | Path,
    image_size: int,
    cache_dir: str | Path,
    train_size: int = 0,
    val_size: int = 0,
    test_size: int = 0,
) -> Splits:
    """Split a Face Synthetics folder by sorted id; the images used are decoded once per
    (folder content, size, split) into `cache_dir`/decoded and memory-mapped from there."""
    if image_size < 1:
        raise DataError(f"image size must be a positive number of pixels, got {image_size}.")
    folder = check_folder(dataset_dir)
    ids, digest, fingerprint = scan_folder(folder)
    try:
        train, val, test = split_sizes(len(ids), train_size, val_size, test_size)
    except DataError as err:
        raise DataError(f"dataset folder {folder}: {err}") from None
    used = ids[:train] + ids[len(ids) - test - val :]  # rows: train, then val, then test
    name = f"{digest[:16]}_{image_size}_{train}-{val}-{test}"
    entry = Path(cache_dir).expanduser().resolve() / "decoded" / name
    build_once(entry, lambda temp: _decode_all(folder, used, image_size, temp), _damaged_cache)
    images = np.load(entry / "images.npy", mmap_mode="r")
    labels = np.load(entry / "labels.npy", mmap_mode="r")
    return Splits(
        _split(images, labels, used, 0, train),
        _split(images, labels, used, train, train + val),
        _split(images, labels, used, train + val, len(used)),
        digest,
        str(folder),
        fingerprint,
    )
