"""Segmentation quality from one confusion matrix: per-class IoU and Archai's mIoU, and a
model's loss and IoU on a whole split."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nas.data.batches import iterate_batches, prefetch, to_device
from nas.evaluation.devices import autocast

IGNORE_INDEX = 255
IOU_EPS = 1e-7


def confusion_matrix(
    pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """Count (target, prediction) pairs over all pixels whose target is not `ignore_index`.

    `pred` and `target` hold class indices of any equal shape, e.g. (B, H, W). Returns a
    (num_classes, num_classes) int64 tensor on their device: rows are targets, columns
    predictions. Matrices of several batches add up to the matrix of their union.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}.")
    target = target.reshape(-1).long()
    pred = pred.reshape(-1).long()
    valid = target != ignore_index
    target, pred = target[valid], pred[valid]
    both = torch.cat([target, pred])
    if bool(((both < 0) | (both >= num_classes)).any()):
        raise ValueError(
            f"labels or predictions outside 0..{num_classes - 1} (other than {ignore_index})."
        )
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_from_confusion(cm: Tensor | np.ndarray) -> tuple[float, np.ndarray]:
    """Return (mIoU, per-class IoU) from a confusion matrix with rows = targets.

    Per class: IoU = (TP + eps) / (TP + FP + FN + eps) with eps = 1e-7, and the mIoU is the
    mean over ALL classes of the model, background included, as Archai computed it.
    Absent-class rule: a class that appears neither in the targets nor in the predictions
    has TP = FP = FN = 0 and so scores eps / eps = 1.0, which raises the mean; a class that
    is only predicted (or only in the targets) scores about 0.
    """
    counts = cm.detach().cpu().numpy() if isinstance(cm, Tensor) else np.asarray(cm)
    counts = counts.astype(np.float64)
    tp = np.diag(counts)
    fp = counts.sum(axis=0) - tp
    fn = counts.sum(axis=1) - tp
    per_class = (tp + IOU_EPS) / (tp + fp + fn + IOU_EPS)
    return float(per_class.mean()), per_class


def majority_baseline_miou(labels: np.ndarray, num_classes: int) -> float:
    """mIoU of predicting the split's most frequent class everywhere: the floor a trained
    model must clearly beat. `labels` holds class indices (255 ignored), any shape."""
    counts = np.bincount(labels.reshape(-1), minlength=256)[:num_classes].astype(np.int64)
    cm = np.zeros((num_classes, num_classes), np.int64)
    cm[:, int(counts.argmax())] = counts
    return iou_from_confusion(cm)[0]


@dataclass
class SplitScore:
    """Quality of a model on one split; IoU from one confusion matrix over the split."""

    loss: float
    miou: float
    per_class_iou: list[float]
    confusion: np.ndarray


@torch.no_grad()
def score_split(
    model: nn.Module,
    split: Any,
    num_classes: int,
    batch_size: int,
    device: torch.device,
    amp: bool = False,
) -> SplitScore:
    """Mean cross-entropy over valid pixels and mIoU of one confusion matrix over `split`."""
    was_training = model.training
    model.eval()
    use_amp = amp and device.type == "cuda"
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    batches = prefetch(iterate_batches(split, batch_size, device, seed=None))
    with closing(batches):
        for _, images, labels in batches:
            images, labels = to_device(images, labels, device)
            with autocast(device, use_amp):
                logits = model(images)
            loss_sum += nn.functional.cross_entropy(
                logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum"
            )
            cm += confusion_matrix(logits.argmax(dim=1), labels, num_classes)
    model.train(was_training)
    valid = int(cm.sum())
    miou, per_class = iou_from_confusion(cm)
    loss = float(loss_sum) / valid if valid else float("nan")
    return SplitScore(loss, miou, per_class.tolist(), cm.cpu().numpy())
