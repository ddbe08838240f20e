"""Partial and full training on tiny fake splits with a tiny conv net."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas.config import FinalTrainingConfig, TrainingConfig
from nas.data.batches import iterate_batches, prefetch
from nas.data.face_synthetics import Split, Splits
from nas.evaluation.devices import select_device
from nas.evaluation.metrics import confusion_matrix, iou_from_confusion, score_split
from nas.evaluation.training import (
    TrainingDiverged,
    plan_steps,
    train_final,
    train_partial,
    validation_steps,
)

NUM_CLASSES = 3
SIZE = 32
CPU = torch.device("cpu")
FAST = TrainingConfig(epochs=1.0, batch_size=4, lr=1e-2, device="cpu")


def _split(count: int, seed: int) -> Split:
    """Dark noisy images with a red square (class 1) and a blue square (class 2); a 255 border."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.zeros((count, SIZE, SIZE), dtype=np.uint8)
    for i in range(count):
        for cls, channel in ((1, 0), (2, 2)):
            y, x = rng.integers(1, SIZE - 12, size=2)
            images[i, y : y + 10, x : x + 10, channel] = 220
            labels[i, y : y + 10, x : x + 10] = cls
    labels[:, 0, :] = 255
    return Split(images, labels, tuple(f"{seed}-{i:03d}" for i in range(count)))


@pytest.fixture(scope="module")
def splits() -> Splits:
    return Splits(_split(24, 0), _split(8, 1), _split(8, 2), digest="fake", source="test")


def _tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, NUM_CLASSES, 1))


class _NanAfter(nn.Module):
    """Tiny net whose output turns NaN from the `bad_call`-th forward pass on."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.net, self.calls, self.bad_call = _tiny_net(), 0, bad_call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.net(x)
        return out * float("nan") if self.calls >= self.bad_call else out


def test_select_device() -> None:
    assert select_device("cpu") == CPU
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_batches_cover_split_once_per_epoch(splits: Splits) -> None:
    seen = []
    for epoch, images, labels in iterate_batches(splits.train, 5, CPU, seed=3):
        if epoch == 1:
            break
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        assert images.shape[1:] == (3, SIZE, SIZE) and float(images.max()) <= 1.0
        seen.append(images)
    assert [len(b) for b in seen] == [5, 5, 5, 5, 4]
    assert torch.cat(seen).sum().item() == pytest.approx(splits.train.images.sum() / 255, rel=1e-5)


def test_prefetch_keeps_order_and_reraises() -> None:
    assert list(prefetch(iter(range(10)), depth=2)) == list(range(10))

    def broken():
        yield 1
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        list(prefetch(broken()))


def test_plan_steps_fractional_and_capped() -> None:
    assert plan_steps(FAST, 24) == (6, 6)
    assert plan_steps(dataclasses.replace(FAST, epochs=0.5), 24) == (3, 6)
    assert plan_steps(dataclasses.replace(FAST, epochs=2.0, max_steps=4), 24) == (4, 6)
    assert plan_steps(dataclasses.replace(FAST, batch_size=5), 24) == (5, 5)


def test_validation_steps_evenly_spaced() -> None:
    assert validation_steps(12, 6, 3) == {2, 4, 6, 8, 10, 12}
    assert validation_steps(12, 6, 0) == {6, 12}
    assert validation_steps(9, 6, 0) == {6, 9}


def test_partial_training_is_reproducible(splits: Splits) -> None:
    first = train_partial(_tiny_net(), splits, FAST, NUM_CLASSES)
    second = train_partial(_tiny_net(), splits, FAST, NUM_CLASSES)
    assert first.miou == second.miou
    assert first.val_loss == second.val_loss and first.train_loss == second.train_loss
    other = train_partial(_tiny_net(), splits, dataclasses.replace(FAST, seed=1), NUM_CLASSES)
    assert other.train_loss != first.train_loss
    assert first.steps == 6 and first.device == "cpu"
    assert first.samples_per_second > 0 and 0 <= first.data_wait_seconds < first.train_seconds


def test_max_steps_is_respected(splits: Splits) -> None:
    cfg = dataclasses.replace(FAST, epochs=10.0, max_steps=3)
    assert train_partial(_tiny_net(), splits, cfg, NUM_CLASSES).steps == 3


def test_training_learns_easy_pattern(splits: Splits) -> None:
    model = _tiny_net()
    before = score_split(model, splits.val, NUM_CLASSES, 4, CPU)
    result = train_partial(model, splits, dataclasses.replace(FAST, epochs=8.0), NUM_CLASSES)
    labels = torch.from_numpy(splits.val.labels).long()
    majority, _ = iou_from_confusion(
        confusion_matrix(torch.zeros_like(labels), labels, NUM_CLASSES)
    )
    assert result.val_loss < 0.5 * before.loss
    assert result.miou > majority + 0.3
    assert result.miou > 0.8


def test_nan_loss_raises_naming_step(splits: Splits) -> None:
    with pytest.raises(TrainingDiverged, match="at step 3"):
        train_partial(_NanAfter(bad_call=3), splits, FAST, NUM_CLASSES)


def test_num_threads_applied_per_call(splits: Splits) -> None:
    before = torch.get_num_threads()
    try:
        train_partial(
            _tiny_net(), splits, dataclasses.replace(FAST, max_steps=1, num_threads=1), NUM_CLASSES
        )
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_full_training_validates_checkpoints_and_decays_lr(splits: Splits, tmp_path: Path) -> None:
    cfg = FinalTrainingConfig(
        **dataclasses.asdict(FAST)
        | {"epochs": 2.0, "lr_schedule": "exponential", "lr_gamma": 0.5, "val_per_epoch": 3}
    )
    rows: list[dict] = []
    checkpoint = tmp_path / "ckpt" / "best.pt"
    model = _tiny_net()
    result = train_final(
        model,
        splits,
        cfg,
        NUM_CLASSES,
        checkpoint,
        rows.append,
        class_names=("background", "red", "blue"),
    )
    assert checkpoint.is_file()
    assert [row["step"] for row in rows] == [2, 4, 6, 8, 10, 12]
    assert [row["epoch"] for row in rows] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert [row["lr"] for row in rows] == [1e-2] * 3 + [5e-3] * 3
    assert {"train_loss", "val_loss", "val_miou", "val_iou_red"} <= rows[0].keys()
    assert rows == result.history
    best = min(rows, key=lambda row: row["val_loss"])
    assert result.best_step == best["step"] and result.val_loss == pytest.approx(best["val_loss"])
    reloaded = _tiny_net(seed=5)
    reloaded.load_state_dict(torch.load(checkpoint))
    test = score_split(reloaded, splits.test, NUM_CLASSES, 4, CPU)
    assert result.test_miou == test.miou and result.test_per_class_iou == test.per_class_iou
    assert result.steps == 12 and 0 < result.test_miou <= 1
