"""The partial training that scores a candidate and the final training of a chosen one."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from nas.config import FinalTrainingConfig, TrainingConfig
from nas.data.batches import iterate_batches, prefetch, to_device
from nas.evaluation.devices import autocast, select_device, setup_threads
from nas.evaluation.metrics import IGNORE_INDEX, SplitScore, score_split

LOSS_CHECK_EVERY = 20  # steps between host syncs that read (and check) the losses


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """Outcome of a partial training: validation quality and speed."""

    miou: float
    per_class_iou: list[float]
    val_loss: float
    train_loss: float
    steps: int
    train_seconds: float
    samples_per_second: float
    data_wait_seconds: float
    device: str


@dataclass
class FinalTrainResult:
    """Outcome of a final training, measured with the best checkpoint (lowest val loss)."""

    val_miou: float
    val_per_class_iou: list[float]
    val_loss: float
    test_miou: float
    test_per_class_iou: list[float]
    test_loss: float
    best_step: int
    steps: int
    train_seconds: float
    samples_per_second: float
    data_wait_seconds: float
    device: str
    history: list[dict[str, float]] = field(default_factory=list)


def plan_steps(cfg: TrainingConfig, num_samples: int) -> tuple[int, int]:
    """(total steps, steps per epoch): `epochs` may be fractional; `max_steps` > 0 caps it."""
    per_epoch = math.ceil(num_samples / cfg.batch_size)
    total = max(1, math.ceil(cfg.epochs * per_epoch))
    if cfg.max_steps > 0:
        total = min(total, cfg.max_steps)
    return total, per_epoch


def lr_factor(step: int, total: int, per_epoch: int, cfg: TrainingConfig) -> float:
    """Multiplier of `cfg.lr` for the 0-based `step` of `total`: a linear warm-up over the first
    `warmup_fraction` of the steps, then constant, `lr_gamma` per finished epoch (exponential),
    or a cosine decay to 0 at the last step."""
    warmup = int(round(cfg.warmup_fraction * total))
    if step < warmup:
        return (step + 1) / warmup
    if cfg.lr_schedule == "exponential":
        return cfg.lr_gamma ** (step // per_epoch)
    if cfg.lr_schedule == "cosine":
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


class _Trainer:
    """Adam + cross-entropy steps over the training split, with timing and loss checks."""

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainingConfig,
        device: torch.device,
        total: int,
        per_epoch: int,
    ) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.amp = cfg.amp and device.type == "cuda"
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, total, per_epoch, cfg)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.criterion = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
        self.losses: list[float] = []
        self._pending: list[Tensor] = []
        self.data_wait_seconds = 0.0
        self.hook_seconds = 0.0
        self.samples = 0

    def step(self, images: Tensor, labels: Tensor) -> None:
        images, labels = to_device(images, labels, self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            loss = self.criterion(self.model(images), labels)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._pending.append(loss.detach())
        self.samples += len(labels)

    def flush_losses(self) -> None:
        """Copy pending losses to the host; raise TrainingDiverged at the first non-finite one."""
        if not self._pending:
            return
        values = torch.stack(self._pending).float().cpu().tolist()
        self._pending.clear()
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                step = len(self.losses) + offset + 1
                raise TrainingDiverged(f"training loss is {value} at step {step}.")
        self.losses.extend(values)

    def run(self, split: Any, total: int, per_epoch: int, hook: Callable[[int], None]) -> float:
        """Train `total` steps; call `hook(step)` after each; return seconds excluding hooks."""
        self.model.train()
        bar = tqdm(total=total, unit="step", disable=not sys.stderr.isatty(), leave=False)
        batches = prefetch(iterate_batches(split, self.cfg.batch_size, self.device, self.cfg.seed))
        start = time.perf_counter()
        with closing(batches), bar:
            for step in range(1, total + 1):
                waited = time.perf_counter()
                _, images, labels = next(batches)
                self.data_wait_seconds += time.perf_counter() - waited
                self.step(images, labels)
                if step % LOSS_CHECK_EVERY == 0 or step % per_epoch == 0 or step == total:
                    self.flush_losses()
                    rate = self.samples / max(time.perf_counter() - start - self.hook_seconds, 1e-9)
                    bar.set_postfix(loss=f"{self.losses[-1]:.4f}", samples_s=f"{rate:.1f}")
                bar.update(1)
                hooked = time.perf_counter()
                hook(step)
                self.hook_seconds += time.perf_counter() - hooked
                self.scheduler.step()  # after the hook, which logs the lr this step used
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - start - self.hook_seconds


def _prepare(model: nn.Module, cfg: TrainingConfig) -> torch.device:
    """Threads, seed and device for one training call; moves `model` there."""
    setup_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    device = select_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick kernels
    model.to(device)
    return device


def train_partial(
    model: nn.Module, splits: Any, cfg: TrainingConfig, num_classes: int
) -> TrainResult:
    """Archai's candidate score: Adam, no augmentation, `epochs` (or `max_steps`), then val mIoU."""
    device = _prepare(model, cfg)
    total, per_epoch = plan_steps(cfg, len(splits.train.images))
    trainer = _Trainer(model, cfg, device, total, per_epoch)
    seconds = trainer.run(splits.train, total, per_epoch, hook=lambda step: None)
    val = score_split(model, splits.val, num_classes, cfg.batch_size, device, cfg.amp)
    final_epoch = trainer.losses[(total - 1) // per_epoch * per_epoch :]
    return TrainResult(
        miou=val.miou,
        per_class_iou=val.per_class_iou,
        val_loss=val.loss,
        train_loss=float(np.mean(final_epoch)),
        steps=total,
        train_seconds=seconds,
        samples_per_second=trainer.samples / seconds,
        data_wait_seconds=trainer.data_wait_seconds,
        device=str(device),
    )


def validation_steps(total: int, per_epoch: int, val_per_epoch: int) -> set[int]:
    """Global steps after which to validate: `val_per_epoch` evenly spaced per epoch (or each
    epoch's end when 0), and always the last step."""
    count = max(val_per_epoch, 1)
    points = {round(per_epoch * (k + 1) / count) for k in range(count)}
    steps = {e * per_epoch + p for e in range(math.ceil(total / per_epoch)) for p in points}
    return {s for s in steps if 0 < s <= total} | {total}


def _metrics_row(
    step: int,
    per_epoch: int,
    lr: float,
    train_loss: float,
    val: SplitScore,
    class_names: Sequence[str] | None,
) -> dict[str, float]:
    row = {
        "step": step,
        "epoch": step / per_epoch,
        "lr": lr,
        "train_loss": train_loss,
        "val_loss": val.loss,
        "val_miou": val.miou,
    }
    for index, iou in enumerate(val.per_class_iou):
        name = class_names[index] if class_names else str(index)
        row[f"val_iou_{name}"] = iou
    return row


def train_final(
    model: nn.Module,
    splits: Any,
    cfg: FinalTrainingConfig,
    num_classes: int,
    checkpoint_path: Path,
    on_validation: Callable[[dict[str, float]], None] | None = None,
    class_names: Sequence[str] | None = None,
) -> FinalTrainResult:
    """Archai's final recipe: Adam + per-epoch exponential decay (`lr_schedule`), `val_per_epoch`
    validations per epoch, best state_dict by val loss saved to `checkpoint_path`, then val and
    test scores."""
    device = _prepare(model, cfg)
    total, per_epoch = plan_steps(cfg, len(splits.train.images))
    trainer = _Trainer(model, cfg, device, total, per_epoch)
    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    at = validation_steps(total, per_epoch, cfg.val_per_epoch)
    history: list[dict[str, float]] = []
    best = {"loss": math.inf, "step": 0}

    def hook(step: int) -> None:
        if step in at:
            trainer.flush_losses()
            since = history[-1]["step"] if history else 0
            val = score_split(model, splits.val, num_classes, cfg.batch_size, device, cfg.amp)
            lr = trainer.optimizer.param_groups[0]["lr"]
            row = _metrics_row(
                step, per_epoch, lr, float(np.mean(trainer.losses[int(since) :])), val, class_names
            )
            history.append(row)
            if val.loss < best["loss"] or best["step"] == 0:
                best.update(loss=val.loss, step=step)
                torch.save(model.state_dict(), checkpoint_path)
            if on_validation is not None:
                on_validation(dict(row))

    seconds = trainer.run(splits.train, total, per_epoch, hook)
    model.load_state_dict(torch.load(checkpoint_path, map_location=device, weights_only=True))
    val = score_split(model, splits.val, num_classes, cfg.batch_size, device, cfg.amp)
    test = score_split(model, splits.test, num_classes, cfg.batch_size, device, cfg.amp)
    return FinalTrainResult(
        val_miou=val.miou,
        val_per_class_iou=val.per_class_iou,
        val_loss=val.loss,
        test_miou=test.miou,
        test_per_class_iou=test.per_class_iou,
        test_loss=test.loss,
        best_step=int(best["step"]),
        steps=total,
        train_seconds=seconds,
        samples_per_second=trainer.samples / seconds,
        data_wait_seconds=trainer.data_wait_seconds,
        device=str(device),
        history=history,
    )


def final_metrics(result: FinalTrainResult, class_names: Sequence[str]) -> dict[str, float]:
    """A final training's metrics as its run logs them: scores of the best checkpoint on the
    validation and test splits (per class too), its step, and the training's speed."""
    metrics = {
        "val_miou": result.val_miou,
        "val_loss": result.val_loss,
        "test_miou": result.test_miou,
        "test_loss": result.test_loss,
        "best_step": result.best_step,
        "train_seconds": result.train_seconds,
        "train_samples_per_second": result.samples_per_second,
        "data_wait_seconds": result.data_wait_seconds,
    }
    for split, values in (("val", result.val_per_class_iou), ("test", result.test_per_class_iou)):
        metrics.update({f"{split}_iou_{n}": v for n, v in zip(class_names, values, strict=False)})
    return metrics
