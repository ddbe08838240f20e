"""Batches from a memory-mapped Split: seeded epoch order, sorted reads, background prefetch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

T = TypeVar("T")
PREFETCH_DEPTH = 3


def load_batch(split: Any, indices: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    """Read one batch of a nas.data.face_synthetics.Split (memory-mapped arrays): float NCHW
    images in [0, 1] when training on the CPU, pinned uint8 NHWC for a GPU; int64 labels."""
    order = np.sort(indices)  # sorted fancy indexing reads the memmap front to back
    images = torch.from_numpy(np.ascontiguousarray(split.images[order]))
    labels = torch.from_numpy(np.ascontiguousarray(split.labels[order])).long()
    if device.type == "cpu":
        return images.permute(0, 3, 1, 2).float().div_(255.0).contiguous(), labels
    return images.pin_memory(), labels.pin_memory()


def to_device(images: Tensor, labels: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """Move a loaded batch to `device`; uint8 images are converted there (fewer bytes to copy)."""
    if images.dtype == torch.uint8:
        images = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        images = images.contiguous()
    return images, labels.to(device, non_blocking=True)


def iterate_batches(
    split: Any, batch_size: int, device: torch.device, seed: int | None, first_epoch: int = 0
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Yield (epoch, images, labels) forever from `first_epoch` on; one seeded permutation per
    epoch, or the split's order when `seed` is None (then a single epoch)."""
    size = len(split.images)
    epoch = first_epoch
    while True:
        if seed is None:
            order = np.arange(size)
        else:
            order = np.random.default_rng([seed, epoch]).permutation(size)
        for start in range(0, size, batch_size):
            yield (epoch, *load_batch(split, order[start : start + batch_size], device))
        if seed is None:
            return
        epoch += 1


def prefetch(items: Iterator[T], depth: int | None = None) -> Iterator[T]:
    """Yield `items`, produced up to `depth` (default PREFETCH_DEPTH; 0 = inline) ahead by a
    background thread, so loading overlaps compute; its errors are re-raised here."""
    depth = PREFETCH_DEPTH if depth is None else depth
    if depth <= 0:
        yield from items
        return
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put(("item", item))
            put(("end", None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(("error", err))

    worker = threading.Thread(target=work, name="batch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
