"""Confusion-matrix mIoU on hand-made masks with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.evaluation.metrics import IOU_EPS, confusion_matrix, iou_from_confusion

# Left half class 0, right half class 1.
TARGET = torch.tensor([[0, 0, 1, 1]] * 4)
# Prediction moves the boundary one column left: 4 class-0 pixels become class 1.
PRED = torch.tensor([[0, 1, 1, 1]] * 4)


def _iou(tp: float, fp: float, fn: float) -> float:
    return (tp + IOU_EPS) / (tp + fp + fn + IOU_EPS)


def test_confusion_matrix_counts_rows_as_target() -> None:
    cm = confusion_matrix(PRED, TARGET, num_classes=2)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[4, 4], [0, 8]]


def test_perfect_prediction_scores_one() -> None:
    miou, per_class = iou_from_confusion(confusion_matrix(TARGET, TARGET, 2))
    assert miou == 1.0
    assert per_class.tolist() == [1.0, 1.0]


def test_partial_overlap_has_exact_iou() -> None:
    miou, per_class = iou_from_confusion(confusion_matrix(PRED, TARGET, 2))
    # class 0: TP 4, FP 0, FN 4 -> 1/2; class 1: TP 8, FP 4, FN 0 -> 2/3
    assert per_class[0] == pytest.approx(_iou(4, 0, 4), abs=1e-12)
    assert per_class[1] == pytest.approx(_iou(8, 4, 0), abs=1e-12)
    assert miou == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-7)


def test_ignored_pixels_do_not_count() -> None:
    target = TARGET.clone()
    target[:, 1] = 255  # hide exactly the wrongly predicted column
    cm = confusion_matrix(PRED, target, 2)
    assert cm.tolist() == [[4, 0], [0, 8]]
    assert iou_from_confusion(cm)[0] == 1.0


def test_absent_class_counts_as_one() -> None:
    # Class 2 is neither predicted nor present: IoU 1.0, and it raises the mean.
    miou, per_class = iou_from_confusion(confusion_matrix(PRED, TARGET, 3))
    assert per_class[2] == 1.0
    assert miou == pytest.approx((_iou(4, 0, 4) + _iou(8, 4, 0) + 1.0) / 3, abs=1e-12)


def test_class_only_predicted_scores_zero() -> None:
    pred = PRED.clone()
    pred[0, 0] = 2  # one false positive of a class absent from the target
    _, per_class = iou_from_confusion(confusion_matrix(pred, TARGET, 3))
    assert per_class[2] == pytest.approx(_iou(0, 1, 0), abs=1e-12)
    assert per_class[2] < 1e-6


def test_batches_sum_to_one_matrix() -> None:
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.integers(0, 4, size=(6, 8, 8)))
    pred = torch.from_numpy(rng.integers(0, 4, size=(6, 8, 8)))
    target[0, :2] = 255
    whole = confusion_matrix(pred, target, 4)
    parts = sum(confusion_matrix(pred[i : i + 2], target[i : i + 2], 4) for i in range(0, 6, 2))
    assert torch.equal(whole, parts)
    assert int(whole.sum()) == 6 * 64 - 16
    # One matrix over the split is not the mean of per-image mIoUs.
    per_image = np.mean(
        [iou_from_confusion(confusion_matrix(pred[i], target[i], 4))[0] for i in range(6)]
    )
    assert iou_from_confusion(whole)[0] != pytest.approx(per_image, abs=1e-6)


def test_accepts_numpy_matrix() -> None:
    miou, per_class = iou_from_confusion(np.array([[4, 4], [0, 8]]))
    assert per_class.tolist() == pytest.approx([0.5, 2 / 3], abs=1e-7)
    assert isinstance(miou, float)


def test_out_of_range_label_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside 0..1"):
        confusion_matrix(PRED, torch.full_like(TARGET, 7), 2)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(PRED[:2], TARGET, 2)


def test_majority_baseline_miou() -> None:
    from nas.evaluation.metrics import majority_baseline_miou

    labels = np.array([[0, 0, 0, 1], [0, 0, 2, 255]], dtype=np.uint8)
    # class 0 everywhere: IoU_0 = 5/7, IoU_1 = IoU_2 = 0, class 3 absent from both = 1
    assert abs(majority_baseline_miou(labels, 4) - (5 / 7 + 0 + 0 + 1) / 4) < 1e-6
