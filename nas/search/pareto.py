"""Pareto front of (mIoU up, latency down), its hypervolume, and the knee point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Scored(Protocol):
    val_miou: float
    latency_ms: float


S = TypeVar("S", bound=Scored)


def dominates(a: Scored, b: Scored) -> bool:
    """a is at least as good in both objectives and better in one."""
    no_worse = a.val_miou >= b.val_miou and a.latency_ms <= b.latency_ms
    return no_worse and (a.val_miou > b.val_miou or a.latency_ms < b.latency_ms)


def pareto_front(points: Sequence[S]) -> list[S]:
    """The non-dominated points, sorted by latency; of equal points the first is kept."""
    front: list[S] = []
    for p in points:
        if any(dominates(q, p) for q in points):
            continue
        if any(q.val_miou == p.val_miou and q.latency_ms == p.latency_ms for q in front):
            continue
        front.append(p)
    return sorted(front, key=lambda p: (p.latency_ms, -p.val_miou))


def hypervolume(points: Sequence[Scored], ref_latency_ms: float, ref_miou: float) -> float:
    """Area dominated by the points and bounded by the reference point (latency, mIoU):
    ms x mIoU. Points beyond the reference contribute nothing."""
    inside = [
        p for p in pareto_front(points) if p.latency_ms < ref_latency_ms and p.val_miou > ref_miou
    ]
    area = 0.0
    for i, p in enumerate(inside):  # sorted by latency, so mIoU rises along the front
        right = inside[i + 1].latency_ms if i + 1 < len(inside) else ref_latency_ms
        area += (right - p.latency_ms) * (p.val_miou - ref_miou)
    return area


def knee(front: Sequence[S]) -> S:
    """The front point farthest from the line joining its two ends, both axes scaled to [0, 1]."""
    if len(front) <= 2:
        return max(front, key=lambda p: p.val_miou / max(p.latency_ms, 1e-9))
    lat = [p.latency_ms for p in front]
    iou = [p.val_miou for p in front]
    span_lat, span_iou = (max(lat) - min(lat)) or 1.0, (max(iou) - min(iou)) or 1.0
    xs = [(v - min(lat)) / span_lat for v in lat]
    ys = [(v - min(iou)) / span_iou for v in iou]
    (x0, y0), (x1, y1) = (xs[0], ys[0]), (xs[-1], ys[-1])
    norm = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 or 1.0
    distance = [
        abs((y1 - y0) * x - (x1 - x0) * y + x1 * y0 - y1 * x0) / norm
        for x, y in zip(xs, ys, strict=True)
    ]
    return front[max(range(len(front)), key=distance.__getitem__)]
